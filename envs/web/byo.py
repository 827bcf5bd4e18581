"""Bring-your-own pages: the hooks that let a web env run pages nobody here wrote, unedited.

A third-party suite (MiniWoB++, a user's own app) cannot be edited page by page (MiniWoB++ has
130 files), its problems are random, and its instruction is written by the page. So a site may
carry an init script (SiteSpec.init_script) that the env runs in every document of that site
before the page's own scripts; it sees the episode's seed, so reset(seed=...) reaches even a
static page. A task may read its instruction from the start page (WebTask.intent_from_page) and
name a reference policy that reads the live page (WebTask.oracle_policy), where fixed oracle steps
cannot solve a random problem. envs/web/miniwob.py uses only these hooks.
"""

from __future__ import annotations

import importlib
import json
import re
from typing import Any

from agentgym.env import InfraError

MAX_INTENT = 4000  # characters of an instruction read from a page
SEED_RANGE = 2**31 - 1


def episode_seed(seed: int | None, rng: Any) -> int:
    """reset's seed when given (reduced to a JavaScript-safe integer), else one from the env's generator."""
    if seed is not None:
        return int(seed) % SEED_RANGE
    return int(rng.integers(SEED_RANGE))


def wrap_init_script(source: str, origin: str, seed: int) -> str:
    """A site's init script, run only in documents of that site's origin, with `seed` in scope.
    A throwing script must not stop the page's own scripts: its error goes to the console."""
    return (f"if (location.origin === {json.dumps(origin)}) {{ try {{ (function (seed) {{\n{source}\n}})({int(seed)}); }} "
            "catch (e) { console.error('agentgym init script:', e); } }")


def instruction(value: Any) -> str:
    """The page's instruction as text: a string, or an object's 'utterance' (MiniWoB's getUtterance)."""
    if isinstance(value, dict):
        value = value.get("utterance", "")
    if value is None:
        return ""
    return re.sub(r"\s+", " ", str(value)).strip()[:MAX_INTENT]


def read_instruction(call: Any, expression: str) -> str:
    """Evaluate the task's intent_from_page expression on the start page (call runs a coroutine
    factory on the browser loop). Before the agent's first move: a failure is the page's, not the agent's."""
    try:
        return instruction(call(expression))
    except Exception as exc:  # noqa: BLE001 - the page's script threw, or it did not answer
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise InfraError(f"the task's instruction could not be read from its start page ({expression!r}): {first}") from None


def load_policy(path: str, env: Any, task: Any) -> Any:
    """The reference policy named 'module:function' (function(env, task) -> policy)."""
    module, _, attr = path.partition(":")
    if not module or not attr:
        raise ValueError(f"oracle_policy {path!r}: use 'module:function'")
    try:
        factory = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"oracle_policy {path!r} cannot be loaded: {exc}") from None
    return factory(env, task)
