"""Images on new nodes (agentgym.distributed.images): a node makes the images an env's
docker-runtime episodes need before the first one runs, once per node (per-image lock, checked
again inside it), pulling `REGISTRY/<ref>` when the user names a registry (a fake registry here:
none is reachable; it records the call) and building from images/ otherwise (for real, on a
one-node Ray cluster, with a throwaway FROM-scratch image in a temp images/ folder).

Every image here is made by this module under names of its own (agentgym-y2test-<uid>/...,
agentgym/y2probe<uid>) and removed at the end; no image other tests use is touched."""

from __future__ import annotations

import io
import tarfile
import threading
import time
import uuid

import pytest
import yaml
from typer.testing import CliRunner

from conftest import IN_CI

from agentgym.distributed.images import NodeImages, check_registry, declared_images, ensure_node_images
from agentgym.images import ImageNotFoundError
from agentgym.images.core import client, get_image, tag_image

UID = uuid.uuid4().hex[:8]
NS = f"agentgym-y2test-{UID}"
PROBE = f"y2probe{UID}"


def _tar(files: dict[str, bytes]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, body in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    buf.seek(0)
    return buf


@pytest.fixture(scope="module")
def scratch():
    """A one-file FROM-scratch image (its id), and removal of every image this module made."""
    ctx = _tar({"Dockerfile": b"FROM scratch\nCOPY hello /hello\n", "hello": UID.encode()})
    image, _ = client().images.build(fileobj=ctx, custom_context=True, tag=f"{NS}/seed:1", rm=True)
    try:
        yield image.id
    finally:
        for img in client().images.list():
            for tag in img.tags:
                if tag.startswith((f"{NS}/", f"agentgym/{PROBE}:")):
                    client().images.remove(tag, force=True)


def test_registry_and_declared_images_inputs():
    assert check_registry("reg.example.com:5000/team/") == "reg.example.com:5000/team"
    assert check_registry(None) is None
    with pytest.raises(ValueError, match="without a scheme") as err:
        check_registry("http://reg.example.com")
    assert "\n" not in str(err.value)

    class Shell:  # the shell env's shape: a sandbox template naming its image
        spec_template = type("Spec", (), {"image": "agentgym/base:latest"})()

    assert declared_images(Shell()) == ["agentgym/base:latest"]
    assert declared_images(object()) == []
    local = type("Local", (), {"runtime": "local", "env_id": "x", "required_images": lambda self: ["never/made:1"]})()
    assert NodeImages(images={"x": ["never/made:2"]})(local) == {}  # the local runtime needs no images


@pytest.mark.docker
def test_a_named_registry_is_pulled_once_by_concurrent_workers(scratch):
    ref, calls = f"{NS}/app:1", []

    def fake_pull(remote: str) -> bool:  # what `docker pull` would leave: the remote ref, here
        calls.append(remote)
        time.sleep(0.2)  # a slow pull: the other workers must wait on the lock, not pull again
        tag_image(scratch, remote)
        return True

    got: list[dict[str, str]] = []
    workers = [threading.Thread(target=lambda: got.append(ensure_node_images([ref], registry="reg.example:5000/team/",
                                                                             puller=fake_pull))) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert calls == [f"reg.example:5000/team/{ref}"]
    assert sorted(g[ref] for g in got) == ["present", "present", "present", "pulled"]
    assert get_image(ref).id == scratch
    assert ensure_node_images([ref], registry="reg.example:5000/team", puller=fake_pull) == {ref: "present"}
    assert len(calls) == 1


@pytest.mark.docker
def test_an_image_the_registry_lacks_and_no_node_can_build_is_one_line(scratch):
    ref, calls = f"{NS}/missing:1", []
    with pytest.raises(ImageNotFoundError) as err:
        ensure_node_images([ref], registry="reg.example:5000", puller=lambda r: calls.append(r) or False)
    assert calls == [f"reg.example:5000/{ref}"]
    msg = str(err.value)
    assert "\n" not in msg and f"docker push reg.example:5000/{ref}" in msg
    assert get_image(ref) is None


def test_cli_image_registry_bad_input_is_one_line_exit_2(tmp_path):
    from agentgym.cli import app

    cfg = tmp_path / "s.yaml"
    cfg.write_text(yaml.safe_dump({"name": "r", "envs": [{"id": "shell-fixture", "max_tasks": 1}], "agents": ["oracle"]}))
    for args, said in ((["--executor", "ray", "--image-registry", "http://reg:5000"], "without a scheme"),
                       (["--image-registry", "reg:5000"], "--image-registry is for the Ray executor; add `--executor ray`")):
        res = CliRunner().invoke(app, ["sweep", str(cfg), *args, "--out", str(tmp_path / "run"), "-q"])
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert res.exit_code == 2 and len(lines) == 1 and said in lines[0], res.output
    assert not (tmp_path / "run").exists()


@pytest.mark.docker
def test_a_node_builds_a_missing_image_once_before_its_episodes(scratch, tmp_path):
    if IN_CI:
        import ray  # `make install` installs agentgym[ray]: under CI a missing Ray is a failure
    else:
        ray = pytest.importorskip("ray", reason="the Ray executor needs agentgym[ray]")
    import ray_image_env

    from agentgym.actions import ToolCall
    from agentgym.distributed import RayExecutor
    from agentgym.images import content_hash
    from agentgym.parallel import rollout_specs
    from agentgym.policy import ScriptedPolicy
    from ray_cluster import Cluster

    images = tmp_path / "images"
    (images / PROBE).mkdir(parents=True)
    (images / PROBE / "Dockerfile").write_text("FROM scratch\nCOPY hello /hello\n")
    (images / PROBE / "hello").write_text(UID)
    ref = f"agentgym/{PROBE}:latest"
    assert get_image(ref) is None
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AGENTGYM_IMAGES_DIR", str(images))
        hash_tag = f"agentgym/{PROBE}:{content_hash(PROBE)}"
    # shipped by value; the node imported ray_image_env first (imports=), so it is in its sys.modules
    make_env = lambda env_id: __import__("ray_image_env").ImageProbeEnv(image=ref)  # noqa: E731
    policy = lambda env, spec: ScriptedPolicy([ToolCall(name="submit", arguments={})])  # noqa: E731
    specs = rollout_specs("image-probe", ["a", "b"], k=2, base_seed=0)
    since = int(time.time()) - 1
    c = Cluster()  # one node (the head, 2 CPUs): two workers of it play at once
    try:
        c.start_head(num_cpus=2)
        ray.init(address=c.address, runtime_env={"env_vars": {"AGENTGYM_IMAGES_DIR": str(images)}},
                 log_to_driver=False, logging_level="ERROR")
        out = RayExecutor(c.address, imports=[ray_image_env.__file__]).run_rollouts(specs, make_env, policy, max_concurrency=4)
    finally:
        ray.shutdown()
        assert not c.stop(), "Ray processes outlived the test"
    assert [r.trajectory.first_observation for r in out] == [f"{ref} present at reset: True"] * 4, \
        [r.trajectory.error or r.trajectory.first_observation for r in out]
    assert all(r.trajectory.passed for r in out)
    events = client().events(since=since, until=int(time.time()) + 1, filters={"type": "image", "event": "tag"}, decode=True)
    tags = [e["Actor"]["Attributes"].get("name") for e in events if PROBE in e["Actor"]["Attributes"].get("name", "")]
    assert sorted(tags) == sorted([hash_tag, ref]), f"the node made the image more than once (or not at all): {tags}"
