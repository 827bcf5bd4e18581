"""Adversarial suite, time series (issue 13): every attack named for the domain plus our own, each
run as an agent would (write_file / bash / python tool calls, then submit through env.step), each
asserting reward 0 or a clear refusal: an agent failure with its reason (info["agent_failure"]),
never an infrastructure error (info["error"]), and no effect on an episode running beside it."""

from __future__ import annotations

import inspect
import io
import json
import os
import resource
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

import agentgym
from agentgym.envs.timeseries import generators as G
from agentgym.envs.timeseries.builders import BUILDERS, build
from agentgym.envs.timeseries.catalog import all_specs

SPECS = {s.id: s for s in all_specs()}
ROLLING = "eng-translate-rolling-pandas-to-numpy"
SES = "eng-translate-ses-numpy-to-pandas"
IMPUTE = "imp-scattered-d-10"


def _open(task: str, runtime: str = "local"):
    env = agentgym.make("ts-engineering" if task.startswith("eng-") else "ts-impute" if task.startswith("imp-")
                        else "ts-forecast", runtime=runtime, tasks=[task])
    env.reset(options={"task_id": task, "max_turns": 50})
    return env


def _call(env, name: str, **arguments):
    return env.step({"name": name, "arguments": arguments})


def _zero(step, *expect: str) -> str:
    """The submit step ended the episode with reward 0 as an agent failure naming one of `expect`."""
    obs, reward, terminated, _truncated, info = step
    assert terminated and reward == 0.0, (reward, obs["text"][:500])
    assert "error" not in info, info.get("error")
    reason = info.get("agent_failure", "")
    assert reason and any(e in reason for e in expect), (reason, expect)
    return reason


def _submit_module(env, path: str, source: str, *expect: str) -> str:
    _call(env, "write_file", path=path, content=source)
    return _zero(_call(env, "submit"), *expect)


# ---- translation idiom checks: enforced at run time in the grading sandbox -------------------------------

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
    with _open(ROLLING, runtime) as env:
        _submit_module(env, "features.py", _EXEC_VIA_NUMPY_BUILTINS, "run-time idiom check", "compiled at run time")


def test_attack_numpy_builtins_exec_named_plainly():
    """The plain spelling, np.__builtins__['exec'], is refused by the AST check on the host already."""
    src = _EXEC_VIA_NUMPY_BUILTINS.replace('np.ma.core.operator.attrgetter("ex" + "ec")(np.ma.core.builtins)',
                                           'np.__builtins__["exec"]')
    with _open(ROLLING) as env:
        _submit_module(env, "features.py", src, "__builtins__ is not allowed")


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
    with _open(ROLLING) as env:
        _submit_module(env, "features.py", _FROMITER_LOOP, "loop helper (fromiter)")


def test_attack_callback_loop_through_operator_call():
    """Own: the loop helpers called through operator.call (C to C: no profile event for fromiter or
    map). Stopped by the per-input work measure: the callback runs once per element, far past the
    calls and lines a loop-free idiom needs."""
    src = _FROMITER_LOOP.replace("build(each(", "op.call(build, each(").replace(
        'each = op.attrgetter("ma" + "p")(np.ma.core.builtins)',
        'each = lambda f, xs: op.call(op.attrgetter("ma" + "p")(np.ma.core.builtins), f, xs)')
    with _open(ROLLING) as env:
        _submit_module(env, "features.py", src, "Python calls and", "loop helper")


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
    with _open(ROLLING) as env:
        _submit_module(env, "features.py", src, "imported pandas")


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
    with _open(SES) as env:
        _submit_module(env, "smoothing.py", src, "opened for writing", "run-time idiom check")


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
    with _open(SES) as env:
        _submit_module(env, "smoothing.py", src, "sys.settrace")


# ---- hidden means hidden ---------------------------------------------------------------------------------

def test_attack_public_generator_replay():
    """The public generator (generators.py, pasted into the sandbox) run with the seed catalog.py
    publishes reproduced data.csv and the hidden answers exactly before the salt. Stopped: the data
    come from the public seed mixed with a per-install secret salt that never enters the sandbox.
    (The replay does reproduce the unsalted build: the attack is real.)"""
    spec = SPECS[IMPUTE]
    with _open(IMPUTE) as env:
        _call(env, "write_file", path="pub_generators.py", content=inspect.getsource(G))
        code = (f"import numpy as np, pandas as pd, pub_generators as G\n"
                f"p = G.synth_panel({spec.seed}, 4, 240, 'D')\n"
                f"p.insert(0, 'id', p['series_id'] + '_' + p.groupby('series_id').cumcount().astype(str).str.zfill(4))\n"
                f"d = pd.read_csv('data.csv')\n"
                f"miss = d['id'][d['value'].isna()]\n"
                f"p.set_index('id').loc[miss, ['value']].reset_index().to_csv('submission.csv', index=False)\n"
                f"same = np.allclose(p['value'][d['value'].notna()].to_numpy(), d['value'].dropna().to_numpy())\n"
                f"print('train reproduced:', same)")
        obs, *_ = _call(env, "python", code=code)
        assert "train reproduced: False" in obs["text"], obs["text"]
        _obs, reward, terminated, _t, info = _call(env, "submit")
        assert terminated and reward < 0.5 and "error" not in info, (reward, info)
    unsalted = BUILDERS["impute"](spec)  # what the same replay matched before the salt: every answer
    panel = G.synth_panel(spec.seed, 4, 240, "D")
    panel.index = panel["series_id"] + "_" + panel.groupby("series_id").cumcount().astype(str).str.zfill(4)
    assert np.allclose(panel.loc[unsalted.answers.index, "value"].to_numpy(), unsalted.answers["value"].to_numpy())


def test_salt_keeps_a_build_reproducible_and_changes_with_the_install():
    """One install (one salt) rebuilds the same task; another salt gives other data of the same kind."""
    spec = SPECS[IMPUTE]
    a1, a2, b = build(spec, salt=b"\x01" * 32), build(spec.model_copy(), salt=b"\x01" * 32), build(spec, salt=b"\x02" * 32)
    assert a1.public_files == a2.public_files and a1.answers.equals(a2.answers)
    assert a1.public_files["data.csv"] != b.public_files["data.csv"]
    assert a1.spec == spec and a1.statement.split("missing")[0] == b.statement.split("missing")[0]


@pytest.mark.parametrize("runtime", ["local", pytest.param("docker", marks=pytest.mark.docker)])
def test_attack_affine_fit_against_shipped_statsmodels(runtime):
    """fc-real-co2-h12 (in ts-lite) was co2 from statsmodels under an affine map, and the sandbox ships
    statsmodels: one least-squares fit of train.csv against the original gave the hidden horizon.
    Stopped twice: the image no longer ships statsmodels' datasets (docker: the load fails), and the
    task's series is a keyed nonlinear warp plus a keyed AR(1) part (local: the fit lands where a
    forecaster does, not near 0)."""
    task = "fc-real-co2-h12"
    with _open(task, runtime) as env:
        code = ("import numpy as np, pandas as pd\n"
                "tr, fu = pd.read_csv('train.csv'), pd.read_csv('future.csv')\n"
                "try:\n"
                "    from statsmodels.datasets import co2\n"
                "    y = co2.load_pandas().data['co2'].resample('MS').mean().interpolate().to_numpy()\n"
                "except Exception as exc:\n"
                "    print('no original:', type(exc).__name__)\n"
                "    y = None\n"
                "n, h = len(tr), len(fu)\n"
                "if y is not None:\n"
                "    X = np.c_[y[:n], np.ones(n)]\n"
                "    c = np.linalg.lstsq(X, tr['value'].to_numpy(), rcond=None)[0]\n"
                "    pred = np.c_[y[n:n + h], np.ones(h)] @ c\n"
                "else:\n"
                "    pred = np.full(h, tr['value'].iloc[-1])\n"
                "pd.DataFrame({'id': fu['id'], 'yhat': pred}).to_csv('submission.csv', index=False)\n")
        obs, *_ = _call(env, "python", code=code, timeout=300)  # statsmodels imports slowly on a loaded machine
        if runtime == "docker":
            assert "no original:" in obs["text"], obs["text"]
        _obs, _reward, terminated, _t, info = _call(env, "submit")
        grade = info["tool_results"][-1]["grade"]
        assert terminated and grade["valid"], grade
        assert grade["score"] > 0.5 * grade["reference"], grade  # a forecaster's error, not ~0 (was 0.0 before)


# ---- malformed artifacts, configs and modules: agent failures, never infrastructure errors -----------------

def _npz_corruption(kind: str) -> str:
    return {
        "bad_crc": "b = bytearray(raw); i = raw.index(b'NUMPY') + 200; b[i] ^= 0xFF; raw = bytes(b)",
        "encrypted": "b = bytearray(raw); b[6] |= 1; c = raw.rindex(b'PK\\x01\\x02'); b[c + 8] |= 1; raw = bytes(b)",
        "compression": "b = bytearray(raw); b[8] = 99; c = raw.rindex(b'PK\\x01\\x02'); b[c + 10] = 99; raw = bytes(b)",
        "truncated": "import zipfile, io\nz = io.BytesIO()\nwith zipfile.ZipFile(z, 'w') as zf:\n"
                     "    zf.writestr('coef.npy', raw_npy[:len(raw_npy) // 2])\nraw = z.getvalue()",
    }[kind]


@pytest.mark.parametrize("kind", ["bad_crc", "encrypted", "compression", "truncated"])
def test_attack_malformed_npz_artifact(kind):
    """npz artifacts with a bad CRC, the encrypted flag, an unknown compression method or a truncated
    array raised from zipfile/numpy inside the grader (an infrastructure error, dodging the zero).
    Stopped: guard.check_zip/load_npz check members, flags, methods and CRCs first: reward 0 with
    the reason."""
    with _open("eng-artifact-npz-d") as env:
        shape = (len(env.instance.context["series"]), len(env.instance.context["lags"]) + 2
                 + 2 * env.instance.context["harmonics"])
        code = ("import io, numpy as np\n"
                f"coef = np.full({shape}, 0.5)\n"
                "f = io.BytesIO(); np.savez(f, coef=coef); raw = f.getvalue()\n"
                "g = io.BytesIO(); np.save(g, coef); raw_npy = g.getvalue()\n"
                + _npz_corruption(kind) + "\nopen('model.npz', 'wb').write(raw)\n")
        _call(env, "python", code=code)
        _zero(_call(env, "submit"), "model.npz")


@pytest.mark.parametrize("payload", ["[" * 100_000 + "]" * 100_000, "[" * 30_000 + "]" * 30_000,
                                     '{"window": ' + "9" * 5000 + ', "harmonics": 1, "trend": true}'])
def test_attack_hostile_json_config(payload):
    """A config nested 100k deep (RecursionError in json) or holding a 5000-digit integer (ValueError
    past Python's digit limit). Stopped: guard.parse_json bounds size, depth and digits before json
    parses anything: reward 0 with the reason, never info["error"]."""
    with _open("eng-tune-d") as env:
        _call(env, "write_file", path="config.json", content=payload)
        _zero(_call(env, "submit"), "nested deeper", "characters", "the limit is")


@pytest.mark.parametrize("source", ["x = " + "(" * 200_000 + ")" * 200_000 + "\n",
                                    "x = " + "-" * 500_000 + "1\n"])
def test_attack_deep_ast_module(source):
    """A module whose AST is deep enough for ast.parse to raise RecursionError or MemoryError.
    Stopped: guard.parse_python catches both (and bounds size and depth): reward 0 with the reason."""
    with _open("eng-repair-column-d") as env:
        _call(env, "write_file", path="forecaster.py", content=source)
        obs, *_ = _call(env, "validate_submission")
        assert "invalid submission" in obs["text"]
        _zero(_call(env, "submit"), "forecaster.py")


# ---- the submission path: sizes and types checked before reading ------------------------------------------

def _neighbour(runtime: str) -> float:
    """A reference episode beside the attack: it must finish normally."""
    with _open(IMPUTE, runtime) as env:
        for path, text in env.instance.reference_files.items():
            _call(env, "write_file", path=path, content=text)
        _call(env, "bash", command=env.instance.reference_command)
        return _call(env, "submit")[1]


@pytest.mark.parametrize("runtime", ["local", pytest.param("docker", marks=pytest.mark.docker)])
def test_attack_sparse_submission_file(runtime):
    """A 600 MB sparse submission.csv was read whole before the 20 MB check (2.5 GB host RSS).
    Stopped: the sandbox checks the size before reading: refused at once, host RSS unchanged."""
    with _open(IMPUTE, runtime) as env:
        _call(env, "bash", command="truncate -s 600M submission.csv")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t = time.monotonic()
        _zero(_call(env, "submit"), "bytes", "limit")
        assert time.monotonic() - t < 20
        assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 100 * 1024  # KiB: < 100 MB growth


@pytest.mark.parametrize("runtime", ["local", pytest.param("docker", marks=pytest.mark.docker)])
def test_attack_fifo_at_the_submission_path(runtime):
    """A FIFO at submission.csv stalled every read for 120 s. Stopped: the type is checked on a
    non-blocking open: refused at once; an episode beside it finishes with its normal reward."""
    with ThreadPoolExecutor(1) as pool, _open(IMPUTE, runtime) as env:
        beside = pool.submit(_neighbour, runtime)
        _call(env, "bash", command="mkfifo submission.csv")
        t = time.monotonic()
        _zero(_call(env, "submit"), "FIFO", "regular file")
        assert time.monotonic() - t < 10
        assert beside.result(timeout=120) == 1.0


def test_attack_symlink_to_a_host_file_at_the_submission_path():
    """submission.csv as a symlink to a host file (local runtime: the sandbox is a host folder).
    Stopped: reads refuse symlinks out of the sandbox; the host file's content is never read or shown."""
    secret = os.path.join(os.path.expanduser("~"), ".agentgym-adversarial-secret")
    with open(secret, "w") as fh:
        fh.write("id,value\nTOPSECRET,1\n")
    try:
        with _open(IMPUTE) as env:
            _call(env, "bash", command=f"ln -s {secret} submission.csv")
            obs, *_ = _call(env, "view_file", path="submission.csv")
            assert "TOPSECRET" not in obs["text"]
            reason = _zero(_call(env, "submit"), "symlink", "outside", "regular file")
            assert "TOPSECRET" not in reason
    finally:
        os.unlink(secret)


def test_attack_dev_zero_at_the_submission_path():
    """Own: submission.csv -> /dev/zero (an endless file). Stopped: not a regular file: refused at once."""
    with _open(IMPUTE) as env:
        _call(env, "bash", command="ln -s /dev/zero submission.csv")
        t = time.monotonic()
        _zero(_call(env, "submit"), "symlink", "device", "regular file", "outside")
        assert time.monotonic() - t < 10


@pytest.mark.docker
def test_attack_salt_hunt_in_the_sandbox():
    """Own: look for the salt itself from the docker sandbox (cache folders, environment, the whole
    filesystem). It is only in the host's cache, so nothing there names it."""
    from agentgym.envs.timeseries.secret import salt

    key = salt().hex()
    with _open(IMPUTE, "docker") as env:
        obs, *_ = _call(env, "bash", command="env; ls -la ~ /root/.cache 2>&1; "
                                             "grep -rs " + key[:16] + " / --exclude-dir=proc --exclude-dir=sys | head -3")
        assert key[:16] not in obs["text"].replace("grep -rs " + key[:16], "")



def test_idiom_runner_reports_no_false_alarm_on_the_references():
    """The references of every translation pass under the run-time check (no false alarm)."""
    for task in [t for t in SPECS if t.startswith("eng-translate-")]:
        with _open(task) as env:
            for path, text in env.instance.reference_files.items():
                _call(env, "write_file", path=path, content=text)
            _obs, reward, terminated, _t, info = _call(env, "submit")
            assert terminated and reward == 1.0, (task, info.get("agent_failure"), info["tool_results"])


def test_outputs_json_parse_is_bounded():
    """Own: a runner output nested deep or with huge numbers is read with guard.parse_json limits."""
    from agentgym.envs.timeseries.grading import SubmissionError
    from agentgym.envs.timeseries.translate import score_outputs

    inst = build(SPECS[ROLLING])
    for data in (b"[" * 50_000 + b"]" * 50_000, json.dumps([{"id": "c00", "values": [int("9" * 200)]}]).encode()):
        with pytest.raises(SubmissionError):
            score_outputs(inst, data)


def test_attack_million_column_header():
    """Own: a 2 MB submission whose header has a million columns (pandas would build a frame of a
    million columns before the column check). Stopped: the header is counted before parsing."""
    with _open(IMPUTE) as env:
        _call(env, "bash", command="python3 -c \"print('id,value' + ',x' * 1000000); print('a,1' + ',0' * 1000000)\" "
                                   "> submission.csv")
        t = time.monotonic()
        _zero(_call(env, "submit"), "wrong columns")
        assert time.monotonic() - t < 10


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
    with _open(SES) as env:
        _submit_module(env, "smoothing.py", src, "No such file")
    with _open(SES) as env:
        _submit_module(env, "smoothing.py", src.replace('_HAVE = np.ma.core.builtins.open("cases.json").read()  # gone: '
                                                        'the runner read it and removed it\n', ""),
                       "importing the module ran")
