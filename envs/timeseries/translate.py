"""Translation tasks: re-express a forecasting routine from one library idiom in another (a numpy
loop as pandas' ewm, a numpy loop as statsmodels' ExponentialSmoothing, a pandas rolling pipeline
as plain numpy, statsmodels' AutoReg as numpy least squares). The agent gets the source routine
and its docstring contract; it submits a module exposing the named function.

Grading: the host only ast-parses the module (never imports it) and checks the target idiom
(required API used, forbidden libraries and constructs absent), so the source copied unchanged
fails; then the module runs in a FRESH sandbox on hidden inputs with a timeout, and each output
is compared with the source routine's output (computed here, by the package's own code)."""

from __future__ import annotations

import ast
import inspect
import json

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from agentgym.envs.timeseries import idiom_runner
from agentgym.envs.timeseries import translate_src as T
from agentgym.envs.timeseries.grading import SubmissionError
from agentgym.envs.timeseries.models import GradeReport, SubmissionSpec, TaskInstance, TaskSpec

RUNNER_SOURCE = inspect.getsource(idiom_runner)
RUN_TIMEOUT_S = 120
RTOL = 1e-6
N_CASES = 8
MAX_OUTPUT_BYTES = 20 * 1024 * 1024
#: calls that would let a module dodge the idiom check by building code at run time
_DYNAMIC = {"exec", "eval", "compile", "__import__", "breakpoint", "globals", "vars", "locals", "getattr", "setattr",
            "delattr", "__builtins__", "__loader__", "__spec__"}
#: attributes that reach another module's builtins, code objects or frames (np.__builtins__['exec'])
_REFLECTIVE_ATTRS = {"__builtins__", "__globals__", "__code__", "__import__", "__subclasses__", "__closure__",
                     "__dict__", "__loader__", "__spec__", "f_globals", "f_builtins", "f_locals", "f_back", "gi_frame",
                     "tb_frame", "__defaults__", "__self__", "__func__", "__getattribute__", "__bases__", "__mro__"}
#: loops in disguise, banned with the loops themselves where the target idiom is loop-free
_LOOPISH = {"map", "filter", "vectorize", "frompyfunc", "apply_along_axis", "apply_over_axes", "apply", "applymap",
            "iterrows", "itertuples", "items", "iteritems", "fromiter", "reduce", "accumulate", "starmap", "iter", "next"}
_LOOP_NODES = {ast.For: "a for loop", ast.AsyncFor: "a for loop", ast.While: "a while loop",
               ast.ListComp: "a list comprehension", ast.SetComp: "a set comprehension",
               ast.DictComp: "a dict comprehension", ast.GeneratorExp: "a generator expression"}


class Routine(BaseModel):
    """One translation: the source and target idioms of a routine and the rules of the target."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    name: str
    source: object  # function in translate_src (the contract's truth)
    source_idiom: str
    target: object  # function in translate_src (the reference solution)
    target_idiom: str
    module: str
    function: str
    what: str
    idiom_rule: str  # the target idiom, in words (statement and messages)
    allowed_imports: frozenset[str]
    loops_allowed: bool
    required_call: tuple[str, ...] = ()  # at least one of these names must be called
    required_import: str | None = None  # a module (dotted prefix) the target must import from
    preload: tuple[str, ...] = ()  # loaded by the grading runner before the run-time check starts
    warmup: str = ""  # run by the grading runner before the check: library paths the idiom uses


ROUTINES = {r.name: r for r in [
    Routine(name="ses", source=T.ses_loop, source_idiom="numpy", target=T.ses_pandas, target_idiom="pandas",
            module="smoothing", function="smooth", what="simple exponential smoothing written as a numpy loop",
            idiom_rule="pandas: Series.ewm, no Python loops or comprehensions",
            allowed_imports=frozenset({"numpy", "pandas", "math"}), loops_allowed=False, required_call=("ewm",),
            required_import="pandas", preload=("pandas",),
            warmup="import pandas as pd\ns = pd.Series(np.arange(6.0))\ns.ewm(alpha=0.5, adjust=False).mean().to_numpy()\n"
                   "s.ewm(alpha=0.5).mean(); s.shift(1); s.to_numpy()\n"),
    Routine(name="holt", source=T.holt_loop, source_idiom="numpy", target=T.holt_statsmodels,
            target_idiom="statsmodels", module="holt", function="holt_forecast",
            what="Holt's linear-trend smoothing written as a numpy loop",
            idiom_rule="statsmodels: statsmodels.tsa.holtwinters (ExponentialSmoothing or Holt) with fixed "
                       "parameters, no Python loops or comprehensions",
            allowed_imports=frozenset({"numpy", "statsmodels", "warnings", "math"}), loops_allowed=False,
            required_call=("ExponentialSmoothing", "Holt"), required_import="statsmodels.tsa.holtwinters",
            preload=("warnings", "statsmodels.tsa.holtwinters"),
            warmup="import warnings\nfrom statsmodels.tsa.holtwinters import ExponentialSmoothing, Holt\n"
                   "with warnings.catch_warnings():\n    warnings.simplefilter('ignore')\n"
                   "    for m in (ExponentialSmoothing(np.arange(1.0, 12.0), trend='add', initialization_method='known',"
                   " initial_level=1.0, initial_trend=1.0), Holt(np.arange(1.0, 12.0), initialization_method='known',"
                   " initial_level=1.0, initial_trend=1.0)):\n"
                   "        m.fit(smoothing_level=0.5, smoothing_trend=0.2, optimized=False).forecast(3)\n"),
    Routine(name="rolling", source=T.rolling_pandas, source_idiom="pandas", target=T.rolling_numpy,
            target_idiom="numpy", module="features", function="rolling_features",
            what="a pandas rolling-window feature pipeline",
            idiom_rule="numpy only (no pandas), vectorised: no Python loops or comprehensions",
            allowed_imports=frozenset({"numpy", "math"}), loops_allowed=False, required_import="numpy",
            warmup="w = np.lib.stride_tricks.sliding_window_view(np.arange(6.0), 3)\n"
                   "w.mean(axis=1); w.std(axis=1, ddof=1); w.min(axis=1); np.nanmean(w); np.convolve(w[0], w[1])\n"),
    Routine(name="ar", source=T.ar_autoreg, source_idiom="autoreg", target=T.ar_numpy, target_idiom="numpy",
            module="autoregress", function="ar_forecast", what="an AR(p) fit and forecast with statsmodels' AutoReg",
            idiom_rule="numpy only (no statsmodels, scikit-learn or pandas): least squares with numpy.linalg",
            allowed_imports=frozenset({"numpy", "math"}), loops_allowed=True, required_import="numpy",
            warmup="np.linalg.lstsq(np.ones((3, 2)), np.ones(3), rcond=None)\n"),
]}


def routine_source(fn, idiom: str, name: str) -> str:
    """The shipped module: the idiom's imports plus the function, renamed to the contract name."""
    src = inspect.getsource(fn).replace(f"def {fn.__name__}(", f"def {name}(", 1)
    return T.IMPORTS[idiom] + "\n\n" + src


# ---- hidden (and example) inputs --------------------------------------------------------------------

def _series(rng: np.random.Generator, n: int) -> np.ndarray:
    t = np.arange(n)
    y = (rng.uniform(10, 200) + rng.uniform(-0.5, 1.0) * t + rng.uniform(0, 20) * np.sin(2 * np.pi * t / rng.integers(4, 13))
         + np.cumsum(rng.normal(0, rng.uniform(0.2, 3), n)))
    return np.round(y, 6)


def make_cases(routine: str, seed: int, count: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(count):
        if routine == "ses":
            n = 1 if i == 0 else int(rng.integers(5, 300))
            params = {"alpha": 1.0 if i == 1 else round(float(rng.uniform(0.02, 0.98)), 6)}
        elif routine == "holt":
            n = int(rng.integers(8, 200))
            params = {"alpha": round(float(rng.uniform(0.05, 1.0)), 6), "beta": round(float(rng.uniform(0.01, 0.6)), 6),
                      "horizon": int(rng.integers(1, 25))}
        elif routine == "rolling":
            n = int(rng.integers(6, 200))
            params = {"window": n + 2 if i == 0 else int(rng.integers(2, min(30, n) + 1)), "lag": int(rng.integers(1, 8))}
        else:
            lags = int(rng.integers(1, 9))
            n = int(rng.integers(max(40, 2 * lags + 2), 300))
            params = {"lags": lags, "horizon": int(rng.integers(1, 31))}
        y = _series(rng, n)
        if routine == "holt":
            params = {**params, "level0": round(float(y[0] + rng.normal(0, 2)), 6),
                      "trend0": round(float(rng.normal(0, 1)), 6)}
            params = {k: params[k] for k in ("alpha", "beta", "level0", "trend0", "horizon")}
        cases.append({"id": f"c{i:02d}", "y": y.tolist(), "params": params})
    return cases


def expected_outputs(routine: Routine, cases: list[dict]) -> list[np.ndarray]:
    """The contract's truth: the SOURCE routine (package code, on the host) on each input."""
    return [np.asarray(routine.source(np.asarray(c["y"], dtype=float), **c["params"]), dtype=float) for c in cases]


# ---- the idiom check (ast only: nothing is imported or run here) ------------------------------------

def _root(name: str | None) -> str:
    return (name or "").split(".")[0]


def idiom_check(routine: Routine, tree: ast.Module, path: str) -> None:
    """Raise SubmissionError (exact message) unless the module is written in the target idiom."""
    imported: list[str] = []
    called: set[str] = set()
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import | ast.ImportFrom):
            if isinstance(node, ast.ImportFrom) and node.level:
                raise SubmissionError(f"{path}: line {line}: relative imports are not allowed in a translation")
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for mod in mods:
                if _root(mod) not in routine.allowed_imports:
                    raise SubmissionError(f"{path}: line {line}: imports {mod!r}; the target idiom is "
                                          f"{routine.idiom_rule} (allowed imports: {', '.join(sorted(routine.allowed_imports))})")
                imported.append(mod)
        elif not routine.loops_allowed and type(node) in _LOOP_NODES:
            raise SubmissionError(f"{path}: line {line}: {_LOOP_NODES[type(node)]}; the target idiom is "
                                  f"{routine.idiom_rule}")
        elif isinstance(node, ast.Name) and (node.id in _DYNAMIC or node.id == "__builtins__"):
            raise SubmissionError(f"{path}: line {line}: {node.id} is not allowed in a translation")
        elif isinstance(node, ast.Attribute) and (node.attr in _REFLECTIVE_ATTRS or node.attr in _DYNAMIC):
            raise SubmissionError(f"{path}: line {line}: .{node.attr} is not allowed in a translation (reflection "
                                  "reaches code the idiom check cannot see)")
        elif isinstance(node, ast.Call):
            fn = node.func
            name = fn.id if isinstance(fn, ast.Name) else fn.attr if isinstance(fn, ast.Attribute) else ""
            called.add(name)
            if not routine.loops_allowed and name in _LOOPISH:
                raise SubmissionError(f"{path}: line {line}: {name}() is a loop in disguise; the target idiom is "
                                      f"{routine.idiom_rule}")
    if not routine.loops_allowed:  # recursion is a loop too, mutual recursion included
        _no_recursion(routine, tree, path)
    if routine.required_import and not any(m == routine.required_import or m.startswith(routine.required_import + ".")
                                           for m in imported):
        raise SubmissionError(f"{path}: never imports {routine.required_import}; the target idiom is {routine.idiom_rule}")
    if routine.required_call and not called & set(routine.required_call):
        raise SubmissionError(f"{path}: never calls {' or '.join(routine.required_call)}(); the target idiom is "
                              f"{routine.idiom_rule}")


def _no_recursion(routine: Routine, tree: ast.Module, path: str) -> None:
    """Refuse a function that can reach itself through calls by name among the module's functions."""
    defs = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    calls = {name: {c.func.id for c in ast.walk(node) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)
                    and c.func.id in defs} for name, node in defs.items()}
    for start, node in defs.items():
        seen, todo = set(), list(calls[start])
        while todo:
            name = todo.pop()
            if name == start:
                via = "itself" if start in calls[start] else "itself through other functions"
                raise SubmissionError(f"{path}: line {node.lineno}: {start}() calls {via}; the target idiom is "
                                      f"{routine.idiom_rule}")
            if name not in seen:
                seen.add(name)
                todo.extend(calls[name])


# ---- build --------------------------------------------------------------------------------------------

#: the run-time check's limits per hidden input: Python calls into, and lines run in, the module's
#: own code (a loop-free translation runs a few dozen; a loop in disguise runs them per element)
MAX_CALLS = 60
MAX_LINES = 600


def build_translate(spec: TaskSpec) -> TaskInstance:
    r = ROUTINES[spec.params["routine"]]
    cases = make_cases(r.name, spec.seed + 1000, N_CASES)  # hidden: never written to the agent's sandbox
    examples = make_cases(r.name, spec.seed, 3)
    legacy = f"legacy_{r.module}.py"
    source = routine_source(r.source, r.source_idiom, r.function)
    sub = SubmissionSpec(kind="module", path=f"{r.module}.py", function=r.function)
    statement = (
        f"Translation task. {legacy} holds {r.function}(), {r.what}; its docstring is the contract. Re-express it in "
        f"the target idiom, {r.idiom_rule}, in {sub.path} (it starts as a copy of {legacy}), keeping the name and "
        f"signature. Allowed imports: {', '.join(sorted(r.allowed_imports))}. examples.json holds sample inputs "
        f"(y, params). The grader only parses {sub.path} on the host and rejects it unless it is written in the target "
        f"idiom; then it calls {r.function}(y, **params) in a FRESH sandbox (numpy, pandas, statsmodels, no network, "
        f"{RUN_TIMEOUT_S}s) on {N_CASES} hidden inputs of the same kind and compares every output with the legacy "
        f"routine's (relative tolerance {RTOL:g}, NaN where it has NaN). Reward grows with the fraction of matching "
        "inputs (from the fraction trivial outputs such as a copy of y already match); passing needs all of them.")
    exp = expected_outputs(r, cases)
    answers = pd.DataFrame({"series_id": [c["id"] for c in cases],
                            "expected": [json.dumps(e.tolist()) for e in exp]}, index=[c["id"] for c in cases])
    reference = routine_source(r.target, r.target_idiom, r.function)
    trivial = trivial_matches(cases, exp)
    return TaskInstance(
        spec=spec, statement=statement, submission=sub, metric="cases_matched", lower_is_better=False,
        answers=answers, context={"routine": r.name, "expected": exp, "trivial": trivial},
        hidden_inputs={"cases.json": json.dumps(cases)},
        public_files={legacy: source, sub.path: source, "examples.json": json.dumps(examples, indent=1)},
        reference_files={sub.path: reference},
        reference_command=(f"python3 -c \"import json, numpy as np, {r.module} as m; c = json.load(open('examples.json'))[0]; "
                           f"print(np.asarray(m.{r.function}(np.asarray(c['y']), **c['params']))[:5])\""),
        floor=max(trivial.values()), baselines={}, reference=1.0, pass_reward=spec.pass_reward or 1.0)


def trivial_matches(cases: list[dict], expected: list[np.ndarray]) -> dict[str, float]:
    """Fraction of the hidden inputs that trivial outputs (the input copied, zeros, NaN, the last
    value) already match: edge cases (alpha = 1, one point, a window longer than the series) can
    make them right, so the reward starts above the best of them."""
    out = {}
    for name in ("copy_of_input", "zeros", "nan", "last_value"):
        hits = []
        for c, exp in zip(cases, expected):
            y = np.asarray(c["y"], dtype=float)
            guess = {"copy_of_input": y, "zeros": np.zeros(exp.shape), "nan": np.full(exp.shape, np.nan),
                     "last_value": np.full(exp.shape, y[-1])}[name]
            hits.append(_compare(guess, exp) is None)
        out[name] = float(np.mean(hits))
    return out


# ---- grade ----------------------------------------------------------------------------------------------

def check_translation(inst: TaskInstance, tree: ast.Module) -> None:
    idiom_check(ROUTINES[inst.context["routine"]], tree, inst.submission.path)


def runner_files(inst: TaskInstance) -> dict[str, str]:
    """What the fresh grading sandbox gets besides the module and the hidden cases: the runner
    (idiom_runner.py, which applies the run-time idiom check there) and its configuration."""
    r = ROUTINES[inst.context["routine"]]
    cfg = {"path": inst.submission.path, "module": inst.submission.path[:-3], "function": inst.submission.function,
           "allowed": sorted(r.allowed_imports), "loops_allowed": r.loops_allowed, "preload": list(r.preload),
           "warmup": r.warmup, "max_calls": MAX_CALLS, "max_lines": MAX_LINES}
    return {"runner.py": RUNNER_SOURCE, "runner_config.json": json.dumps(cfg)}


def _compare(got: object, exp: np.ndarray) -> str | None:
    """None when `got` matches `exp`; else why not (no hidden value is shown)."""
    try:
        arr = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return "the output is not a numeric array"
    if arr.shape != exp.shape:
        return f"output shape {arr.shape}, expected {exp.shape}"
    if not np.array_equal(np.isnan(arr), np.isnan(exp)):
        return "NaN at different positions than the legacy routine"
    scale = float(np.nanmax(np.abs(exp))) if exp.size and not np.isnan(exp).all() else 1.0
    if not np.allclose(arr, exp, rtol=RTOL, atol=RTOL * 1e-2 * max(1.0, scale), equal_nan=True):
        return "values differ from the legacy routine's"
    return None


def score_outputs(inst: TaskInstance, data: bytes) -> GradeReport:
    """Score the runner's outputs.json (read as data: JSON, size-capped)."""
    from agentgym.envs.timeseries.grading import report_for

    from agentgym.guard import AgentFault, parse_json

    what = f"{inst.submission.function}() output"
    try:
        rows = parse_json(data, max_bytes=MAX_OUTPUT_BYTES, max_depth=8, max_digits=40, what=what)
    except AgentFault as exc:
        raise SubmissionError(exc.reason) from None
    if isinstance(rows, dict) and "import_error" in rows:
        raise SubmissionError(f"{inst.submission.path} failed to import in the grading sandbox: "
                              f"{str(rows['import_error'])[:300]}")
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "id" in r for r in rows):
        raise SubmissionError(f"{what} could not be read")
    by_id = {str(r["id"]): r for r in rows}
    per: dict[str, float] = {}
    first_problem = ""
    for cid, exp in zip(inst.answers.index, inst.context["expected"]):
        row = by_id.get(cid, {})
        problem = (f"raised {row['error']}" if row.get("error") else _compare(row.get("values"), exp)
                   if row.get("values") is not None else "no output")
        per[cid] = 0.0 if problem else 1.0
        if problem and not first_problem:
            first_problem = f"; hidden input {cid}: {problem}"
    score = float(np.mean(list(per.values())))
    floor = f" (trivial outputs match {inst.floor:.0%}; reward counts from there)" if inst.floor > 0 else ""
    return report_for(inst, score, per, f"{int(sum(per.values()))}/{len(per)} hidden inputs match the legacy "
                                        f"routine{floor}{first_problem}")
