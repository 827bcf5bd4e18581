"""Beam search over env.fork(): finds what greedy misses, equals greedy at width 1, leaks nothing."""

import os
import tempfile
from pathlib import Path

import pytest
from toy_env import ToyEnv

import agentgym
from agentgym import ToolCall
from agentgym.search import beam_search


class CountingToy(ToyEnv):
    """ToyEnv that remembers every fork, to check each one is closed."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.forks: list[ToyEnv] = []

    def fork(self):
        clone = super().fork()
        self.forks.append(clone)
        clone.forks = self.forks  # forks of forks land in the same list
        return clone


def echo(text):
    return ToolCall(name="echo", arguments={"text": text})


def submit(answer):
    return ToolCall(name="submit", arguments={"answer": answer})


def propose(obs, info):
    """Echo moves and a wrong submit everywhere; the right submit only after the 'hint' echo."""
    moves = [echo("shiny"), echo("hint"), submit(-1)]
    if obs["text"].startswith("hint"):
        moves.append(submit(6))  # sum-3
    return moves


def bad_score(env, obs, reward, info):
    """Terminal rewards count; otherwise a misleading heuristic that prefers 'shiny' to 'hint'."""
    if info.get("terminated_reason"):
        return reward
    return 0.9 if obs["text"].startswith("shiny") else 0.5


def started(cls=CountingToy):
    env = cls()
    env.reset(options={"task_id": "sum-3"})
    return env


def assert_all_closed(env):
    assert env.forks and all(f.closed for f in env.forks)
    assert not env.closed  # the root belongs to the caller


def test_beam_finds_what_greedy_on_a_bad_score_misses():
    env = started()
    greedy = beam_search(env, propose, bad_score, width=1, depth=4)
    assert greedy.terminal and greedy.reward == 0.0  # only the wrong submit was ever reached
    beam = beam_search(env, propose, bad_score, width=2, depth=4)
    assert beam.terminal and beam.reward == 1.0
    assert beam.actions == [echo("hint"), submit(6)]
    assert beam.stats.forks == beam.stats.expansions == beam.stats.closed
    assert_all_closed(env)
    # the root was never stepped
    assert env.state == [] and env.tracker.usage().turns == 0


def test_width_one_equals_a_hand_written_greedy():
    env = started()
    result = beam_search(env, propose, bad_score, width=1, depth=5)

    node, path, best = env, [], None  # best finished: (score, reward, actions)
    for _ in range(5):
        children = []
        for a in propose({"text": node._last_text}, {}):
            child = node.fork()
            obs, r, term, trunc, info = child.step(a)
            s = bad_score(child, obs, r, info)
            if term or trunc:
                if best is None or (s, r) > best[:2]:
                    best = (s, r, [*path, a])
            else:
                children.append((s, a, child))
        _, action, node = max(children, key=lambda c: c[0])  # max keeps the first on ties
        path = [*path, action]
    assert (result.score, result.reward, result.actions) == best


def test_every_fork_is_closed_even_when_search_stops_early_or_raises():
    env = started()
    r = beam_search(env, propose, bad_score, width=3, depth=6, max_expansions=7)
    assert r.stats.budget_exhausted and r.stats.expansions == 7 and r.stats.closed == r.stats.forks == 7
    assert_all_closed(env)

    env2 = started()

    def exploding(e, obs, reward, info):
        if len(env2.forks) > 4:
            raise RuntimeError("verifier crashed")
        return 0.0

    with pytest.raises(RuntimeError, match="verifier crashed"):
        beam_search(env2, propose, exploding, width=2, depth=3)
    assert_all_closed(env2)


def test_nothing_finished_returns_the_best_open_node_and_bad_args_are_refused():
    env = started()
    r = beam_search(env, lambda o, i: [echo("shiny"), echo("hint")], bad_score, width=2, depth=2)
    assert not r.terminal and r.actions == [echo("shiny"), echo("shiny")] and r.score == 0.9
    assert_all_closed(env)
    with pytest.raises(ValueError, match="width"):
        beam_search(env, propose, bad_score, width=0, depth=1)
    with pytest.raises(ValueError, match="started"):
        beam_search(ToyEnv(), propose, bad_score, width=1, depth=1)


def _my_sandbox_dirs():
    out = set()
    for p in Path(tempfile.gettempdir()).glob("agentgym-sbx-*"):
        try:
            owner = (p / "owner.json").read_text()
        except OSError:
            continue
        if f'"{os.getpid()}"' in owner or f": {os.getpid()}" in owner:
            out.add(p)
    return out


def test_beam_search_on_real_local_sandboxes_closes_them_all():
    env = agentgym.make("shell-fixture", runtime="local")
    try:
        obs, info = env.reset(options={"task_id": "hello"})
        before = _my_sandbox_dirs()
        sandboxes = []

        def propose_shell(obs, info):
            return [ToolCall(name="write_file", arguments={"path": "hello.txt", "content": "hi\n"}),
                    ToolCall(name="write_file", arguments={"path": "hello.txt", "content": "hello, world\n"}),
                    ToolCall(name="submit")]

        def score(e, obs, reward, info):
            sandboxes.append(e.unwrapped.sandbox)
            return reward

        r = beam_search(env.unwrapped, propose_shell, score, width=2, depth=2, obs=obs, info=info)
        assert r.terminal and r.reward == 1.0
        assert r.actions[-1] == ToolCall(name="submit")
        assert r.stats.forks == r.stats.closed == len(sandboxes) > 0
        assert all(not sb.alive for sb in sandboxes)
        assert env.unwrapped.sandbox.alive  # the root's sandbox is the caller's
        assert _my_sandbox_dirs() <= before
    finally:
        env.close()
