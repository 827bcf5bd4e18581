"""The images web and SQL envs declare for Ray's per-node image preparation
(agentgym.distributed.images.declared_images): what their docker-runtime episodes start, none on
the local runtime. Constructing these envs starts nothing, so every registered id is checked."""

from __future__ import annotations

import pytest

import agentgym
from agentgym.distributed.images import declared_images
from agentgym.envs.sql.engines.pg_container import IMAGE
from agentgym.envs.web.browser_container import BROWSER_IMAGE
from agentgym.envs.web.hosting import SITES_IMAGE
from agentgym.registry import list_envs

SITES, BROWSER, PG = SITES_IMAGE, BROWSER_IMAGE, IMAGE  # the modules' own (IMAGE reads AGENTGYM_PG_IMAGE)
IDS = [i for i in list_envs() if i.startswith(("web", "sql"))]


def _images(env_id: str, runtime: str, **kwargs) -> list[str]:
    with agentgym.make(env_id, runtime=runtime, **kwargs) as env:
        return declared_images(env)


@pytest.mark.parametrize("runtime", ["docker", "local"])
def test_every_web_and_sql_id_declares_the_images_its_episodes_start(runtime):
    assert {"web", "web-lite", "web-miniwob", "sql-a", "sql-c-lite"} <= set(IDS)
    for env_id in IDS:
        want = [] if runtime == "local" else [SITES] if env_id.startswith("web") else [PG]
        assert _images(env_id, runtime) == want, env_id


def test_options_that_change_the_images_change_the_declaration():
    assert _images("web-lite", "docker", browser="container") == [SITES, BROWSER]
    assert _images("sql-c-lite", "docker", engine_options={"image": "example.org/pg:15"}) == ["example.org/pg:15"]
