"""Translation tasks (idiom checks, fresh-sandbox runs on hidden inputs) and model-artifact tasks
(npz and JSON read without executing anything, applied by the grader at rolling origins)."""

import io
import json
import pickle
import sys
import uuid

import numpy as np
import pandas as pd
import pytest

from agentgym.envs.timeseries import solutions as S
from agentgym.envs.timeseries.artifacts import ar_forecast, grade_artifact, read_artifact
from agentgym.envs.timeseries.builders import build
from agentgym.envs.timeseries.catalog import all_specs
from agentgym.envs.timeseries.engineering import check_format
from agentgym.envs.timeseries.env import TimeSeriesEnv
from agentgym.envs.timeseries.grading import SubmissionError
from agentgym.envs.timeseries.translate import ROUTINES, expected_outputs, make_cases

SPECS = {s.id: s for s in all_specs()}
TRANSLATE = [s.id for s in SPECS.values() if s.variant == "translate"]
ARTIFACT = [s.id for s in SPECS.values() if s.variant == "artifact"]


def test_catalog_has_translation_and_artifact_tasks():
    assert len(TRANSLATE) >= 3 and len(ARTIFACT) >= 2
    assert {SPECS[t].params.get("format") for t in ARTIFACT} == {"npz", "json"}
    assert all(SPECS[t].pass_reward == 1.0 for t in TRANSLATE)  # a translation is right on every input or not


@pytest.mark.parametrize("routine", sorted(ROUTINES))
def test_both_idioms_of_every_routine_agree(routine):
    r = ROUTINES[routine]
    cases = make_cases(routine, 12345, 12)
    targets = [np.asarray(r.target(np.asarray(c["y"]), **c["params"]), dtype=float) for c in cases]
    for exp, got in zip(expected_outputs(r, cases), targets):
        assert exp.shape == got.shape
        np.testing.assert_allclose(got, exp, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("task_id", TRANSLATE)
def test_the_source_copied_verbatim_fails_the_idiom_check_and_the_reference_passes(task_id):
    inst = build(SPECS[task_id])
    path = inst.submission.path
    legacy = inst.public_files[f"legacy_{path}"]
    assert inst.public_files[path] == legacy  # the submission starts as the source
    ok, msg = check_format(inst, legacy.encode())
    assert not ok and msg.startswith(f"invalid submission: {path}: line ")
    ok, msg = check_format(inst, inst.reference_files[path].encode())
    assert ok and msg.endswith("is written in the target idiom. (Format only.)")
    assert "cases.json" not in inst.public_files and all(json.dumps(c) not in json.dumps(inst.public_files)
                                                          for c in json.loads(inst.hidden_inputs["cases.json"])[:2])


SES_HEAD = "import numpy as np\nimport pandas as pd\n\n\n"


@pytest.mark.parametrize("body, message", [
    ("def smooth(y, alpha):\n    out = [v for v in y]\n    return pd.Series(out).ewm(alpha=alpha).mean()\n",
     "smoothing.py: line 6: a list comprehension; the target idiom is pandas: Series.ewm, no Python loops or comprehensions"),
    ("def smooth(y, alpha):\n    while False:\n        pass\n    return pd.Series(y).ewm(alpha=alpha).mean()\n",
     "smoothing.py: line 6: a while loop; the target idiom is pandas: Series.ewm, no Python loops or comprehensions"),
    ("def smooth(y, alpha):\n    return pd.Series(y).rolling(2).mean()\n",
     "smoothing.py: never calls ewm(); the target idiom is pandas: Series.ewm, no Python loops or comprehensions"),
    ("def smooth(y, alpha):\n    return exec('x = 1') or pd.Series(y).ewm(alpha=alpha).mean()\n",
     "smoothing.py: line 6: exec is not allowed in a translation"),
    ("def smooth(y, alpha):\n    return smooth(y[1:], alpha) if len(y) > 9 else pd.Series(y).ewm(alpha=alpha).mean()\n",
     "smoothing.py: line 5: smooth() calls itself; the target idiom is pandas: Series.ewm, no Python loops or comprehensions"),
    ("def smooth(y, alpha):\n    return np.array(list(map(float, pd.Series(y).ewm(alpha=alpha).mean())))\n",
     "smoothing.py: line 6: map() is a loop in disguise; the target idiom is pandas: Series.ewm, no Python loops or "
     "comprehensions"),
    ("import importlib\n\ndef smooth(y, alpha):\n    return pd.Series(y).ewm(alpha=alpha).mean()\n",
     "smoothing.py: line 5: imports 'importlib'; the target idiom is pandas: Series.ewm, no Python loops or "
     "comprehensions (allowed imports: math, numpy, pandas)"),
])
def test_idiom_violations_have_exact_messages(body, message):
    inst = build(SPECS["eng-translate-ses-numpy-to-pandas"])
    ok, msg = check_format(inst, (SES_HEAD + body).encode())
    assert (ok, msg) == (False, f"invalid submission: {message}")


def test_numpy_targets_reject_pandas_and_statsmodels():
    inst = build(SPECS["eng-translate-ar-statsmodels-to-numpy"])
    src = "import numpy as np\nfrom sklearn.linear_model import LinearRegression\n\ndef ar_forecast(y, lags, horizon):\n    pass\n"
    ok, msg = check_format(inst, src.encode())
    assert not ok and "line 2: imports 'sklearn.linear_model'" in msg and "(allowed imports: math, numpy)" in msg


def _step(env, name, **arguments):
    obs, reward, term, trunc, info = env.step({"name": name, "arguments": arguments})
    return obs["text"], reward, term, info


def test_translation_runs_in_a_fresh_sandbox_on_hidden_inputs(runtime, tmp_path):
    marker = tmp_path / f"imported-{uuid.uuid4().hex}"
    env = TimeSeriesEnv(runtime=runtime, tasks="engineering")
    try:
        env.reset(options={"task_id": "eng-translate-ses-numpy-to-pandas"})
        assert "legacy_smoothing.py" in env.instance.statement
        # right idiom, wrong semantics (adjust=True weights differ): runs, matches only the edge cases
        # (one point; alpha = 1) that a copy of y matches too, so it earns nothing
        wrong = SES_HEAD + "def smooth(y, alpha):\n    return pd.Series(y).ewm(alpha=alpha).mean().to_numpy()\n"
        _step(env, "write_file", path="smoothing.py", content=wrong)
        rep = env.grade()
        assert rep.valid and rep.score == 0.25 and rep.reward == 0.0 and not rep.passed
        assert rep.message == ("2/8 hidden inputs match the legacy routine (trivial outputs match 25%; reward counts "
                               "from there); hidden input c02: values differ from the legacy routine's")
        # a module that raises is a failed case, with the error, not a crash of the grader
        _step(env, "write_file", path="smoothing.py", content=SES_HEAD + "def smooth(y, alpha):\n    raise KeyError('nope')\n"
                                                                          "    return pd.Series(y).ewm(alpha=alpha)\n")
        rep = env.grade()
        assert rep.valid and rep.reward == 0.0 and "hidden input c00: raised KeyError: 'nope'" in rep.message
        # the reference, plus a line that writes a file at import: the run-time check stops the run
        # in the fresh sandbox (no writes during grading), and nothing was imported here
        good = env.instance.reference_files["smoothing.py"]
        evil = good + f"\ntry:\n    open({str(marker)!r}, 'a').write('imported\\n')\nexcept OSError:\n    pass\n"
        _step(env, "write_file", path="smoothing.py", content=evil)
        assert "is written in the target idiom" in _step(env, "validate_submission")[0] and not marker.exists()
        rep = env.grade()
        assert not rep.valid and "a file was opened for writing during grading" in rep.message, rep.message
        assert not marker.exists() and "smoothing" not in sys.modules
        _step(env, "write_file", path="smoothing.py", content=good)
        text, reward, term, info = _step(env, "submit")
        assert term and reward == 1.0 and info["tool_results"][-1]["grade"]["passed"], text
        assert "smoothing" not in sys.modules
    finally:
        env.close()


def test_translation_null_submissions_earn_nothing():
    env = TimeSeriesEnv(runtime="local", tasks="engineering")
    try:
        env.reset(options={"task_id": "eng-translate-rolling-pandas-to-numpy"})
        text, reward, *_ = _step(env, "submit")  # the source, unchanged
        assert reward == 0.0 and "features.py: line 2: imports 'pandas'" in text
        env.reset(options={"task_id": "eng-translate-rolling-pandas-to-numpy"})
        _step(env, "bash", command="rm features.py")
        text, reward, *_ = _step(env, "submit")
        assert reward == 0.0 and "features.py does not exist" in text
    finally:
        env.close()


# ---- model artifacts --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def npz_task():
    return build(SPECS["eng-artifact-npz-d"])


def _reference_bytes(inst, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name, text in inst.public_files.items():
        (tmp_path / name).write_text(text)
    S.write_ar_model(json.loads(inst.public_files["task.json"]))
    return (tmp_path / inst.submission.path).read_bytes()


def _npz(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_npz_reference_passes_and_trivial_coefficients_earn_nothing(npz_task, tmp_path, monkeypatch):
    inst = npz_task
    rep = grade_artifact(inst, _reference_bytes(inst, tmp_path, monkeypatch))
    assert rep.valid and rep.reward == pytest.approx(1.0) and rep.passed and "beats_best_baseline" in rep.medals
    shape = (len(inst.context["series"]), 2 + 2 * 2 + 2)
    train = pd.read_csv(io.StringIO(inst.public_files["train.csv"]))
    naive = np.zeros(shape)
    naive[:, 6] = 1.0  # y[t] = y[t-1]: the last value, repeated
    mean = np.zeros(shape)
    mean[:, 0] = train.groupby("series_id")["value"].mean().loc[inst.context["series"]].to_numpy()
    for name, coef in {"zeros": np.zeros(shape), "naive_last": naive, "train_mean": mean}.items():
        rep = grade_artifact(inst, _npz(coef=coef))
        assert rep.valid and rep.reward == 0.0 and not rep.passed and "beats_naive" not in rep.medals, name


def test_npz_layout_is_the_documented_one(npz_task):
    # intercept 2 + trend 0.5 * t, no seasonality, no lags: forecasts are exactly that line
    coef = np.array([2.0, 0.5, 0, 0, 0, 0, 0, 0])
    f = ar_forecast(np.zeros(100), coef, 7, 2, [1, 2], 3)
    np.testing.assert_allclose(f, [52.0, 52.5, 53.0])
    coef = np.array([0, 0, 1.0, 0, 0, 0, 0.5, 0])  # sin(2 pi t / 7) + 0.5 y[t-1]
    f = ar_forecast(np.array([0.0] * 9 + [4.0]), coef, 7, 2, [1, 2], 1)
    assert f[0] == pytest.approx(np.sin(2 * np.pi * 10 / 7) + 2.0)
    assert "1 (intercept), t, sin(2*pi*1*t/7), cos(2*pi*1*t/7), sin(2*pi*2*t/7), cos(2*pi*2*t/7), y[t-1], y[t-2]" \
        in npz_task.statement


def test_malformed_npz_artifacts_are_rejected_with_exact_messages(npz_task):
    inst = npz_task
    good = np.zeros((4, 8))
    obj = np.empty((4, 8), dtype=object)
    obj[:] = 0.0
    nan = good.copy()
    nan[1, 3] = np.nan
    npy = io.BytesIO()
    np.save(npy, good)
    cases = {
        pickle.dumps({"coef": good}): "model.npz is a pickle; pickles are never loaded. Save with np.savez('model.npz', coef=coef)",
        npy.getvalue(): "model.npz is a bare .npy array; save an .npz archive: np.savez('model.npz', coef=coef)",
        b"coef = 1, 2, 3": "model.npz is not an .npz archive (numpy.savez writes one)",
        _npz(coef=obj): "model.npz: 'coef' holds Python objects (dtype object); only float64 arrays are accepted",
        _npz(weights=good): "model.npz must hold exactly one array named 'coef'; it holds ['weights']",
        _npz(coef=good, extra=good): "model.npz must hold exactly one array named 'coef'; it holds ['coef', 'extra']",
        _npz(coef=good[:, :7]): "model.npz: 'coef' has shape (4, 7); expected (4, 8)",
        _npz(coef=good.astype(np.float32)): "model.npz: 'coef' has dtype float32; expected float64",
        _npz(coef=nan): "model.npz: 'coef' holds NaN or inf at [1, 3]; every value must be finite",
        b"PK" + b"\0" * (2 * 1024 * 1024): "model.npz is 2097154 bytes; the limit is 1048576",
    }
    for data, message in cases.items():
        with pytest.raises(SubmissionError) as err:
            read_artifact(inst, data)
        assert str(err.value) == message
        ok, msg = check_format(inst, data)
        assert (ok, msg) == (False, f"invalid submission: {message}")
    with pytest.raises(SubmissionError, match=r"^model.npz does not exist$"):
        read_artifact(inst, None)


@pytest.fixture(scope="module")
def json_task():
    return build(SPECS["eng-artifact-json-h"])


def test_json_artifact_reference_passes_and_agent_chosen_layouts_are_applied(json_task, tmp_path, monkeypatch):
    inst = json_task
    data = _reference_bytes(inst, tmp_path, monkeypatch)
    rep = grade_artifact(inst, data)
    assert rep.valid and rep.reward == pytest.approx(1.0) and rep.passed
    # another layout (1 harmonic, lags 1 and 24) fitted the same way is read and applied as written
    train = pd.read_csv(io.StringIO(inst.public_files["train.csv"]))
    series = {}
    for sid, g in train.groupby("series_id"):
        c = S.fit_linear_ar(g["value"].to_numpy(), 24, 1, [1, 24])
        series[sid] = {"intercept": c[0], "trend": c[1], "seasonal": list(c[2:4]), "ar": list(c[4:])}
    model = {"model": "linear_ar", "harmonics": 1, "lags": [1, 24], "series": series}
    rep = grade_artifact(inst, json.dumps(model).encode())
    assert rep.valid and rep.reward > 0.3
    # the last value repeated earns nothing
    naive = {sid: {"intercept": 0, "trend": 0, "seasonal": [], "ar": [1.0]} for sid in series}
    rep = grade_artifact(inst, json.dumps({"model": "linear_ar", "harmonics": 0, "lags": [1], "series": naive}).encode())
    assert rep.valid and rep.reward == 0.0


def test_malformed_json_artifacts_are_rejected_with_exact_messages(json_task):
    inst = json_task
    sids = inst.context["series"]
    ok = {"intercept": 1.0, "trend": 0.0, "seasonal": [0.0, 0.0], "ar": [0.5]}

    def model(**kw):
        m = {"model": "linear_ar", "harmonics": 1, "lags": [1], "series": {s: dict(ok) for s in sids}}
        m.update(kw)
        return json.dumps(m).encode()

    first = sids[0]
    cases = {
        b"{not json": "model.json is not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        model().replace(b'"intercept": 1.0', b'"intercept": NaN', 1): "model.json is not valid JSON: NaN is not allowed",
        model(extra=1): "model.json: extra: Extra inputs are not permitted",
        model(model="pickle"): "model.json: model: Input should be 'linear_ar'",
        model(lags=[1, 1]): "model.json: lags: must be distinct, got [1, 1]",
        model(lags=[True]): "model.json: lags.0: Input should be a valid integer",
        model(lags=[0]): "model.json: lags.0: Input should be greater than or equal to 1",
        model(series={s: ok for s in sids[1:]}): f"model.json: series: missing ['{first}'], unexpected []; expected exactly {sids}",
        model(series={**{s: ok for s in sids}, first: {**ok, "ar": [0.5, 0.1]}}):
            f"model.json: series.{first}.ar: 2 weights for 1 lags",
        model(series={**{s: ok for s in sids}, first: {**ok, "seasonal": [0.0]}}):
            f"model.json: series.{first}.seasonal: 1 weights; harmonics 1 needs 2",
        model(series={**{s: ok for s in sids}, first: {**ok, "trend": "0.1"}}):
            f"model.json: series.{first}.trend: Input should be a valid number",
    }
    for data, message in cases.items():
        with pytest.raises(SubmissionError) as err:
            read_artifact(inst, data)
        assert str(err.value) == message
    assert check_format(inst, model())[0]
