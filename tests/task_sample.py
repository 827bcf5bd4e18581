"""A seeded, stable sample of an env's tasks that still covers every task family and template.

Why: validating every task of every id on both runtimes took a third of `make test` (sql-a alone
is 166 tasks). Most of a suite is the same template on other data, so the tests validate each
(id, runtime) on a small cover instead, and `agentgym validate ID` checks all of them.

How a sample is chosen: each task has a few keys (below, per domain, read from its id or its
instance). Tasks are put in an order shuffled by random.Random(f"{env_id}/{runtime}#{t}") and
picked greedily: the task covering most not-yet-covered key values first, ties in the shuffled
order, until every value of every key is covered; of 16 such covers (t = 0..15) the smallest.
So each (id, runtime) sees every family/template of its id, the two runtimes (and the ids that
share templates) see different instances of them, and the same tree always gives the same sample.

Keys: SQL `db.template.variant` -> template and database; SWE synth -> project and mutation kind;
time series `fc-synth-d-h7` -> family (`fc`) and template (`fc-synth`); web `shop_price-0` ->
template (`shop_price`) in a one-site id (web-shop, ...), site (`shop`) in an id over all sites
(web, web-lite): the one-site ids already cover every template on each runtime, and each web id
costs ~10 s to start its sites, then ~1.3 s a task; anything else: the task itself (all tasks),
except in an id tagged "heavy" (web-miniwob: 86 tasks, each its own page), which gets a seeded
draw of 4 per (id, runtime).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any


def task_keys(env_id: str, task_id: str, env: Any = None, one_site: bool = False) -> tuple[tuple[str, str], ...]:
    """(key, value) pairs a sample must cover for this task (one_site: a web id of one site)."""
    if env_id.startswith("sql-") and task_id.count(".") >= 2:
        db, template, _ = task_id.split(".", 2)
        return (("template", template), ("db", db))
    if env_id.startswith("swe-") and "__" in task_id:
        inst = getattr(env, "instances", {}).get(task_id)
        kind = (getattr(inst, "mutation", None) or {}).get("kind", task_id)
        return (("project", task_id.split("__")[0]), ("mutation", kind))
    if env_id.startswith("ts-") and task_id.count("-") >= 2:
        parts = task_id.split("-")
        return (("family", parts[0]), ("template", "-".join(parts[:2])))
    if env_id.startswith("web") and "_" in task_id:
        return (("template", task_id.rsplit("-", 1)[0]),) if one_site else (("site", task_id.split("_", 1)[0]),)
    return (("task", task_id),)


def _greedy_cover(ids: Sequence[str], keys: Callable[[str], Sequence[tuple[str, str]]], seed: str) -> list[str]:
    order = list(ids)
    random.Random(seed).shuffle(order)
    wanted = {kv for i in order for kv in keys(i)}
    picked: list[str] = []
    while wanted:
        best = max(order, key=lambda i: len(wanted.intersection(keys(i))))  # first of the best: shuffled order
        picked.append(best)
        wanted.difference_update(keys(best))
    return picked


def cover_sample(ids: Sequence[str], keys: Callable[[str], Sequence[tuple[str, str]]], seed: str,
                 tries: int = 16) -> list[str]:
    """The smallest of `tries` seeded greedy covers of every key value, in the order of `ids`."""
    chosen = set(min((_greedy_cover(ids, keys, f"{seed}#{t}") for t in range(tries)), key=len))
    return [i for i in ids if i in chosen]


#: Tasks drawn for a heavy id whose tasks share no family or template (MiniWoB: each task its own page).
LONE_SAMPLE = 4


def family_sample(env: Any, env_id: str, runtime: str, heavy: bool = False) -> list[str]:
    """The cover of env's tasks for (env_id, runtime); for a heavy id without families, a seeded
    draw of LONE_SAMPLE tasks (a cover would be every task)."""
    ids = list(env.task_ids())
    one_site = len({t.split("_", 1)[0] for t in ids}) == 1
    keys = lambda t: task_keys(env_id, t, env, one_site)  # noqa: E731
    seed = f"{env_id}/{runtime}"
    if heavy and len(ids) > LONE_SAMPLE and all(k == "task" for t in ids for k, _ in keys(t)):
        drawn = set(random.Random(seed).sample(ids, LONE_SAMPLE))
        return [t for t in ids if t in drawn]
    return cover_sample(ids, keys, seed)
