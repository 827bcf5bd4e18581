"""The TRL environment bridge (agentgym.rl.trl_env) without a trainer: what GRPOTrainer's
environment_factory will see (tool methods whose schemas are the env's), gold and null episodes
through those methods, and an infrastructure error that must come back unscorable (None), never 0."""

from __future__ import annotations

import inspect

import pytest

import agentgym
from agentgym.rl.trl_env import EpisodeStat, environment_class
from agentgym.sandbox import SandboxError

KW = {"runtime": "local"}


@pytest.fixture(scope="module")
def env_cls():
    stats: list[EpisodeStat] = []
    cls = environment_class("shell-fixture", env_kwargs=KW, max_turns=4, on_episode=stats.append)
    cls.stats = stats
    return cls


def _tool_names(cls) -> list[str]:  # exactly how GRPOTrainer picks an environment's tools
    return sorted(n for n, _ in inspect.getmembers(cls, predicate=inspect.isfunction)
                  if n not in ("reset", "get_reward") and not n.startswith("_"))


def test_methods_are_the_envs_tools_with_their_schemas(env_cls):
    transformers = pytest.importorskip("transformers")
    with agentgym.make("shell-fixture", **KW) as env:
        want = {t["function"]["name"]: t["function"] for t in env.tools}
    assert _tool_names(env_cls) == sorted(want)
    inst = env_cls()
    try:
        for name, fn in want.items():
            got = transformers.utils.get_json_schema(getattr(inst, name))["function"]
            assert got["description"] == fn["description"]
            params = got["parameters"]
            assert set(params.get("properties", {})) == set(fn["parameters"].get("properties", {}))
            assert set(params.get("required", [])) == set(fn["parameters"].get("required", []))
            for p, schema in params.get("properties", {}).items():
                assert schema["description"] == fn["parameters"]["properties"][p]["description"]
        assert transformers.utils.get_json_schema(inst.bash)["function"]["parameters"]["properties"]["timeout"]["type"] == "number"
    finally:
        inst._close()


def test_gold_one_null_zero_and_wrong_arguments_reach_the_env(env_cls):
    inst = env_cls()
    try:
        env_cls.stats.clear()
        statement = inst.reset(task_id="count-lines", seed=0, prompt=[{"role": "user", "content": ""}])
        assert "data.txt" in statement
        assert "Error" in inst.bash(cmd="ls")  # a wrong argument name: the env's malformed-action answer
        inst.bash(command="wc -l < data.txt > answer.txt")
        assert "Passed" in inst.submit()
        assert inst.get_reward() == 1.0
        assert "episode is over" in inst.bash(command="true")
        inst.reset(task_id="count-lines", seed=0)
        inst.submit()
        assert inst.get_reward() == 0.0
        assert [(s.task_id, s.reward, s.passed, s.turns) for s in env_cls.stats] == [("count-lines", 1.0, True, 3), ("count-lines", 0.0, False, 1)]
    finally:
        inst._close()


def test_infrastructure_error_is_unscorable_not_zero(env_cls, monkeypatch):
    inst = env_cls()
    try:
        env_cls.stats.clear()
        inst.reset(task_id="hello", seed=0)

        def broken(*a, **k):
            raise SandboxError("the sandbox died")

        monkeypatch.setattr(inst.env.sandbox, "exec", broken)
        assert "Infrastructure error" in inst.bash(command="echo hi")
        assert inst.get_reward() is None  # TRL: every reward None -> left out of the baseline, advantage 0
        (stat,) = env_cls.stats
        assert stat.infra_error and "sandbox died" in stat.infra_error and not stat.passed
    finally:
        inst._close()


def test_unknown_env_is_one_clear_error():
    with pytest.raises(KeyError, match="no agentgym env 'shell-fixtur'.*Did you mean: shell-fixture"):
        environment_class("shell-fixtur")


def test_show_workdir_false_gives_every_sandbox_the_same_statement():
    """Training's prompt setting: the local runtime's fresh temporary path is left out of the
    statement (noise to a small model); the tools and the grading are the env's own."""
    stmts = []
    for _ in range(2):
        with agentgym.make("shell-fixture", show_workdir=False, **KW) as env:
            obs, _ = env.reset(seed=0, options={"task_id": "hello"})
            assert str(env.unwrapped.workdir_shown()) not in obs["text"]
            stmts.append(obs["text"])
            env.step({"name": "write_file", "arguments": {"path": "hello.txt", "content": "hello, world\n"}})
            assert env.step({"name": "submit", "arguments": {}})[1] == 1.0
    assert stmts[0] == stmts[1] and "relative" in stmts[0]
    with agentgym.make("shell-fixture", **KW) as env:  # the default still names the real directory
        obs, _ = env.reset(seed=0, options={"task_id": "hello"})
        assert str(env.unwrapped.workdir_shown()) in obs["text"]


def test_evaluation_leaves_infrastructure_errors_unscored(monkeypatch):
    """trl_eval: an episode that ended in an infrastructure error stops there and is not averaged
    in as a zero; with no scored episode, reward and pass rate are None."""
    torch = pytest.importorskip("torch")
    from agentgym.rl import trl_eval

    class Tok:  # a stand-in tokenizer: every reply decodes to one bash call
        eos_token_id, pad_token_id = 1, 0

        def apply_chat_template(self, messages, **kw):  # return_dict=True, no tensors: lists, as a real one
            return {"input_ids": [5, 6], "attention_mask": [1, 1]}

        def decode(self, ids, **kw):
            return '<tool_call>\n{"name": "bash", "arguments": {"command": "echo hi"}}\n</tool_call>'

    class Model:
        calls = 0

        def eval(self):
            return self

        def generate(self, input_ids, **kw):
            Model.calls += 1
            return torch.cat([input_ids, torch.tensor([[7, 1]])], dim=1)

    def broken(*a, **k):
        raise SandboxError("the sandbox died")

    monkeypatch.setattr("agentgym.sandbox.local.LocalSandbox.exec", broken)
    r = trl_eval.evaluate(Model(), Tok(), "shell-fixture", ["hello", "count-lines"], env_kwargs=KW, max_turns=3)
    assert r["reward"] is None and r["pass_rate"] is None and r["infra_errors"] == 2
    assert Model.calls == 2 and all(e["turns"] == 1 for e in r["episodes"])  # stopped at the first error


def test_evaluation_generates_on_the_models_device():
    """play and play_group hand generate tensors on model.device (a GPU model gets no CPU input);
    one loop plays both: a greedy episode is a group of one."""
    torch = pytest.importorskip("torch")
    from agentgym.rl import trl_eval

    class Tok:
        eos_token_id, pad_token_id = 1, 0

        def apply_chat_template(self, messages, **kw):
            return {"input_ids": [5, 6, 7][: 1 + len(messages) % 3], "attention_mask": [1] * (1 + len(messages) % 3)}

        def decode(self, ids, **kw):
            return '<tool_call>{"name": "submit", "arguments": {}}</tool_call>'  # nothing written: failed

    class Model:
        device = torch.device("meta")  # no data: any tensor made elsewhere shows
        seen: list[tuple[str, str, bool]] = []

        def generate(self, input_ids, attention_mask, do_sample, **kw):
            Model.seen.append((input_ids.device.type, attention_mask.device.type, do_sample))
            return torch.tensor([[0] * input_ids.shape[1] + [9, 1, 0]] * input_ids.shape[0])

    with agentgym.make("shell-fixture", **KW) as env, agentgym.make("shell-fixture", **KW) as env2:
        one = trl_eval.play(Model(), Tok(), env, "hello", max_turns=2)
        two = trl_eval.play_group(Model(), Tok(), [env, env2], "hello", max_turns=2)
    assert Model.seen == [("meta", "meta", False), ("meta", "meta", True)]
    assert one.turns == 1 and one.generated_tokens == 2 and not one.passed  # [9, eos]: the padding after eos is not counted
    assert [e.model_dump() for e in two] == [one.model_dump()] * 2


def test_read_train_steps_writes_nothing(tmp_path):
    import sqlite3

    from agentgym.rl.trl_log import StepRow, TrainLog, read_train_steps

    sqlite3.connect(tmp_path / "results.sqlite").execute("CREATE TABLE episodes (x)").connection.close()
    assert read_train_steps(tmp_path) == []  # a sweep's store: no train_steps table is created in it
    tables = {r[0] for r in sqlite3.connect(tmp_path / "results.sqlite").execute("SELECT name FROM sqlite_master")}
    assert tables == {"episodes"}
    log = TrainLog(tmp_path)
    log.add(StepRow(algorithm="grpo", step=1, reward=0.5))
    log.close()
    assert [(r.algorithm, r.step, r.reward) for r in read_train_steps(tmp_path)] == [("grpo", 1, 0.5)]


def test_a_tool_named_like_an_episode_attribute_is_refused(monkeypatch):
    """A tool called `done` (or turns, error, seed...) became a class method that the instance's own
    attribute of that name shadows: TRL lists it as a tool, then calls a bool."""
    import agentgym.rl.trl_env as trl_env

    monkeypatch.setattr(trl_env, "env_tool_schemas", lambda env_id, kw=None: [{"function": {"name": "done", "parameters": {}}}])
    with pytest.raises(ValueError, match="tool 'done' cannot be a method"):
        trl_env.environment_class("shell-fixture", env_kwargs=KW)


def test_grpo_with_kl_hands_trl_a_loadable_reference_of_the_current_policy(tmp_path, monkeypatch):
    """beta > 0: GRPOTrainer builds its reference from ``model.config._name_or_path``; a model built
    in memory has '' there (TRL asked the hub for '' and crashed). The reference TRL loads must be
    the policy as GRPO gets it. A stub stands in for GRPOTrainer and loads it the way TRL 1.x does."""
    torch = pytest.importorskip("torch")
    trl = pytest.importorskip("trl")
    from trl.trainer.utils import create_model_from_path, get_config_model_id  # what GRPOTrainer uses

    from agentgym.rl import tinymodel
    from agentgym.rl.trl_grpo import GRPOSettings, train_grpo

    tok = tinymodel.build_tokenizer([tinymodel.chat_template(), "echo hello > out.txt"], vocab_size=300)
    model = tinymodel.build_model(tok, hidden=16, layers=1, heads=2, seed=0)
    with torch.no_grad():
        next(model.parameters()).add_(0.5)  # trained in memory: the reference must be this, not a fresh build
    loaded = {}

    class Loaded(Exception):
        pass

    class StubTrainer:
        def __init__(self, model, args, **kw):
            assert args.beta == 0.05
            loaded["ref"] = create_model_from_path(get_config_model_id(model.config))
            loaded["policy"] = model
            raise Loaded

    monkeypatch.setattr(trl, "GRPOTrainer", StubTrainer)
    with pytest.raises(Loaded):
        train_grpo(model, tok, "shell-fixture", ["hello"], tmp_path, GRPOSettings(beta=0.05), env_kwargs=KW)
    for (n, a), (_, b) in zip(loaded["policy"].named_parameters(), loaded["ref"].named_parameters()):
        assert torch.equal(a.detach(), b.detach()), n


@pytest.mark.parametrize("args", ['"' + "[" * 3000 + '"', '"' + "9" * 5000 + '"'])
def test_evaluation_reads_a_tool_call_too_deep_or_too_long_to_parse(args):
    """A sampled tool call whose arguments are JSON nested past the recursion limit, or an integer of more
    digits than int() converts, stops neither the evaluation nor its episode: no arguments, as bad JSON."""
    from agentgym.rl.trl_eval import _assistant_message

    text = '<tool_call>{"name": "submit", "arguments": %s}</tool_call>' % args
    msg, _ = _assistant_message(text)
    assert msg["tool_calls"][0]["function"]["arguments"] == {}
