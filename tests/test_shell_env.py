"""The shell fixture env end to end: tools, grading outside the sandbox, fork, infra errors."""

import pytest

import agentgym


def bash(cmd, **kw):
    return {"name": "bash", "arguments": {"command": cmd, **kw}}


@pytest.fixture
def env(runtime):
    e = agentgym.make("shell-fixture", runtime=runtime)
    yield e
    e.close()


def test_tools_work_and_shell_state_persists(env):
    obs, info = env.reset(options={"task_id": "count-lines"})
    assert "data.txt" in obs["text"]
    obs, *_ = env.step(bash("mkdir -p sub && cd sub && export X=42"))
    assert "[exit code: 0]" in obs["text"]
    obs, *_ = env.step(bash("pwd; echo $X"))
    assert "/sub" in obs["text"] and "42" in obs["text"]
    obs, *_ = env.step({"name": "write_file", "arguments": {"path": "a.txt", "content": "héllo\n"}})
    obs, *_ = env.step({"name": "read_file", "arguments": {"path": "a.txt"}})
    assert obs["text"].startswith("héllo")
    obs, *_ = env.step({"name": "read_file", "arguments": {"path": "missing.txt"}})
    assert obs["text"].startswith("Error: cannot read")
    obs, *_ = env.step(bash("exit 7"))
    assert "[exit code: 7]" in obs["text"]


def test_command_timeout_is_reported(env):
    env.reset(options={"task_id": "hello"})
    obs, _, term, trunc, info = env.step(bash("sleep 30", timeout=1))
    assert "timed out" in obs["text"] and not term and not trunc and "error" not in info


def test_reset_restores_a_clean_sandbox(env):
    env.reset(options={"task_id": "hello"})
    env.step({"name": "write_file", "arguments": {"path": "hello.txt", "content": "hello, world\n"}})
    env.reset(options={"task_id": "hello"})
    obs, reward, *_ = env.step({"name": "submit", "arguments": {}})
    assert reward == 0.0, "a file from the previous episode survived reset"


def test_hidden_inputs_never_enter_the_agent_sandbox(env, runtime):
    env.reset(options={"task_id": "reverse-script"})
    words = env.unwrapped._tasks["reverse-script"].hidden
    assert len(words) == 3
    grep = "grep -rlI --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev " + " ".join(f"-e {w}" for w in words)
    # In a container the agent can read the whole filesystem; locally, only its directory is its own.
    root = "/" if runtime == "docker" else "."
    obs, *_ = env.step(bash(f"{grep} {root} 2>/dev/null | head -5; echo done", timeout=60))
    assert obs["text"].split("\n")[0] == "done", obs["text"]


def test_fork_gives_an_independent_sandbox(env):
    env.reset(options={"task_id": "hello"})
    env.step({"name": "write_file", "arguments": {"path": "shared.txt", "content": "x"}})
    child = env.fork()
    try:
        child.step({"name": "write_file", "arguments": {"path": "hello.txt", "content": "hello, world\n"}})
        obs, *_ = env.step(bash("ls"))
        assert "shared.txt" in obs["text"] and "hello.txt" not in obs["text"]
        _, reward, term, *_ = child.step({"name": "submit", "arguments": {}})
        assert term and reward == 1.0
        _, reward, term, *_ = env.step({"name": "submit", "arguments": {}})
        assert term and reward == 0.0
    finally:
        child.close()


@pytest.mark.docker
def test_dead_container_is_an_infrastructure_error_not_a_zero():
    import docker

    env = agentgym.make("shell-fixture", runtime="docker")
    try:
        env.reset(options={"task_id": "hello"})
        docker.from_env().containers.get(env.unwrapped.sandbox.container_id).remove(force=True)
        obs, reward, term, trunc, info = env.step(bash("echo hi"))
        assert term and "error" in info and "Infrastructure error" in obs["text"]
    finally:
        env.close()


def test_grader_report_fields_are_bounded_whatever_their_type():
    """A verdict's expected / got may be any value the check read (a parsed JSON file: dicts and
    lists of any size): the report keeps each within REPORT_CAP, small ones as they are."""
    import json

    from agentgym.envs.shell.tasks import REPORT_CAP, Verdict

    huge = {f"key{i}": "v" * 50 for i in range(5_000)}
    check = Verdict(False, "wrong", "out.json", expected=huge, got=list(range(100_000))).report()["outcomes"][0]
    assert len(json.dumps(check)) < 3 * REPORT_CAP, "expected and got are clipped"
    assert isinstance(check["got"], str) and "truncated" in check["got"] and check["got"].startswith("[0, 1, 2")
    small = Verdict(False, "wrong", "out.json", expected={"a": [1, 2]}, got="x" * 10_000).report()["outcomes"][0]
    assert small["expected"] == {"a": [1, 2]} and len(small["got"]) < REPORT_CAP + 100
