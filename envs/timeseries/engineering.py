"""Engineering tasks: repair a broken forecasting module (graded by running it in a FRESH sandbox
on hidden inputs), tune a model's hyperparameters (a JSON config the host reads with pydantic
and evaluates with its own code), translate a routine between library idioms (translate.py) and
hand in a fitted model as a safe artifact (artifacts.py). The grader never imports, execs or
unpickles agent files in its own process: a module's source is only ast-parsed here, and runs
only in the fresh sandbox."""

from __future__ import annotations

import ast
import inspect

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentgym.envs.timeseries import generators as G
from agentgym.envs.timeseries import metrics as M
from agentgym.envs.timeseries import solutions as S
from agentgym.envs.timeseries.builders import _csv, _ets, _finish, _split, _trivial_forecasts
from agentgym.envs.timeseries.idiom_runner import EXIT_VIOLATION, VIOLATION
from agentgym.guard import AgentFault, parse_json, parse_python
from agentgym.envs.timeseries.grading import SubmissionError, parse_csv, read_bounded, report_for, score_frame
from agentgym.envs.timeseries.models import GradeReport, SubmissionSpec, TaskInstance, TaskSpec
from agentgym.sandbox import SandboxSpec
from agentgym.sandbox.factory import make_sandbox

RUN_TIMEOUT_S = 120
MAX_OUTPUT_BYTES = 20 * 1024 * 1024
MAX_MODULE_BYTES = 1024 * 1024
MAX_CONFIG_BYTES = 64 * 1024
_MODEL_SRC = inspect.getsource(S._design) + "\n\n" + inspect.getsource(S.fit_predict)

_FORECASTER = '''"""Forecast every series of `history` (series_id, timestamp, value) `horizon` steps ahead."""
import numpy as np
import pandas as pd

PERIOD = {period}


{model}


def forecast(history, horizon):
    """Return a DataFrame with columns series_id, step (1..horizon), yhat."""
    rows = []
    for sid, g in history.groupby("series_id", sort=False):
        g = g.sort_values({sort_key})
        point, _ = fit_predict(g[{column}].to_numpy(), {period_expr}, horizon)
        rows.append(pd.DataFrame({{"series_id": sid, "step": np.arange({step_start}, horizon + {step_start}), "yhat": point}}))
    return pd.concat(rows, ignore_index=True)
'''

_RUNNER = '''import sys, traceback
import pandas as pd
sys.path.insert(0, ".")
try:
    import forecaster
    hist = pd.read_csv("history.csv", parse_dates=["timestamp"])
    out = pd.DataFrame(forecaster.{function}(hist, {horizon}))
    ids = out["series_id"].astype(str) + "_h" + out["step"].astype(int).astype(str).str.zfill(3)
    pd.DataFrame({{"id": ids, "yhat": out["yhat"]}}).to_csv("predictions.csv", index=False)
except BaseException:
    traceback.print_exc(limit=-4)
    sys.exit(1)
'''


def forecaster_source(period: int, bug: str | None) -> str:
    """The module agents repair: correct when bug is None."""
    return _FORECASTER.format(period=period, model=_MODEL_SRC,
                              sort_key='"value"' if bug == "period" else '"timestamp"',
                              column='"Value"' if bug == "column" else '"value"',
                              period_expr="1" if bug == "period" else "PERIOD",
                              step_start=0 if bug == "offbyone" else 1)


class TuneConfig(BaseModel):
    """The model artifact of tuning tasks: plain JSON, validated, evaluated by the host's own code."""

    model_config = ConfigDict(extra="forbid", strict=True)
    window: int = Field(ge=4, le=5000, description="how many recent points the model is fitted on")
    harmonics: int = Field(ge=0, le=4, description="Fourier pairs of the seasonal period")
    trend: bool = Field(description="fit a linear trend")


def _tune_predict(train: pd.DataFrame, future: pd.DataFrame, period: int, cfg: TuneConfig) -> pd.DataFrame:
    rows = []
    for sid, fut in future.groupby("series_id", sort=False):
        y = train.loc[train["series_id"] == sid, "value"].to_numpy()
        point, _ = S.fit_predict(y, period, len(fut), window=cfg.window, harmonics=cfg.harmonics, trend=cfg.trend)
        rows.append(pd.DataFrame({"id": fut["id"].to_numpy(), "yhat": point}))
    return pd.concat(rows, ignore_index=True)


def _grid_search(train: pd.DataFrame, period: int, horizon: int) -> TuneConfig:
    """What the generator's own tuner finds on a holdout carved from the public training data."""
    fit, hold = _split(train, horizon)
    scales = {sid: M.mase_scale(g["value"].to_numpy(), period) for sid, g in fit.groupby("series_id")}
    best, best_cfg = np.inf, None
    for window in sorted({2 * period, 4 * period, 8 * period, 12 * period, 40, 80}):
        for harmonics in range(0, 4):
            for trend in (True, False):
                cfg = TuneConfig(window=max(4, window), harmonics=harmonics, trend=trend)
                pred = _tune_predict(fit, hold, period, cfg).set_index("id")["yhat"]
                err = np.mean([M.mase(g["value"], pred.loc[g["id"]], scales[sid]) for sid, g in hold.groupby("series_id")])
                if err < best:
                    best, best_cfg = err, cfg
    assert best_cfg is not None
    return best_cfg


def build_engineering(spec: TaskSpec) -> TaskInstance:
    if spec.variant == "translate":
        from agentgym.envs.timeseries.translate import build_translate

        return build_translate(spec)
    if spec.variant == "artifact":
        from agentgym.envs.timeseries.artifacts import build_artifact

        return build_artifact(spec)
    p = spec.params
    period, h = G.FREQS[p["freq"]], p["horizon"]
    public = G.synth_panel(spec.seed, 4, 220, p["freq"])
    if spec.variant == "repair":
        hidden_panel = G.synth_panel(spec.seed + 1000, 4, 220, p["freq"])  # same recipe, values never shown
        hist, future = _split(hidden_panel, h)
        sub = SubmissionSpec(kind="module", path="forecaster.py", function="forecast")
        statement = (
            f"Repair task. forecaster.py exposes forecast(history, horizon) -> DataFrame(series_id, step 1..horizon, yhat) "
            f"for series with seasonal period {period}, but it is broken. train.csv is sample input (series_id, timestamp, "
            f"value). Fix forecaster.py in place. Grading imports it in a FRESH sandbox (numpy, pandas, no network, "
            f"{RUN_TIMEOUT_S}s) and calls forecast() on hidden histories of the same kind with horizon={h}; the forecasts "
            "are scored by MASE per series, averaged.")
        inst = dict(statement=statement, submission=sub, metric="mase", lower_is_better=True,
                    answers=future.set_index("id")[["series_id", "value"]],
                    context={"scales": {s: M.mase_scale(g["value"].to_numpy(), period) for s, g in hist.groupby("series_id")},
                             "horizon": h, "period": period},
                    hidden_inputs={"history.csv": _csv(hist[["series_id", "timestamp", "value"]])},
                    public_files={"forecaster.py": forecaster_source(period, p["bug"]),
                                  "train.csv": _csv(public[["series_id", "timestamp", "value"]])},
                    reference_files={"forecaster.py": forecaster_source(period, None)},
                    reference_command="python3 -c \"import forecaster, pandas as pd; "
                                      f"print(forecaster.forecast(pd.read_csv('train.csv'), {h}).head())\"")
        ref = pd.DataFrame({"id": future["id"].to_numpy(), "yhat": np.concatenate(
            [S.fit_predict(g["value"].to_numpy(), period, h)[0] for _, g in hist.groupby("series_id", sort=False)])})
        return _finish(spec, inst, _trivial_forecasts(hist, future, period), {"ets_damped": _ets(hist, future, period)}, ref)

    # tune: the public history is the training data; its continuation is hidden
    train, future = _split(public, h)
    default = TuneConfig(window=10, harmonics=0, trend=True)
    best = _grid_search(train[["series_id", "timestamp", "value"]], period, h)
    sub = SubmissionSpec(kind="json", path="config.json")
    statement = (
        f"Tuning task. model.py holds fit_predict(y, period, horizon, window=, harmonics=, trend=), a trend + Fourier "
        f"seasonal least-squares forecaster; train.csv holds 4 series with seasonal period {period}. Choose the "
        f"hyperparameters and write them to config.json as {{\"window\": int 4..5000, \"harmonics\": int 0..4, "
        f"\"trend\": bool}} (no other keys). The grader fits the model with your config on all of train.csv and "
        f"scores the next {h} steps (hidden) by MASE. Mind your time budget: evaluate on a holdout you carve yourself.")
    inst = dict(statement=statement, submission=sub, metric="mase", lower_is_better=True,
                answers=future.set_index("id")[["series_id", "value"]],
                context={"scales": {s: M.mase_scale(g["value"].to_numpy(), period) for s, g in train.groupby("series_id")},
                         "period": period, "train": train, "future": future},
                public_files={"model.py": "import numpy as np\n\n\n" + _MODEL_SRC,
                              "train.csv": _csv(train[["series_id", "timestamp", "value"]]),
                              "config.json": default.model_dump_json(indent=1)},
                reference_files={"config.json": best.model_dump_json(indent=1)},
                reference_command="cat config.json")
    triv = {**_trivial_forecasts(train, future, period), "default_config": _tune_predict(train, future, period, default)}
    return _finish(spec, inst, triv, {"ets_damped": _ets(train, future, period)}, _tune_predict(train, future, period, best))


# ---- checking and grading ------------------------------------------------------------------------

def _module_check(inst: TaskInstance, data: bytes | None) -> str:
    if data is None:
        raise SubmissionError(f"{inst.submission.path} does not exist")
    try:
        text = data.decode("utf-8")
        # parsed (size, depth, RecursionError/MemoryError guarded), never imported here
        tree = parse_python(text, max_bytes=MAX_MODULE_BYTES, filename=inst.submission.path, what=inst.submission.path)
    except UnicodeDecodeError as exc:
        raise SubmissionError(f"{inst.submission.path} is not UTF-8 text (byte {exc.start})") from None
    except AgentFault as exc:
        raise SubmissionError(f"{inst.submission.path} is not valid Python: {exc.reason}") from None
    fn = inst.submission.function
    if not any(isinstance(n, ast.FunctionDef) and n.name == fn for n in tree.body):
        raise SubmissionError(f"{inst.submission.path} defines no top-level function {fn}()")
    if inst.spec.variant == "translate":
        from agentgym.envs.timeseries.translate import check_translation

        check_translation(inst, tree)
    return text


def _config(inst: TaskInstance, data: bytes | None) -> TuneConfig:
    if data is None:
        raise SubmissionError(f"{inst.submission.path} does not exist")
    try:
        obj = parse_json(data, max_bytes=MAX_CONFIG_BYTES, max_depth=8, max_digits=20, what=inst.submission.path)
        return TuneConfig.model_validate(obj)
    except AgentFault as exc:  # deep nesting, huge numbers, not JSON: the agent's failure, said exactly
        raise SubmissionError(exc.reason) from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in exc.errors())
        raise SubmissionError(f"{inst.submission.path}: {problems}") from None


def check_format(inst: TaskInstance, data: bytes | None) -> tuple[bool, str]:
    """validate_submission for engineering kinds: syntax and names, or the JSON schema. No score."""
    try:
        if inst.submission.kind == "module":
            _module_check(inst, data)
            idiom = " and is written in the target idiom" if inst.spec.variant == "translate" else ""
            return True, f"{inst.submission.path} parses and defines {inst.submission.function}(){idiom}. (Format only.)"
        if inst.spec.variant == "artifact":
            from agentgym.envs.timeseries.artifacts import check_artifact

            return True, check_artifact(inst, data)
        cfg = _config(inst, data)
        return True, f"{inst.submission.path} is a valid config: {cfg.model_dump()}. (Format only.)"
    except SubmissionError as exc:
        return False, f"invalid submission: {exc}"


def run_fresh(files: dict[str, str], command: str, output: str, runtime: str, spec: SandboxSpec, what: str) -> bytes:
    """Run `command` in a FRESH sandbox holding only `files` (a module, a runner, hidden INPUTS);
    return the bytes of `output`. Failures and timeouts are SubmissionErrors naming `what`."""
    fresh = spec.model_copy(update={"files": {}, "default_timeout": RUN_TIMEOUT_S})
    with make_sandbox(fresh, runtime=runtime, warm_spares=False) as sb:
        for path, text in files.items():
            sb.write_file(path, text)
        res = sb.exec(command, timeout=RUN_TIMEOUT_S)
        if res.timed_out:
            raise SubmissionError(f"{what} ran past {RUN_TIMEOUT_S}s on the hidden inputs")
        marker = res.output.rfind(VIOLATION)
        if res.exit_code == EXIT_VIOLATION and marker >= 0:
            reason = res.output[marker + len(VIOLATION):].strip(": \n").splitlines()[0][:600]
            raise SubmissionError(f"the run-time idiom check stopped {what}: {reason}")
        if not res.ok:
            raise SubmissionError(f"{what} failed on the hidden inputs: {res.output.strip()[-800:]}")
        try:
            return read_bounded(sb, output, MAX_OUTPUT_BYTES)
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            raise SubmissionError(f"{what} wrote no {output}") from None
        except AgentFault as exc:  # a FIFO, a device or an oversized file where the output should be
            raise SubmissionError(f"{what}: {exc.reason}") from None



def grade_engineering(inst: TaskInstance, data: bytes | None, runtime: str, spec: SandboxSpec) -> GradeReport:
    if inst.spec.variant == "artifact":
        from agentgym.envs.timeseries.artifacts import grade_artifact

        return grade_artifact(inst, data)
    if inst.submission.kind == "json":
        cfg = _config(inst, data)
        pred = _tune_predict(inst.context["train"], inst.context["future"], inst.context["period"], cfg)
        score, per = score_frame(inst, pred.set_index("id"))
        return report_for(inst, score, per, f"config {cfg.model_dump()}")
    source = _module_check(inst, data)
    what = f"{inst.submission.function}()"
    if inst.spec.variant == "translate":
        from agentgym.envs.timeseries.translate import runner_files, score_outputs

        # the module runs in the fresh sandbox under the run-time idiom check (idiom_runner.py)
        out = run_fresh({inst.submission.path: source, **runner_files(inst), **inst.hidden_inputs},
                        "python3 runner.py", "outputs.json", runtime, spec, what)
        return score_outputs(inst, out)
    runner = _RUNNER.format(function=inst.submission.function, horizon=inst.context["horizon"])
    out = run_fresh({"forecaster.py": source, "runner.py": runner, **inst.hidden_inputs},
                    "python3 runner.py", "predictions.csv", runtime, spec, what)
    sub = parse_csv(out, SubmissionSpec(kind="csv", path="forecast() output", columns=["id", "yhat"], numeric=["yhat"]),
                    list(inst.answers.index))
    score, per = score_frame(inst, sub)
    return report_for(inst, score, per, "forecast() run on hidden inputs in a fresh sandbox")
