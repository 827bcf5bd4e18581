"""Red-team attacks on what the RL and evaluation loops make of a model's own output (issue 17):
the policy being trained writes tool calls that the parsers choke on. Infrastructure errors leave
the batch and the scores, so any way the model's text turns its episode into one is a way to dodge
its zero that a policy learns. Each attack is made as a model makes it (a sampled reply, a server's
tool call) and asserts the episode stays a scored one (an action error, reward 0)."""

from __future__ import annotations

import json

import pytest

from tests.rl_fakes import GuessEnv, ScriptedTokens, byte_tokenizer

#: JSON the stdlib parser cannot take although it is JSON: nesting past the interpreter's recursion
#: limit (RecursionError, no JSONDecodeError) and an integer of more digits than int() converts
#: (a plain ValueError). Both escaped env.step and the tool-call parsers as exceptions.
DEEP = "[" * 3000
HUGE_INT = "9" * 5000


def test_attack_unparseable_json_in_the_action_itself() -> None:
    """The action (or its arguments string) is JSON nested 3000 deep, or holds a 5000-digit
    integer: json.loads raised RecursionError / ValueError out of env.step, so every caller (the
    rollout loop, the RL collector's 'step raised') recorded an infrastructure error. Stopped:
    actions._loads turns every json.loads failure into an ActionError, a malformed action."""
    env = GuessEnv()
    try:
        env.reset(options={"task_id": "t1"})
        for action in (DEEP, {"name": "submit", "arguments": DEEP}, {"name": "submit", "arguments": '{"answer": ' + HUGE_INT + "}"},
                       '{"name": "submit", "arguments": {"answer": ' + HUGE_INT + "}}"):
            obs, reward, term, _, info = env.step(action)
            assert "error" not in info and info.get("action_error") and reward == 0.0, info
            assert "not valid JSON" in obs["text"], obs["text"][:300]
    finally:
        env.close()


def test_attack_collector_reply_the_parsers_choke_on() -> None:
    """Sampled replies: a tool call whose arguments are a JSON string with a 5000-digit integer
    (env.step raised: the episode was 'step raised: ValueError', an infra error dropped from the
    batch), then a <tool_call> block nested 3000 deep (extract_tool_calls raised RecursionError:
    the whole collection stopped), then a wrong answer. Safe: both are malformed actions the env
    answers, and the episode is scored: reward 0 in the batch, nothing dropped."""
    from agentgym.rl import collect
    from agentgym.rl.chat_format import HFChatFormat
    from agentgym.rl.groups import make_batch

    tok = byte_tokenizer()
    call_huge = "<tool_call>" + json.dumps({"name": "submit", "arguments": '{"answer": ' + HUGE_INT + "}"}) + "</tool_call>"
    replies = [call_huge, "<tool_call>" + DEEP + "</tool_call>", '<tool_call>{"name": "submit", "arguments": {"answer": 3}}</tool_call>']
    backend = ScriptedTokens(tok, replies)
    cfg = collect.CollectConfig(max_tokens=6000, max_context=60000)
    env = GuessEnv()
    try:
        [ep] = collect.collect_group(env, backend, HFChatFormat(tok), task_id="t1", n=1, config=cfg)
    finally:
        env.close()
    assert ep.infra_error is None and len(ep.turns) == 3 and ep.terminated and ep.reward == 0.0, ep.infra_error
    batch = make_batch([ep])
    assert batch.dropped_infra == 0 and [e.reward for e in batch.episodes] == [0.0]


def test_attack_server_tool_call_arguments_too_deep_for_the_parser() -> None:
    """Through an OpenAI-compatible server (what a sweep's ReAct agent talks to): the model's tool
    call has arguments nested 3000 deep. parse_tool_calls raised RecursionError inside the
    backend's chat(), the episode raised and was stored as an infrastructure error, left out of
    the scores. Safe: the call is kept as written and answered as a malformed action; the model's
    next call (a wrong answer) ends a scored episode with reward 0."""
    from agentgym import run_episode
    from agentgym.agents.react import ReActAgent
    from agentgym.models.testing import OpenAITestServer, Reply

    env = GuessEnv()
    try:
        with OpenAITestServer([Reply.call("submit", DEEP), Reply.call("submit", {"answer": 3})]) as srv:
            agent = ReActAgent(env, base_url=srv.base_url, model="m", backend_kwargs={"backoff_s": 0.01})
            traj = run_episode(env, agent, options={"task_id": "t1"})
    finally:
        env.close()
    assert traj.error is None and traj.total_reward == 0.0 and not traj.passed, traj.error
    assert traj.turns == 2, traj.turns


#: A JSON escape of half a UTF-16 pair: json.loads makes a str that no UTF-8 encoder takes.
LONE = "\\ud800"


@pytest.mark.parametrize("runtime", ["local", pytest.param("docker", marks=pytest.mark.docker)])
def test_attack_lone_surrogate_in_a_tool_argument(runtime: str) -> None:
    """The model writes "\\ud800" (half a surrogate pair) inside a string argument: in bash's
    command, read_file's path, write_file's content. The string reached the sandbox's channel or
    a file write and raised UnicodeEncodeError: info["error"], 'Infrastructure error (not your
    fault)', the episode ended and left out of scores and batches, for one escape the model
    chose. Safe: Tool.validate_args refuses it as invalid arguments (an action error), the
    episode goes on, and the submission is scored."""
    import agentgym

    env = agentgym.make("shell-fixture", runtime=runtime)
    try:
        env.reset(options={"task_id": "hello"})
        for name, args in (("bash", '{"command": "echo ' + LONE + '"}'), ("read_file", '{"path": "a' + LONE + '"}'),
                           ("write_file", '{"path": "hello.txt", "content": "' + LONE + '"}')):
            obs, _, term, _, info = env.step({"name": name, "arguments": args})
            assert "error" not in info and not term and "surrogate" in info.get("action_error", ""), (name, info)
        obs, reward, term, _, info = env.step({"name": "submit", "arguments": {}})
        assert term and reward == 0.0 and "error" not in info, info
    finally:
        env.close()


#: What vLLM answers (HTTP 400) when the conversation no longer fits the model's window.
CONTEXT_FULL = ("This model's maximum context length is 4096 tokens. However, you requested 4608 tokens "
                "(4096 in the messages, 512 in the completion). Please reduce the length of the messages or completion.")


def test_attack_flood_the_context_window_in_the_collector() -> None:
    """The model asks for outputs that fill the server's context window (here: the server says
    so at the second turn). The 400 was a ModelError: the episode an infrastructure error,
    dropped from the batch, so a policy that floods its context when it is losing escapes its 0
    (on /v1/completions the 400 even stopped the whole collection as TokenIdsUnavailable).
    Safe: the backend reads it as ContextWindowExceeded and the collector ends the episode as a
    budget would (truncated, 'max_context'): scored, in the batch."""
    import asyncio

    from agentgym.models import OpenAICompatibleBackend
    from agentgym.models.testing import OpenAITestServer, Reply
    from agentgym.rl.chat_format import HFChatFormat
    from agentgym.rl.collect import acollect_group
    from agentgym.rl.groups import make_batch
    from tests.rl_fakes import call_text

    fmt = HFChatFormat(byte_tokenizer())
    ids = fmt.tokenizer.encode(call_text("look"), add_special_tokens=False) + [fmt.tokenizer.eos_token_id]
    script = [Reply(token_ids=ids, logprobs=[-0.1] * len(ids)), Reply.fault(400, message=CONTEXT_FULL)]
    with OpenAITestServer(script) as srv:
        backend = OpenAICompatibleBackend(base_url=srv.base_url, model="m", max_retries=0)
        [ep] = asyncio.run(acollect_group(GuessEnv(), backend, fmt, task_id="t1", n=1, seed=0))
    assert ep.infra_error is None and ep.truncated and ep.truncation_reason == "max_context" and ep.reward == 0.0, ep
    assert make_batch([ep]).dropped_infra == 0


@pytest.mark.parametrize("loop", ["run_episode", "run_episode_async"])
def test_attack_flood_the_context_window_in_a_sweep_episode(loop: str) -> None:
    """The same flood through a sweep's ReAct agent: the server's 400 (context window full)
    raised out of run_episode and the episode was stored as an infrastructure error, left out of
    pass@k, for a context the agent's own actions filled. Safe: the episode ends truncated
    ('max_context'), reward 0, no error, the transcript kept; the grader report says why.
    Both loops: run_episode, and run_episode_async (the sweep runner, parallel, the Ray worker)."""
    import asyncio

    from agentgym import run_episode
    from agentgym.agents.react import ReActAgent
    from agentgym.models.testing import OpenAITestServer, Reply
    from agentgym.parallel import RolloutSpec, run_episode_async
    from agentgym.rollout import errored_trajectory

    env = GuessEnv()
    try:
        with OpenAITestServer([Reply.call("look"), Reply.fault(400, message=CONTEXT_FULL)]) as srv:
            agent = ReActAgent(env, base_url=srv.base_url, model="m", backend_kwargs={"backoff_s": 0.01, "max_retries": 0})
            try:
                if loop == "run_episode":
                    traj = run_episode(env, agent, options={"task_id": "t1"})
                else:
                    traj = asyncio.run(run_episode_async(env, agent, RolloutSpec(env_id="guess-test", task_id="t1")))
            except Exception as exc:  # noqa: BLE001 - what the sweep runner then stores
                traj = errored_trajectory(exc, env_id="guess-test", task_id="t1", seed=None)
    finally:
        env.close()
    assert traj.error is None and traj.truncated and traj.total_reward == 0.0 and not traj.passed, traj.error
    assert traj.turns == 1 and traj.transcript is not None and len(traj.transcript.turns) >= 1
    report = traj.grader_report
    assert report is not None and report.verdict == "unfinished" and "max_context" in report.summary, report


def test_attack_lone_surrogate_in_the_models_text_stops_the_sweep(tmp_path) -> None:
    """Through an OpenAI-compatible server the model writes "\\ud800" escapes in its message text
    and in a tool call's arguments: both reach the trajectory as written (the env refuses the
    call as an action error), and the store's model_dump_json raised PydanticSerializationError:
    the episode could not be recorded and the sweep stopped. Safe: the sweep store keeps the
    episode, a scored 0, the lone surrogates stored as '?'."""
    from types import SimpleNamespace

    from agentgym import run_episode
    from agentgym.agents.react import ReActAgent
    from agentgym.models.testing import OpenAITestServer, Reply
    from agentgym.sweep.store import EpisodeRecord, Store

    env = GuessEnv()
    script = [Reply.call("submit", '{"answer": "' + LONE + '"}'), Reply(content="x\ud800y", tool_calls=[("submit", {"answer": 3})])]
    try:
        with OpenAITestServer(script) as srv:
            agent = ReActAgent(env, base_url=srv.base_url, model="m", backend_kwargs={"backoff_s": 0.01})
            traj = run_episode(env, agent, options={"task_id": "t1"})
    finally:
        env.close()
    assert traj.error is None and traj.total_reward == 0.0 and traj.turns == 2
    store = Store(tmp_path / "run")
    try:
        store.add_config(SimpleNamespace(config_id="c", env="guess-test", agent_label="react", model_label="m", budget_label="-",
                                         budget=SimpleNamespace(max_turns=4), model_dump_json=lambda: "{}"))
        assert store.record(EpisodeRecord(config_id="c", task_id="t1", sample=0, seed=0, passed=False, reward=0.0, turns=2,
                                          cost=0.0, seconds=0.1, infra_error=False, error=None), traj)
        [row] = store.conn.execute("SELECT trajectory FROM episodes").fetchall()
    finally:
        store.close()
    assert "x?y" in row[0]
