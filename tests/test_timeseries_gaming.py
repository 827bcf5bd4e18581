"""Gaming checks for every family (issue 7, done-when): constant predictions, copies of the training
data and submissions that leave out series score no better than the naive floor (reward 0), and
hidden answers cannot be read from the agent's sandbox nor from the grader's fresh one.
(The point-forecast and anomaly cases are in test_timeseries_grading.py; artifacts in
test_timeseries_engineering.py.)"""

import io
import json

import numpy as np
import pandas as pd
import pytest

from agentgym.envs.timeseries.builders import build
from agentgym.envs.timeseries.catalog import all_specs
from agentgym.envs.timeseries.env import TimeSeriesEnv
from agentgym.envs.timeseries.grading import grade_csv_bytes

SPECS = {s.id: s for s in all_specs()}


def _csv(df):
    return df.to_csv(index=False).encode()


def _public(inst, name):
    return pd.read_csv(io.StringIO(inst.public_files[name]))


def _nothing(rep, name):
    assert rep.valid and rep.reward == 0.0 and not rep.passed and "beats_naive" not in rep.medals, (name, rep)


def test_classification_random_labels_and_copied_training_labels_earn_nothing():
    inst = build(SPECS["cls-3class-noisy"])
    ids, classes = list(inst.answers.index), inst.context["classes"]
    train_labels = _public(inst, "train.csv")["label"].to_numpy()
    rng = np.random.default_rng(77)
    attempts = {"copy_train_labels": train_labels[:len(ids)], "copy_train_labels_reversed": train_labels[::-1][:len(ids)]}
    attempts.update({f"random_{k}": rng.choice(classes, len(ids)) for k in range(12)})
    attempts.update({f"constant_{c}": np.full(len(ids), c) for c in classes})
    for name, labels in attempts.items():
        _nothing(grade_csv_bytes(inst, _csv(pd.DataFrame({"id": ids, "label": labels}))), name)
    rep = grade_csv_bytes(inst, _csv(pd.DataFrame({"id": ids[1:], "label": classes[0]})))
    assert not rep.valid and rep.message == f"invalid submission: missing 1 of 80 ids: {ids[0]!r}"


def test_imputation_constants_and_copies_earn_nothing():
    inst = build(SPECS["imp-scattered-d-10"])
    data = _public(inst, "data.csv")
    miss = data["value"].isna().to_numpy()
    g = data.groupby("series_id")["value"]
    fills = {"zero": data["value"].fillna(0), "global_mean": data["value"].fillna(data["value"].mean()),
             "series_mean": g.transform(lambda s: s.fillna(s.mean())), "forward_fill": g.ffill(), "backward_fill": g.bfill(),
             "copy_one_period_earlier": g.shift(7).fillna(g.ffill())}
    for name, values in fills.items():
        _nothing(grade_csv_bytes(inst, _csv(pd.DataFrame({"id": data["id"][miss], "value": values[miss]}))), name)
    left_out = data[miss & (data["series_id"] != "s000").to_numpy()]
    rep = grade_csv_bytes(inst, _csv(pd.DataFrame({"id": left_out["id"], "value": 0.0})))
    assert not rep.valid and rep.message.startswith("invalid submission: missing ")


def test_quantile_forecasts_constant_or_copied_at_every_level_earn_nothing():
    inst = build(SPECS["fc-quantile-ms-h12"])
    train, ids = _public(inst, "train.csv"), list(inst.answers.index)
    sids = inst.answers["series_id"].to_numpy()
    last = train.groupby("series_id")["value"].last()
    tail = np.concatenate([g["value"].to_numpy()[-12:] for _, g in train.groupby("series_id", sort=False)])
    spread = train["value"].std()
    attempts = {"constant": np.full(len(ids), train["value"].mean()), "last_value": pd.Series(sids).map(last).to_numpy(),
                "copy_of_training_tail": tail}
    for name, point in attempts.items():
        for width in (0.0, spread):
            frame = pd.DataFrame({"id": ids, "q0.1": point - width, "q0.5": point, "q0.9": point + width})
            _nothing(grade_csv_bytes(inst, _csv(frame)), f"{name} width {width}")


def _step(env, name, **arguments):
    obs, reward, term, trunc, info = env.step({"name": name, "arguments": arguments})
    return obs["text"], reward, term, info


def test_modules_that_predict_constants_or_copies_earn_nothing():
    env = TimeSeriesEnv(runtime="local", tasks="engineering")
    try:
        env.reset(options={"task_id": "eng-repair-period-d"})
        head = "import numpy as np\nimport pandas as pd\n\n\ndef forecast(history, horizon):\n"
        rows = ("    return pd.concat([pd.DataFrame({'series_id': s, 'step': np.arange(1, horizon + 1), 'yhat': {expr}})\n"
                "                      for s, g in history.groupby('series_id', sort=False)])\n")
        for name, expr in {"last_value": "g['value'].iloc[-1]", "copy_last_week": "np.resize(g['value'].to_numpy()[-7:], horizon)",
                           "zero": "0.0"}.items():
            _step(env, "write_file", path="forecaster.py", content=head + rows.replace("{expr}", expr))
            _nothing(env.grade(), name)
        skip = head + rows.replace("{expr}", "g['value'].iloc[-1]").replace("sort=False)", "sort=False) if s != 's000'")
        _step(env, "write_file", path="forecaster.py", content=skip)
        rep = env.grade()
        assert not rep.valid and rep.message.startswith("invalid submission: missing 14 of 56 ids: 's000_h001'")
        env.reset(options={"task_id": "eng-translate-ses-numpy-to-pandas"})
        _step(env, "write_file", path="smoothing.py", content="import numpy as np\nimport pandas as pd\n\n\n"
              "def smooth(y, alpha):\n    return pd.Series(y).ewm(alpha=1.0).mean().to_numpy()\n")  # a copy of y
        rep = env.grade()
        assert rep.valid and rep.score == 0.25 and rep.reward == 0.0 and not rep.passed
    finally:
        env.close()


# ---- hidden answers are out of reach: the agent's sandbox and the grader's fresh one -------------

def _needles(inst):
    """Strings that would only be in the sandbox if hidden answers (or hidden inputs) leaked."""
    fam = inst.spec.family
    if inst.spec.variant == "translate":
        return [f"{v:.6f}".rstrip("0") for v in json.loads(inst.hidden_inputs["cases.json"])[3]["y"][:6]]
    if fam == "classify":
        return [f"{i},{lab}" for i, lab in inst.answers["label"].items()][:6]
    if fam == "anomaly":
        return [f"{i},1" for i in inst.answers.index[inst.answers["label"] == 1]][:6]
    return [f"{v:.4f}".rstrip("0") for v in inst.answers["value"].to_numpy()[:6]]


@pytest.mark.parametrize("task_id", ["fc-synth-d-h7", "cls-3class-clean", "ano-spike-d", "eng-repair-column-d",
                                     "eng-translate-ar-statsmodels-to-numpy", "eng-artifact-npz-d"])
def test_hidden_answers_are_not_readable_from_the_sandbox(runtime, task_id):
    env = TimeSeriesEnv(runtime=runtime, tasks=[task_id])
    try:
        env.reset(options={"task_id": task_id})
        needles = _needles(env.instance)
        assert needles and not any(n in "".join(env.instance.public_files.values()) for n in needles)
        _step(env, "write_file", path="needles/n.txt", content="\n".join(needles) + "\n")
        root = "$AGENTGYM_WORKDIR/.." if runtime == "local" else "/"
        text, *_ = _step(env, "bash", command=f"grep -rlF -f needles/n.txt {root} --exclude-dir=needles --exclude-dir=proc "
                         "--exclude-dir=sys --exclude-dir=usr --exclude-dir=dev 2>/dev/null; echo done")
        assert text.splitlines()[0] == "done", text
    finally:
        env.close()


SNOOP = '''
import os


def _snoop(needles):
    local = os.environ.get("AGENTGYM_WORKDIR")  # set by the local runtime only
    root = os.path.dirname(local) if local else "/"
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if x not in ("proc", "sys", "dev", "usr", "__pycache__")]
        for f in files:
            if f == "forecaster.py":
                continue
            try:
                with open(os.path.join(d, f), "rb") as fh:
                    data = fh.read(1 << 20)
            except OSError:
                continue
            found = [n for n in needles if n.encode() in data]
            if found:
                raise RuntimeError("FOUND " + repr(found) + " in " + os.path.join(d, f))
'''


def test_a_module_cannot_read_the_answers_in_the_grading_sandbox(runtime):
    env = TimeSeriesEnv(runtime=runtime, tasks="engineering")
    try:
        env.reset(options={"task_id": "eng-repair-column-d"})
        needles = _needles(env.instance)  # the hidden FUTURE values (the histories are inputs, in the sandbox)
        good = env.instance.reference_files["forecaster.py"]
        snoop = good.replace('def forecast(history, horizon):\n',
                             f'def forecast(history, horizon):\n    _snoop({needles!r})\n') + SNOOP
        _step(env, "write_file", path="forecaster.py", content=snoop)
        text, reward, term, info = _step(env, "submit")
        assert "FOUND" not in text and info["tool_results"][-1]["grade"]["passed"], text
    finally:
        env.close()
