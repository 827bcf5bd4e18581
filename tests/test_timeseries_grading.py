"""Time-series grader: metrics against hand-computed values, exact schema messages, and gaming
resistance (constant, copied and partial submissions score no better than the naive floor)."""

import math

import numpy as np
import pandas as pd
import pytest

from agentgym.envs.timeseries import metrics as M
from agentgym.envs.timeseries.builders import build
from agentgym.envs.timeseries.catalog import QUICK, all_specs
from agentgym.envs.timeseries.grading import SubmissionError, grade_csv_bytes, parse_csv, reward_of
from agentgym.envs.timeseries.models import SubmissionSpec

SPECS = {s.id: s for s in all_specs()}


def test_catalog_has_at_least_60_tasks_of_every_family():
    fams = {s.family for s in SPECS.values()}
    assert len(SPECS) >= 60 and fams == {"forecast", "classify", "anomaly", "impute", "engineering"}
    assert all(t in SPECS for ids in QUICK.values() for t in ids)


def test_mase_smape_rmse_hand_computed():
    assert M.mase_scale([1, 2, 4, 7]) == pytest.approx((1 + 2 + 3) / 3)
    assert M.mase_scale([1, 5, 1, 5, 1, 5], period=2) == 1.0  # perfectly seasonal -> zero -> guarded to 1
    assert M.mase([1, 2], [2, 4], scale=2.0) == pytest.approx(0.75)
    assert M.smape([100, 0], [110, 0]) == pytest.approx(100 * (2 * 10 / 210) / 2)
    assert M.rmse([0, 0], [3, 4]) == pytest.approx(math.sqrt(12.5))
    assert M.nrmse([0, 0], [3, 4], 2.0) == pytest.approx(math.sqrt(12.5) / 2)


def test_pinball_and_crps_hand_computed():
    assert M.pinball([10], [8], 0.9) == pytest.approx(0.9 * 2)
    assert M.pinball([10], [12], 0.9) == pytest.approx(0.1 * 2)
    crps = M.crps_quantiles([10], {0.1: [8], 0.9: [12]})
    assert crps == pytest.approx(2 * (0.1 * 2 + 0.1 * 2) / 2)
    # a point forecast at every level equals the MAE: no shortcut through quantiles
    assert M.crps_quantiles([1, 2], {0.1: [2, 2], 0.5: [2, 2], 0.9: [2, 2]}) == pytest.approx(0.5)


def test_range_scores_hand_computed():
    true = [0, 1, 1, 1, 1, 0, 0, 0, 1, 1]
    pred = [0, 0, 0, 1, 1, 1, 0, 0, 0, 0]
    p, r = M.range_precision_recall(true, pred)
    assert p == pytest.approx(2 / 3)                      # 2 of the 3 predicted points are inside
    assert r == pytest.approx(((0.5 + 0.5 * 0.5) + 0) / 2)  # first range half covered, second missed
    assert M.range_f1(true, pred) == pytest.approx(2 * p * r / (p + r))
    assert M.range_f1(true, [0] * 10) == 0.0
    assert M.ranges_from_labels([1, 1, 0, 1]) == [(0, 2), (3, 4)]


def test_auc_pr_and_classification_hand_computed():
    assert M.auc_pr([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(0.5 * 1 + 0.5 * (2 / 3))
    assert M.auc_pr([1, 0, 1, 0], [0.5] * 4) == pytest.approx(0.5)  # constant score = prevalence
    assert M.accuracy(["a", "b", "b"], ["a", "b", "a"]) == pytest.approx(2 / 3)
    # class a: tp1 fp1 fn0 -> 2/3; class b: tp1 fp0 fn1 -> 2/3
    assert M.macro_f1(["a", "b", "b"], ["a", "b", "a"]) == pytest.approx(2 / 3)


def test_reward_normalisation():
    assert reward_of(1.0, floor=1.0, reference=0.5, lower_is_better=True) == 0.0
    assert reward_of(0.75, floor=1.0, reference=0.5, lower_is_better=True) == pytest.approx(0.5)
    assert reward_of(0.1, floor=1.0, reference=0.5, lower_is_better=True) == 1.0
    assert reward_of(0.9, floor=0.1, reference=0.9, lower_is_better=False) == 1.0
    assert reward_of(float("nan"), floor=1.0, reference=0.5, lower_is_better=True) == 0.0


SPEC = SubmissionSpec(kind="csv", path="submission.csv", columns=["id", "yhat"], numeric=["yhat"])
IDS = ["a_h001", "a_h002", "b_h001"]


@pytest.mark.parametrize("text, message", [
    ("id,yhat\na_h001,1\na_h002,2\n", "missing 1 of 3 ids: 'b_h001'"),
    ("id,yhat\na_h001,1\na_h002,2\nb_h001,3\nzz,4\n", "unexpected ids (not in the task): 'zz' (1 in all)"),
    ("id,yhat\na_h001,1\na_h002,nan\nb_h001,3\n", "column 'yhat': NaN or inf at id 'a_h002'; every value must be finite"),
    ("id,yhat\na_h001,1\na_h002,inf\nb_h001,3\n", "column 'yhat': NaN or inf at id 'a_h002'; every value must be finite"),
    ("id,yhat\na_h001,1\na_h002,abc\nb_h001,3\n", "column 'yhat': 'abc' at id 'a_h002' is not a number"),
    ("id,yhat\na_h001,1\na_h002,\nb_h001,3\n", "column 'yhat': '' at id 'a_h002' is not a number"),
    ("id,value\na_h001,1\na_h002,2\nb_h001,3\n", "wrong columns: expected ['id', 'yhat'], got ['id', 'value']"),
    ("id,yhat\na_h001,1\na_h001,2\nb_h001,3\n", "duplicate ids: 'a_h001' (1 in all)"),
    ("", "submission.csv is empty; expected a header line: id,yhat"),
])
def test_schema_errors_have_exact_messages(text, message):
    with pytest.raises(SubmissionError) as err:
        parse_csv(text.encode(), SPEC, IDS)
    assert str(err.value) == message


def test_binary_and_label_columns_are_checked():
    spec = SubmissionSpec(kind="csv", path="s.csv", columns=["id", "is_anomaly", "score"], numeric=["score"], binary=["is_anomaly"])
    with pytest.raises(SubmissionError, match=r"column 'is_anomaly': '2' at id 'x' must be 0 or 1"):
        parse_csv(b"id,is_anomaly,score\nx,2,0.5\n", spec, ["x"])
    spec = SubmissionSpec(kind="csv", path="s.csv", columns=["id", "label"], labels=["a", "b"])
    with pytest.raises(SubmissionError, match=r"column 'label': 'c' at id 'x' is not one of \['a', 'b'\]"):
        parse_csv(b"id,label\nx,c\n", spec, ["x"])
    assert parse_csv(b"label,id\nb,x\n", spec, ["x"]).loc["x", "label"] == "b"  # column order is free


def _csv(df):
    return df.to_csv(index=False).encode()


def test_forecast_gaming_scores_no_better_than_naive():
    inst = build(SPECS["fc-synth-d-h7"])
    ids = list(inst.answers.index)
    train = pd.read_csv(pd.io.common.StringIO(inst.public_files["train.csv"]))
    series = inst.answers["series_id"]
    means = train.groupby("series_id")["value"].mean()
    last = train.groupby("series_id")["value"].last()
    attempts = {
        "zeros": pd.DataFrame({"id": ids, "yhat": 0.0}),
        "global_constant": pd.DataFrame({"id": ids, "yhat": train["value"].mean()}),
        "series_mean": pd.DataFrame({"id": ids, "yhat": series.map(means).to_numpy()}),
        "last_value": pd.DataFrame({"id": ids, "yhat": series.map(last).to_numpy()}),
        "copy_of_training_tail": pd.DataFrame({"id": ids, "yhat": np.concatenate(
            [g["value"].to_numpy()[-7:] for _, g in train.groupby("series_id", sort=False)])}),
    }
    for name, frame in attempts.items():
        rep = grade_csv_bytes(inst, _csv(frame))
        assert rep.valid and rep.reward == 0.0 and not rep.passed, (name, rep)
        assert "beats_naive" not in rep.medals
    # leaving out the hardest series is not skipped: the whole submission fails
    per = grade_csv_bytes(inst, _csv(attempts["last_value"])).per_series
    hardest = max(per, key=per.get)
    partial = attempts["last_value"][series.to_numpy() != hardest]
    rep = grade_csv_bytes(inst, _csv(partial))
    assert not rep.valid and rep.reward == 0.0 and rep.message.startswith("invalid submission: missing 7 of")
    assert grade_csv_bytes(inst, None).message == "no submission: submission.csv does not exist"


def test_reference_scores_one_and_is_near_reference():
    from agentgym.envs.timeseries import solutions as S

    inst = build(SPECS["imp-blocks-ms-20"])
    data = pd.read_csv(pd.io.common.StringIO(inst.public_files["data.csv"]))
    rep = grade_csv_bytes(inst, _csv(S.impute(data, 12)))
    assert rep.valid and rep.passed and rep.reward == pytest.approx(1.0) and "near_reference" in rep.medals
    assert set(rep.per_series) == set(inst.answers["series_id"])


def test_anomaly_and_classification_gaming():
    ano = build(SPECS["ano-spike-d"])
    ids = list(ano.answers.index)
    for flag in (0, 1):
        rep = grade_csv_bytes(ano, _csv(pd.DataFrame({"id": ids, "is_anomaly": flag, "score": 0.5})))
        assert rep.valid and rep.reward == 0.0
    cls = build(SPECS["cls-3class-clean"])
    for c in cls.context["classes"]:
        rep = grade_csv_bytes(cls, _csv(pd.DataFrame({"id": list(cls.answers.index), "label": c})))
        assert rep.valid and rep.reward == 0.0


def test_builds_are_deterministic_and_answers_stay_out_of_public_files():
    from agentgym.envs.timeseries import builders as B

    a, b = build(SPECS["imp-scattered-d-10"]), SPECS["imp-scattered-d-10"]
    B._CACHE.clear()
    fresh = build(b.model_copy())  # rebuilt on this install (same salt): identical
    assert fresh.public_files == a.public_files and fresh.answers.equals(a.answers)
    public_seed_only = B.BUILDERS["impute"](b)  # the published seed alone (issue 13): other data
    assert public_seed_only.public_files["data.csv"] != a.public_files["data.csv"]
    public = "".join(a.public_files.values())
    hidden_values = [repr(v) for v in a.answers["value"].to_numpy()[:20]]
    assert not any(v in public for v in hidden_values)


def test_anomaly_reward_uses_range_f1_and_auc_pr():
    ano = build(SPECS["ano-spike-d"])
    ids, labels = list(ano.answers.index), ano.answers["label"].to_numpy()
    sub = lambda flags, score: _csv(pd.DataFrame({"id": ids, "is_anomaly": flags, "score": score}))  # noqa: E731
    perfect = grade_csv_bytes(ano, sub(labels, labels.astype(float)))
    assert perfect.extra == {"range_f1": 1.0, "auc_pr": 1.0} and perfect.score == pytest.approx(1.0) and perfect.passed
    # right flags, uninformative scores: only the F1 half counts (constant score: AUC-PR = prevalence)
    flags_only = grade_csv_bytes(ano, sub(labels, 0.0))
    prevalence = np.mean([g.mean() for _, g in ano.answers.groupby("series_id")["label"]])
    assert flags_only.extra["range_f1"] == 1.0 and flags_only.extra["auc_pr"] == pytest.approx(prevalence, abs=1e-6)
    assert flags_only.score == pytest.approx((1 + prevalence) / 2, abs=1e-6) and 0 < flags_only.reward < perfect.reward
    # right ranking, no flags: only the AUC-PR half counts
    scores_only = grade_csv_bytes(ano, sub(0, labels.astype(float)))
    assert scores_only.extra == {"range_f1": 0.0, "auc_pr": 1.0} and scores_only.score == pytest.approx(0.5)
    assert 0 < scores_only.reward < perfect.reward


@pytest.mark.parametrize("task_id", ["ano-spike-d", "ano-variance-flatline-d", "ano-spike-levelshift-variance-flatline-w-mon"])
def test_anomaly_constant_all_ones_and_random_submissions_earn_nothing(task_id):
    from agentgym.envs.timeseries import solutions as S

    ano = build(SPECS[task_id])
    ids = list(ano.answers.index)
    n = len(ids)
    rng = np.random.default_rng(2024)
    attempts = {"none_constant": (0, 0.5), "all_ones_constant": (1, 1.0), "all_ones_zero": (1, 0.0),
                "index_as_score": (0, np.arange(n, dtype=float))}
    for k in range(24):
        rate = (0.01, 0.05, 0.3, 0.6)[k % 4]
        attempts[f"random_{k}"] = ((rng.random(n) < rate).astype(int), rng.random(n))
    series = pd.read_csv(pd.io.common.StringIO(ano.public_files["series.csv"]))
    attempts["copy_of_values"] = (0, series["value"].to_numpy())  # the raw series as the score
    for name, (flags, score) in attempts.items():
        rep = grade_csv_bytes(ano, _csv(pd.DataFrame({"id": ids, "is_anomaly": flags, "score": score})))
        if name == "copy_of_values":
            assert rep.valid and rep.score < ano.reference
            continue
        assert rep.valid and rep.reward == 0.0 and not rep.passed and "beats_naive" not in rep.medals, (name, rep)
    ref = grade_csv_bytes(ano, _csv(S.detect(series, ano.context["period"])))
    assert ref.passed and ref.reward == pytest.approx(1.0)
    # a submission that leaves out a series is rejected whole
    sid = ano.answers["series_id"].iloc[0]
    partial = S.detect(series[series["series_id"] != sid], ano.context["period"])
    rep = grade_csv_bytes(ano, _csv(partial))
    assert not rep.valid and rep.reward == 0.0 and rep.message.startswith("invalid submission: missing 300 of 1200 ids")
