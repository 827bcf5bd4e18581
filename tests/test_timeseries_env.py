"""TimeSeriesEnv end to end on both runtimes: the persistent python session, hidden answers out
of the sandbox's reach, code submissions run in a fresh sandbox (never imported by the grader),
format-only validation, and bring-your-own tasks."""

import os
import uuid

import numpy as np
import pandas as pd
import pytest

import agentgym
from agentgym.envs.timeseries.builders import build
from agentgym.envs.timeseries.env import TimeSeriesEnv


def _step(env, name, **arguments):
    obs, reward, term, trunc, info = env.step({"name": name, "arguments": arguments})
    return obs["text"], reward, term, info


@pytest.fixture
def imp_env(runtime):
    env = TimeSeriesEnv(runtime=runtime, tasks="impute")
    env.reset(options={"task_id": "imp-scattered-d-10", "max_turns": 50})
    yield env
    env.close()


def test_python_session_keeps_state_and_interrupts(imp_env):
    text, *_ = _step(imp_env, "python", code="import pandas as pd\ndf = pd.read_csv('data.csv')\nx = 41\ndf.shape")
    assert "(960, 4)" in text
    assert "42" in _step(imp_env, "python", code="x + 1")[0]
    text, *_ = _step(imp_env, "python", code="import time\ntime.sleep(30)", timeout=1)
    assert "KeyboardInterrupt" in text
    assert "960" in _step(imp_env, "python", code="print(len(df))")[0]  # state survived the interrupt
    assert "ZeroDivisionError" in _step(imp_env, "python", code="1/0")[0]


def test_hidden_answers_are_not_readable_from_the_sandbox(imp_env):
    inst = build(imp_env._specs["imp-scattered-d-10"])
    needles = [f"{v:.4f}".rstrip("0") for v in inst.answers["value"].to_numpy()[:6]]
    assert all(n not in inst.public_files["data.csv"] for n in needles)
    # the needles go in a file the search skips (a command line holding them would find itself)
    _step(imp_env, "write_file", path="needles/n.txt", content="\n".join(needles) + "\n")
    root = "$AGENTGYM_WORKDIR/.." if imp_env.runtime == "local" else "/"
    text, *_ = _step(imp_env, "bash", command=f"grep -rlF -f needles/n.txt {root} --exclude-dir=needles --exclude-dir=proc "
                     "--exclude-dir=sys --exclude-dir=usr --exclude-dir=dev 2>/dev/null; echo done")
    assert text.splitlines()[0] == "done", text
    text, reward, term, info = _step(imp_env, "submit")
    assert term and reward == 0.0 and "submission.csv does not exist" in text


def test_validate_submission_is_format_only(imp_env):
    _step(imp_env, "write_file", path="submission.csv", content="id,value\nnope,1\n")
    text, reward, term, _ = _step(imp_env, "validate_submission")
    assert not term and reward == 0.0
    assert text.startswith("invalid submission: missing 96 of 96 ids: ")


def test_code_submission_runs_in_fresh_sandbox_and_is_never_imported(runtime, tmp_path):
    marker = tmp_path / f"imported-{uuid.uuid4().hex}"
    env = TimeSeriesEnv(runtime=runtime, tasks="engineering")
    try:
        env.reset(options={"task_id": "eng-repair-column-d"})
        good = env.instance.reference_files["forecaster.py"]
        evil = (f"import os\ntry:\n    open({str(marker)!r}, 'a').write(str(os.getpid()) + '\\n')\n"
                "except OSError:\n    pass\n" + good)
        _step(env, "write_file", path="forecaster.py", content=evil)
        text, *_ = _step(env, "validate_submission")
        assert "parses and defines forecast()" in text and not marker.exists()
        text, reward, term, info = _step(env, "submit")
        grade = info["tool_results"][-1]["grade"]
        assert term and grade["valid"] and grade["passed"], text
        pids = marker.read_text().split() if marker.exists() else []
        assert str(os.getpid()) not in pids  # the grader process never imported it
        if runtime == "docker":
            assert pids == []  # it ran in a container: the host path was never reachable
    finally:
        env.close()


def test_broken_module_fails_with_the_error(runtime):
    env = TimeSeriesEnv(runtime=runtime, tasks="engineering")
    try:
        env.reset(options={"task_id": "eng-repair-column-d"})
        text, reward, term, info = _step(env, "submit")
        assert reward == 0.0 and "forecast() failed on the hidden inputs" in text and "KeyError" in text
    finally:
        env.close()


def test_bring_your_own_series(tmp_path):
    from agentgym.envs.timeseries.byo import register_byo
    from agentgym.validate import validate

    rng = np.random.default_rng(3)
    for k in range(3):  # a folder of files, one series each
        t = np.arange(150)
        y = 50 + 0.2 * t + 10 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 1, 150)
        pd.DataFrame({"timestamp": pd.date_range("2020-01-01", periods=150), "value": y}).to_csv(tmp_path / f"shop{k}.csv", index=False)
    env_id = f"byo-test-{uuid.uuid4().hex[:6]}"
    register_byo(env_id, tmp_path, kind="forecast", horizon=7, period=7)
    report = validate(env_id, runtime="local")
    assert (report.tasks, report.gold_pass_rate, report.null_pass_rate, report.errors) == (1, 1.0, 0.0, 0)
    with agentgym.make(env_id, runtime="local") as env:
        obs, _ = env.reset()
        assert "3 series" in obs["text"] and env.instance.spec.variant == "byo"


def test_python_session_survives_the_agents_shell_and_reports_deaths(imp_env):
    # the agent's shell state (cwd, functions shadowing bash, options) must not reach the client
    _step(imp_env, "bash", command="cd /; bash() { echo hijacked; }; cat() { echo hijacked; }; set -o pipefail")
    text, *_ = _step(imp_env, "python", code="import os, sys\nos.system('echo from-a-subprocess')\nprint('out', file=sys.stderr)\n6 * 7")
    assert "hijacked" not in text
    assert "from-a-subprocess\nout\n42\n" in text
    assert "héllo ✓ no newline" in _step(imp_env, "python", code="print('héllo ✓ no newline', end='')")[0]
    text, *_ = _step(imp_env, "python", code="print('x' * 100_000)")
    assert "[output truncated: " in text and len(text) < 20_000
    # a cell that ignores the interrupt is killed after the grace period; the next call starts afresh
    text, *_ = _step(imp_env, "python", code="import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ny = 1\n"
                     "time.sleep(60)", timeout=1)
    assert "session was killed" in text
    text, *_ = _step(imp_env, "python", code="'y' in globals()")
    assert "a new python session was started" in text and "\nFalse\n" in text
    text, *_ = _step(imp_env, "python", code="import os\nos.kill(os.getpid(), 9)")
    assert "the python session died" in text
    assert "started]\n2\n" in _step(imp_env, "python", code="1 + 1")[0]
