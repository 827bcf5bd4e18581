"""The grader: runs on the host, outside every sandbox. It reads submission BYTES (never imports or
unpickles them), validates the schema strictly with precise messages, scores per series against
the hidden answers, and turns the score into a reward between the best trivial predictor (0)
and the reference (1). Code submissions run in a FRESH sandbox on hidden inputs (run_module)."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd

from agentgym.envs.timeseries import metrics as M
from agentgym.envs.timeseries.models import GradeReport, SubmissionSpec, TaskInstance

MAX_SUBMISSION_BYTES = 20 * 1024 * 1024
_SHOWN = 3


class SubmissionError(ValueError):
    """A malformed submission; the message says exactly what is wrong and is shown to the agent."""


def read_bounded(sandbox, path: str, limit: int = MAX_SUBMISSION_BYTES) -> bytes:
    """sandbox.read_file(path) with a size limit the sandbox checks before reading, with the type
    (regular files only): a FIFO, a device, a symlink out or an oversized (even sparse) file is
    refused at once as an AgentFault (SandboxFileRefused), never read whole into this process."""
    try:
        return sandbox.read_file(path, max_bytes=limit)
    except TypeError:  # a backend without the keyword: its own default limit applies
        return sandbox.read_file(path)


def _ids(values: list[str]) -> str:
    return ", ".join(repr(v) for v in values[:_SHOWN]) + (", ..." if len(values) > _SHOWN else "")


def parse_csv(data: bytes, spec: SubmissionSpec, expected_ids: list[str]) -> pd.DataFrame:
    """Strictly parse a CSV submission: exact columns, exact id set, finite numbers, 0/1, labels."""
    if len(data) > MAX_SUBMISSION_BYTES:
        raise SubmissionError(f"{spec.path} is {len(data)} bytes; the limit is {MAX_SUBMISSION_BYTES}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SubmissionError(f"{spec.path} is not UTF-8 text") from None
    if not text.strip():
        raise SubmissionError(f"{spec.path} is empty; expected a header line: {','.join(spec.columns)}")
    header = text.lstrip()[:4096].split("\n", 1)[0]
    if header.count(",") > 4 * len(spec.columns) + 8:  # a header of a million columns is refused unparsed
        raise SubmissionError(f"wrong columns: expected {spec.columns}, got a header of {header.count(',') + 1}+ fields")
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, ValueError) as exc:
        raise SubmissionError(f"{spec.path} is not valid CSV: {str(exc).strip()}") from None
    got = [str(c).strip() for c in df.columns]
    if sorted(got) != sorted(spec.columns) or len(set(got)) != len(got):
        raise SubmissionError(f"wrong columns: expected {spec.columns}, got {got}")
    df.columns = got
    ids = df["id"].str.strip()
    dup = ids[ids.duplicated()].unique().tolist()
    if dup:
        raise SubmissionError(f"duplicate ids: {_ids(dup)} ({len(dup)} in all)")
    want = set(expected_ids)
    have = set(ids)
    missing = [i for i in expected_ids if i not in have]
    if missing:
        raise SubmissionError(f"missing {len(missing)} of {len(want)} ids: {_ids(missing)}")
    extra = sorted(have - want)
    if extra:
        raise SubmissionError(f"unexpected ids (not in the task): {_ids(extra)} ({len(extra)} in all)")
    out = pd.DataFrame({"id": ids.to_numpy()})
    for col in spec.columns[1:]:
        raw = df[col].str.strip()
        if col in spec.numeric or col in spec.binary:
            vals = pd.to_numeric(raw, errors="coerce")
            bad = vals.isna() & ~raw.str.lower().isin(["nan"])
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise SubmissionError(f"column {col!r}: {raw.iloc[i]!r} at id {ids.iloc[i]!r} is not a number")
            nonfinite = ~np.isfinite(vals.to_numpy(dtype=float))
            if nonfinite.any():
                i = int(np.flatnonzero(nonfinite)[0])
                raise SubmissionError(f"column {col!r}: NaN or inf at id {ids.iloc[i]!r}; every value must be finite")
            if col in spec.binary and not vals.isin([0, 1]).all():
                i = int(np.flatnonzero(~vals.isin([0, 1]).to_numpy())[0])
                raise SubmissionError(f"column {col!r}: {raw.iloc[i]!r} at id {ids.iloc[i]!r} must be 0 or 1")
            out[col] = vals.to_numpy(dtype=float)
        else:
            if spec.labels and not raw.isin(spec.labels).all():
                i = int(np.flatnonzero(~raw.isin(spec.labels).to_numpy())[0])
                raise SubmissionError(f"column {col!r}: {raw.iloc[i]!r} at id {ids.iloc[i]!r} is not one of {spec.labels}")
            out[col] = raw.to_numpy()
    return out.set_index("id")


# ---- scoring: per series, then the mean ------------------------------------------------------------

def score_frame(task: TaskInstance, sub: pd.DataFrame) -> tuple[float, dict[str, float]]:
    """Score a parsed submission (index id) against the hidden answers. Per-series breakdown."""
    ans = task.answers
    sub = sub.loc[ans.index]
    fam, ctx = task.spec.family, task.context
    per: dict[str, float] = {}
    if task.metric in ("mase", "crps"):
        for sid, idx in ans.groupby("series_id").groups.items():
            a = ans.loc[idx, "value"].to_numpy()
            scale = ctx["scales"][sid]
            if task.metric == "mase":
                per[sid] = M.mase(a, sub.loc[idx, "yhat"].to_numpy(), scale)
            else:
                qs = {float(c[1:]): sub.loc[idx, c].to_numpy() for c in sub.columns if c.startswith("q")}
                per[sid] = M.crps_quantiles(a, qs, scale)
    elif task.metric == "nrmse":
        for sid, idx in ans.groupby("series_id").groups.items():
            per[sid] = M.nrmse(ans.loc[idx, "value"].to_numpy(), sub.loc[idx, "value"].to_numpy(), ctx["scales"][sid])
    elif task.metric == "f1_auc_pr":
        for sid, (f1, ap) in anomaly_parts(ans, sub).items():
            per[sid] = f1 if ap is None else (f1 + ap) / 2
    elif task.metric == "macro_f1":
        return M.macro_f1(ans["label"].to_numpy(), sub["label"].to_numpy(), ctx["classes"]), {}
    else:
        raise ValueError(f"unknown metric {task.metric!r} for family {fam}")
    return float(np.mean(list(per.values()))), per


def anomaly_parts(ans: pd.DataFrame, sub: pd.DataFrame) -> dict[str, tuple[float, float | None]]:
    """Per series: range-based F1 of the 0/1 flags and AUC-PR of the scores (None for a series
    without labelled anomalies, where a ranking has nothing to find)."""
    out: dict[str, tuple[float, float | None]] = {}
    for sid, idx in ans.groupby("series_id").groups.items():
        lab = ans.loc[idx, "label"].to_numpy()
        f1 = M.range_f1(lab, sub.loc[idx, "is_anomaly"].to_numpy())
        out[sid] = (f1, M.auc_pr(lab, sub.loc[idx, "score"].to_numpy()) if lab.any() else None)
    return out


def reward_of(score: float, floor: float, reference: float, lower_is_better: bool) -> float:
    """0 at (or worse than) the best trivial predictor, 1 at (or better than) the reference."""
    span = (floor - reference) if lower_is_better else (reference - floor)
    if not math.isfinite(score) or span <= 0:
        return 0.0
    gain = (floor - score) if lower_is_better else (score - floor)
    return float(min(1.0, max(0.0, gain / span)))


def report_for(task: TaskInstance, score: float, per: dict[str, float], message: str = "scored") -> GradeReport:
    lib = task.lower_is_better
    reward = reward_of(score, task.floor, task.reference, lib)
    better = (lambda a, b: a < b) if lib else (lambda a, b: a > b)
    medals = []
    if better(score, task.floor):
        medals.append("beats_naive")
    if task.baselines and all(better(score, b) for b in task.baselines.values()):
        medals.append("beats_best_baseline")
    if reward >= 0.95:
        medals.append("near_reference")
    return GradeReport(valid=True, message=message, metric=task.metric, score=round(score, 6), lower_is_better=lib,
                       reward=round(reward, 6), passed=reward > 0 and reward >= task.pass_reward - 1e-9,
                       pass_reward=task.pass_reward, medals=medals, baselines=task.baselines, floor=task.floor,
                       reference=task.reference, per_series={k: round(v, 6) for k, v in per.items()})


def invalid_report(task: TaskInstance, message: str) -> GradeReport:
    return GradeReport(valid=False, message=message, metric=task.metric, lower_is_better=task.lower_is_better,
                       pass_reward=task.pass_reward, baselines=task.baselines, floor=task.floor, reference=task.reference)


def grade_csv_bytes(task: TaskInstance, data: bytes | None) -> GradeReport:
    """Validate and score the bytes of a CSV submission (None: the file does not exist)."""
    if data is None:
        return invalid_report(task, f"no submission: {task.submission.path} does not exist")
    try:
        sub = parse_csv(data, task.submission, list(task.answers.index))
    except SubmissionError as exc:
        return invalid_report(task, f"invalid submission: {exc}")
    score, per = score_frame(task, sub)
    report = report_for(task, score, per)
    if task.metric == "f1_auc_pr":  # the two halves of the score, reported beside it
        parts = anomaly_parts(task.answers, sub.loc[task.answers.index])
        aps = [ap for _, ap in parts.values() if ap is not None]
        report.extra["range_f1"] = round(float(np.mean([f1 for f1, _ in parts.values()])), 6)
        if aps:
            report.extra["auc_pr"] = round(float(np.mean(aps)), 6)
    return report


def trivial_scores(task: TaskInstance, candidates: dict[str, pd.DataFrame]) -> dict[str, float]:
    """Scores of trivial predictors (constants, copies of training data) on the hidden answers."""
    return {name: score_frame(task, frame)[0] for name, frame in candidates.items()}
