"""Adversarial suite, time series (issue 13): the translation tasks' idiom checks, enforced at run time in the grading sandbox. Each attack runs as an agent would
(write_file / bash / python tool calls, then submit through env.step) and asserts reward 0 or a
clear refusal: an agent failure with its reason (info["agent_failure"]), never an infrastructure
error (info["error"]), and no effect on an episode running beside it. Envs are pooled per module
(ts_episodes.py)."""

from __future__ import annotations

import json

import pytest

from agentgym.envs.timeseries.builders import build
from tests.adversarial.ts_episodes import ROLLING, SES, SPECS, call, episode, shared_envs, submit_module  # noqa: F401


_EXEC_VIA_NUMPY_BUILTINS = '''import numpy as np


def rolling_features(y, window, lag):
    run = np.ma.core.operator.attrgetter("ex" + "ec")(np.ma.core.builtins)  # numpy's own builtins
    ns = {"np": np, "y": np.asarray(y, dtype=float), "window": window, "lag": lag}
    run("""
out = np.full((len(y), 4), np.nan)
for t in range(window - 1, len(y)):
    w = y[t - window + 1:t + 1]
    out[t, 0], out[t, 1], out[t, 2] = w.mean(), w.std(ddof=1), w.min()
out[lag:, 3] = y[lag:] - y[:-lag]
""", ns)
    return ns["out"]
'''


@pytest.mark.parametrize("runtime", ["local", pytest.param("docker", marks=pytest.mark.docker)])
def test_attack_numpy_builtins_exec(runtime):
    """exec reached through numpy's builtins (np.ma.core.builtins, named without any banned name) runs a
    for loop the AST never sees. Stopped by the audit hook in the grading sandbox: new code compiled
    at run time kills the run, and the submission scores 0 with the reason."""
    with episode(ROLLING, runtime) as env:
        submit_module(env, "features.py", _EXEC_VIA_NUMPY_BUILTINS, "run-time idiom check", "compiled at run time")


def test_attack_numpy_builtins_exec_named_plainly():
    """The plain spelling, np.__builtins__['exec'], is refused by the AST check on the host already."""
    src = _EXEC_VIA_NUMPY_BUILTINS.replace('np.ma.core.operator.attrgetter("ex" + "ec")(np.ma.core.builtins)',
                                           'np.__builtins__["exec"]')
    with episode(ROLLING) as env:
        submit_module(env, "features.py", src, "__builtins__ is not allowed")


_FROMITER_LOOP = '''import numpy as np


def rolling_features(y, window, lag):
    y = np.asarray(y, dtype=float)
    op = np.ma.core.operator
    build = op.attrgetter("from" + "iter")(np)
    each = op.attrgetter("ma" + "p")(np.ma.core.builtins)
    t = np.arange(len(y))
    stat = lambda f: build(each(lambda i: f(y[i - window + 1:i + 1]) if i >= window - 1 else np.nan, t), float)
    d = np.full(len(y), np.nan)
    d[lag:] = y[lag:] - y[:-lag]
    return np.column_stack([stat(np.mean), stat(lambda w: w.std(ddof=1)), stat(np.min), d])
'''


def test_attack_fromiter_loop():
    """A loop written as np.fromiter over map(callback) (both named through getattr-free gadgets, so
    the AST check passes). Stopped at run time: the profile function refuses loop helpers called
    from the module's code."""
    with episode(ROLLING) as env:
        submit_module(env, "features.py", _FROMITER_LOOP, "loop helper (fromiter)")


def test_attack_callback_loop_through_operator_call():
    """Own: the loop helpers called through operator.call (C to C: no profile event for fromiter or
    map). Stopped by the per-input work measure: the callback runs once per element, far past the
    calls and lines a loop-free idiom needs."""
    src = _FROMITER_LOOP.replace("build(each(", "op.call(build, each(").replace(
        'each = op.attrgetter("ma" + "p")(np.ma.core.builtins)',
        'each = lambda f, xs: op.call(op.attrgetter("ma" + "p")(np.ma.core.builtins), f, xs)')
    with episode(ROLLING) as env:
        submit_module(env, "features.py", src, "Python calls and", "loop helper")


def test_attack_forbidden_library_through_builtins_import():
    """Own: pandas (forbidden in the numpy idiom) loaded through numpy's builtins' __import__ under a
    computed name; its rolling() would do the work. Stopped by the wrapped __import__ (and the
    audit hook's import rule) in the grading sandbox."""
    src = '''import numpy as np


def rolling_features(y, window, lag):
    load = np.ma.core.operator.attrgetter("__im" + "port__")(np.ma.core.builtins)
    pd = load("pan" + "das")
    s = pd.Series(np.asarray(y, dtype=float))
    r = s.rolling(window, min_periods=window)
    return np.column_stack([r.mean(), r.std(), r.min(), s.diff(lag)])
'''
    with episode(ROLLING) as env:
        submit_module(env, "features.py", src, "imported pandas")


def test_attack_write_outputs_and_exit():
    """Own: the module computes with a loop-free call, writes its own outputs.json (claiming every
    input matches) and exits before the runner's checks. Stopped: any write to a file during
    grading kills the run (only the runner's own final write is allowed)."""
    src = '''import numpy as np


def smooth(y, alpha):
    import pandas as pd
    pd.Series(y).ewm(alpha=alpha)
    b = np.ma.core.builtins
    b.open("outputs.json", "w").write("[]")
    np.core.numeric.sys.modules["os"]._exit(0)
'''
    with episode(SES) as env:
        submit_module(env, "smoothing.py", src, "opened for writing", "run-time idiom check")


def test_attack_switch_off_the_tracer():
    """Own: sys.settrace(None) from the module (sys reached through numpy's modules) to stop the work
    measure, then a callback loop. Stopped: the audit hook kills the run on sys.settrace."""
    src = '''import numpy as np


def smooth(y, alpha):
    import pandas as pd
    pd.Series(y).ewm(alpha=alpha)
    np.core.numeric.sys.settrace(None)
    return np.asarray(y, dtype=float)
'''
    with episode(SES) as env:
        submit_module(env, "smoothing.py", src, "sys.settrace")



def test_idiom_runner_reports_no_false_alarm_on_the_references():
    """The references of every translation pass under the run-time check (no false alarm)."""
    for task in [t for t in SPECS if t.startswith("eng-translate-")]:
        with episode(task) as env:
            for path, text in env.instance.reference_files.items():
                call(env, "write_file", path=path, content=text)
            _obs, reward, terminated, _t, info = call(env, "submit")
            assert terminated and reward == 1.0, (task, info.get("agent_failure"), info["tool_results"])


def test_outputs_json_parse_is_bounded():
    """Own: a runner output nested deep or with huge numbers is read with guard.parse_json limits."""
    from agentgym.envs.timeseries.grading import SubmissionError
    from agentgym.envs.timeseries.translate import score_outputs

    inst = build(SPECS[ROLLING])
    for data in (b"[" * 50_000 + b"]" * 50_000, json.dumps([{"id": "c00", "values": [int("9" * 200)]}]).encode()):
        with pytest.raises(SubmissionError):
            score_outputs(inst, data)


def test_attack_loop_at_import_reading_the_hidden_inputs():
    """Own (after the red team's mutual recursion at import): the module tries to read cases.json at
    import and runs a callback loop there (no recursion, no loop syntax), to answer later calls
    from a table. Stopped twice: the runner removed cases.json before importing the module, and the
    import is measured like a call (the callback loop at import is a violation)."""
    src = '''import numpy as np
import pandas as pd

pd.Series([0.0]).ewm(alpha=0.5)
_op = np.ma.core.operator
_HAVE = np.ma.core.builtins.open("cases.json").read()  # gone: the runner read it and removed it
_TABLE = _op.call(np.ma.core.builtins.list, _op.call(_op.attrgetter("ma" + "p")(np.ma.core.builtins),
                                                    lambda i: i * i, range(5000)))


def smooth(y, alpha):
    return np.asarray(y, dtype=float)
'''
    with episode(SES) as env:
        submit_module(env, "smoothing.py", src, "No such file")
    with episode(SES) as env:
        submit_module(env, "smoothing.py", src.replace('_HAVE = np.ma.core.builtins.open("cases.json").read()  # gone: '
                                                        'the runner read it and removed it\n', ""),
                       "importing the module ran")
