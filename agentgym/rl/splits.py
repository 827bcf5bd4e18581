"""Train/test split of a task, so training data and held-out evaluation never mix.

Why here and duck-typed: the core never imports a domain, and each domain exposes its split its
own way. In order:
1. ``env.split_of(task_id)`` when the env defines it (the override for any domain);
2. a task object with a ``split`` field (the web env splits by template: held-out templates are
   new kinds of work), through ``env.task(task_id)``;
3. otherwise a stable hash of the task's template key, test for about 1 key in 5. The template key
   is what tasks of one kind share: the repository of a SWE instance (``repo__synth-N`` ->
   ``repo``), else the task id itself. The hash depends on the env family and the key only, so a
   task has the same split in an env and in its ``-lite`` subset, on every machine.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any, Literal

SplitName = Literal["train", "test"]
SPLITS: tuple[SplitName, ...] = ("train", "test")
TEST_FRACTION_IN = 5  # 1 template key in 5 is held out
_SALT = "agentgym-split-v1"


def template_key(env: Any, task_id: str) -> str:
    inst = getattr(env, "instances", None)
    if isinstance(inst, dict) and task_id in inst and "__" in task_id:
        return task_id.split("__", 1)[0]
    return task_id


def family(env_id: str) -> str:
    """'swe-synth-lite' -> 'swe-synth': an env and its lite subset share splits."""
    return env_id[: -len("-lite")] if env_id.endswith("-lite") else env_id


def hashed_split(env_id: str, key: str) -> SplitName:
    digest = hashlib.sha256(f"{_SALT}\0{family(env_id)}\0{key}".encode()).digest()
    return "test" if int.from_bytes(digest[:8], "big") % TEST_FRACTION_IN == 0 else "train"


def split_of(env: Any, task_id: str) -> SplitName:
    """The split of ``task_id`` in ``env`` (an AgentEnv, unwrapped or not)."""
    env = getattr(env, "unwrapped", env)
    own = getattr(env, "split_of", None)
    if callable(own):
        return own(task_id)
    task = getattr(env, "task", None)
    if callable(task):
        try:
            split = getattr(task(task_id), "split", None)
        except (KeyError, TypeError, ValueError):
            split = None
        if split in SPLITS:
            return split
    env_id = getattr(env, "env_id", "") or type(env).__name__
    return hashed_split(env_id, template_key(env, task_id))


def task_of_split(env: Any, split: str, seed: int | None, cache: dict[str, list[str]] | None = None) -> str:
    """A task of ``split`` in ``env``, chosen by ``seed``: for a dataset row that names no task
    (the env's own random pick ranges over every task, held-out ones included). ``cache``: a dict
    the caller keeps per env, so the split's tasks are listed once, not at every reset.

    Raises:
        ValueError: the env has no task in ``split``.
    """
    base = getattr(env, "unwrapped", env)
    pool = cache.get(split) if cache is not None else None
    if pool is None:
        pool = [t for t in base.task_ids() if split_of(base, t) == split]
        if cache is not None:
            cache[split] = pool
    if not pool:
        raise ValueError(f"{getattr(base, 'env_id', '') or type(base).__name__} has no task in split {split!r}; name a task_id")
    return pool[random.Random(seed).randrange(len(pool))]


def check_split(split: str | None) -> SplitName | None:
    """A user's --split: None, 'train' or 'test'; anything else is one clear error."""
    if split is None or split in SPLITS:
        return split  # type: ignore[return-value]
    raise ValueError(f"unknown split {split!r}; use 'train' or 'test'")


__all__ = ["SPLITS", "check_split", "family", "hashed_split", "split_of", "task_of_split", "template_key"]
