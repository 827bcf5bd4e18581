"""Beam search over env.fork() (design.md section 5: test-time search as an option next to
best-of-n selection).

    result = beam_search(env, propose, score, width=4, depth=6)

``env`` is a started AgentEnv (reset() was called); it is the root and is never stepped or
closed here. ``propose(obs, info) -> list[action]`` gives the candidate actions of a node;
``score(env, obs, reward, info) -> float`` ranks a node after its action ran (``env`` is the
node's own fork, ``reward`` the trajectory's total reward so far, so a terminal reward counts;
a verifier or a value model goes here). Each expansion forks the parent's env and steps one
candidate in the fork. Terminated or truncated children are finished trajectories: they are
recorded and closed, and take no beam slot. The others compete for the ``width`` slots of the
next depth (higher score first; ties keep proposal order); every node that is dropped, and
every expanded parent, is closed at once, so at most ``width`` x candidates forks are open.
The result is the finished trajectory with the best score (ties: higher reward, then the one
found first); with none finished, the best open node of the last depth (``terminal=False``).

width=1 is greedy: follow the best-scoring unfinished child, keep the best finished one seen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from agentgym.env import AgentEnv

Proposer = Callable[[dict[str, Any], dict[str, Any]], Sequence[Any]]
Scorer = Callable[[AgentEnv, dict[str, Any], float, dict[str, Any]], float]


class SearchStats(BaseModel):
    expansions: int = Field(0, description="children stepped (one fork each)")
    forks: int = Field(0, description="env.fork() calls")
    closed: int = Field(0, description="forks closed; equals forks when the search returns")
    depth: int = Field(0, description="depths expanded")
    finished: int = Field(0, description="terminated or truncated children seen")
    budget_exhausted: bool = Field(False, description="max_expansions stopped the search early")


class SearchResult(BaseModel):
    actions: list[Any] = Field(default_factory=list, description="the actions from the root, in order")
    reward: float = 0.0
    score: float | None = None
    terminal: bool = Field(False, description="False: nothing finished; this is the best open node")
    truncated: bool = False
    observation: dict[str, Any] = Field(default_factory=dict)
    info: dict[str, Any] = Field(default_factory=dict)
    stats: SearchStats = Field(default_factory=SearchStats)


@dataclass
class _Node:
    env: AgentEnv
    obs: dict[str, Any]
    info: dict[str, Any]
    actions: list[Any] = field(default_factory=list)
    reward: float = 0.0
    score: float = float("-inf")
    done: bool = False
    truncated: bool = False
    order: int = 0


def _rank(n: _Node) -> tuple[float, float, int]:
    return (-n.score, -n.reward, n.order)


def beam_search(
    env: AgentEnv,
    propose: Proposer,
    score: Scorer,
    *,
    width: int,
    depth: int,
    max_expansions: int | None = None,
    obs: dict[str, Any] | None = None,
    info: dict[str, Any] | None = None,
) -> SearchResult:
    """Beam search from `env`'s current state; see the module docstring. `obs`/`info` are the
    root's observation and info (default: the env's last observation text and its task id)."""
    if width < 1 or depth < 1:
        raise ValueError(f"beam_search needs width >= 1 and depth >= 1, got width={width}, depth={depth}")
    if max_expansions is not None and max_expansions < 0:
        raise ValueError(f"max_expansions must be >= 0 or None, got {max_expansions}")
    if not getattr(env, "_started", False):
        raise ValueError("beam_search needs a started env; call env.reset() first")
    stats = SearchStats()
    root = _Node(env, obs if obs is not None else {"text": env._last_text},
                 info if info is not None else {"task_id": env.task_id}, score=0.0)
    owned: list[AgentEnv] = []  # every fork still open; closed on the way out whatever happens

    def close(e: AgentEnv) -> None:
        if e is env:
            return
        owned.remove(e)
        stats.closed += 1
        e.close()

    best_done: _Node | None = None
    frontier: list[_Node] = [root]
    counter = 0
    try:
        for _ in range(depth):
            if not frontier or stats.budget_exhausted:
                break
            stats.depth += 1
            children: list[_Node] = []
            for parent in frontier:
                for action in list(propose(parent.obs, parent.info)):
                    if max_expansions is not None and stats.expansions >= max_expansions:
                        stats.budget_exhausted = True
                        break
                    child_env = parent.env.fork()
                    owned.append(child_env)
                    stats.forks += 1
                    stats.expansions += 1
                    o, r, term, trunc, inf = child_env.step(action)
                    counter += 1
                    child = _Node(child_env, o, inf, [*parent.actions, action], parent.reward + float(r),
                                  done=bool(term or trunc), truncated=bool(trunc and not term), order=counter)
                    child.score = float(score(child_env, o, child.reward, inf))
                    if child.done:
                        stats.finished += 1
                        if best_done is None or _rank(child) < _rank(best_done):
                            best_done = child
                        close(child_env)
                    else:
                        children.append(child)
                if parent is not root:
                    close(parent.env)  # its children are independent forks
                if stats.budget_exhausted:
                    break
            # parents left unexpanded by an exhausted budget are dropped too
            for parent in frontier:
                if parent is not root and parent.env in owned:
                    close(parent.env)
            children.sort(key=_rank)
            frontier = children[:width]
            for dropped in children[width:]:
                close(dropped.env)
        best = best_done
        if best is None:
            open_nodes = sorted(frontier, key=_rank)
            best = open_nodes[0] if open_nodes else root
    finally:
        while owned:  # close() removes from owned
            close(owned[-1])
    return SearchResult(actions=best.actions, reward=best.reward, score=best.score if best.actions else None,
                        terminal=best.done, truncated=best.truncated, observation=best.obs, info=best.info,
                        stats=stats.model_copy())


__all__ = ["Proposer", "Scorer", "SearchResult", "SearchStats", "beam_search"]
