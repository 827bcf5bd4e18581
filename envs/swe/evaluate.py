"""SWE-bench harness compatibility: grade a predictions file, write SWE-bench's report JSON.

Why: users compare numbers with the official harness (`python -m swebench.harness.run_evaluation`).
This reads the same predictions (`instance_id`, `model_name_or_path`, `model_patch`; a JSON list,
a JSON object of them, or JSONL; or `gold` for every instance's gold patch), grades each
prediction in a fresh sandbox with our hardened grader (grading.grade: changes to test files and
test configuration dropped, must-fail canaries, a supervised test run), and writes the run report
with the official harness's field names (swebench.harness.reporting.make_run_report) plus
per-instance reports shaped like its report.json (swebench.harness.grading.get_eval_report, whose
FAIL_TO_PASS / PASS_TO_PASS success and failure lists come from swebench's own
get_eval_tests_report over our per-test statuses).

How our grader's outcomes map onto SWE-bench's, where they differ it is said here, not hidden:
- `model_patch` "" or null: empty_patch_ids, not run (as SWE-bench).
- a patch that does not apply: error_ids, no instance report (SWE-bench's harness raises there too).
- an infrastructure error of the grader (GradeReport.error): error_ids.
- the patch's code made the run unjudgeable (forged outcomes, a canary passing, a crash, exit,
  hang or flood of the test run): completed and unresolved, every test in `failure`; SWE-bench
  cannot see forgery and counts a hang as an error. The reason is in `agentgym.instances[id]`.
- otherwise completed; resolved when every FAIL_TO_PASS and PASS_TO_PASS test passed.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from agentgym.envs.swe.grading import MISSING, GradeReport, grade
from agentgym.envs.swe.instance import SWEInstance
from agentgym.guard import AgentFault, parse_json, read_agent_text

KEY_INSTANCE_ID, KEY_MODEL, KEY_PREDICTION = "instance_id", "model_name_or_path", "model_patch"  # swebench's names
MAX_PREDICTIONS_BYTES = 1 << 30
SCHEMA_VERSION = 2  # of make_run_report's file


class PredictionsError(ValueError):
    """A predictions file (or its ids) that cannot be evaluated; the message says where and what to do."""


class Prediction(BaseModel):
    instance_id: str
    model_name_or_path: str = "None"  # what swebench uses when it is missing
    model_patch: str | None = None


def _swebench() -> Any:
    try:
        from swebench.harness import constants, grading
    except ImportError as exc:
        raise PredictionsError("`agentgym swe evaluate` uses the swebench package for SWE-bench's report format: "
                               f"pip install 'agentgym[swe]' ({exc})") from None
    return constants, grading


def load_predictions(path: str | Path) -> tuple[dict[str, Prediction], list[str]]:
    """{instance_id: Prediction} from a .json (list, or an object of predictions) or JSONL file, and the
    ids given more than once (the last one counts, as in SWE-bench's harness)."""
    p = Path(path)
    hint = "each prediction is {instance_id, model_name_or_path, model_patch}"
    try:
        text = read_agent_text(p.resolve(), limit=MAX_PREDICTIONS_BYTES, what="predictions file")  # the user's link is fine
    except AgentFault as exc:
        raise PredictionsError(f"{exc.reason}; pass a SWE-bench predictions file (.jsonl or .json)") from None
    items: list[tuple[str, Any]] = []
    if p.suffix == ".json" or (p.suffix != ".jsonl" and text.lstrip()[:1] in "[{" and _whole_json(text)):
        try:
            data = parse_json(text, max_bytes=MAX_PREDICTIONS_BYTES, what=str(p))
        except AgentFault as exc:
            raise PredictionsError(f"{exc.reason}; a .json predictions file is one list (or object) of predictions") from None
        if isinstance(data, dict) and KEY_INSTANCE_ID not in data:
            data = list(data.values())  # SWE-agent's {instance_id: prediction}
        if not isinstance(data, list):
            raise PredictionsError(f"{p}: a .json predictions file is a list of predictions or an object of them; {hint}")
        items = [(f"{p} item {i}", d) for i, d in enumerate(data)]
    else:
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    items.append((f"{p} line {n}", parse_json(line, max_bytes=MAX_PREDICTIONS_BYTES, what="the line")))
                except AgentFault as exc:
                    raise PredictionsError(f"{p} line {n}: {exc.reason}; {hint}, one JSON object per line") from None
    out: dict[str, Prediction] = {}
    twice: list[str] = []
    for where, item in items:
        pred = _prediction(where, item, hint)
        if pred.instance_id in out:
            twice.append(pred.instance_id)
        out[pred.instance_id] = pred
    if not out:
        raise PredictionsError(f"{p}: no predictions in it; {hint}")
    return out, twice


def _whole_json(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def _prediction(where: str, item: Any, hint: str) -> Prediction:
    if not isinstance(item, dict):
        raise PredictionsError(f"{where}: a prediction is a JSON object, not {type(item).__name__}; {hint}")
    if not isinstance(item.get(KEY_INSTANCE_ID), str) or not item[KEY_INSTANCE_ID]:
        raise PredictionsError(f"{where}: no {KEY_INSTANCE_ID!r} (a string); {hint}")
    if KEY_PREDICTION not in item:
        raise PredictionsError(f"{where}: no {KEY_PREDICTION!r} (the diff, or null for none); {hint}")
    patch, model = item[KEY_PREDICTION], item.get(KEY_MODEL, "None")
    if patch is not None and not isinstance(patch, str):
        raise PredictionsError(f"{where}: {KEY_PREDICTION} is {type(patch).__name__}; it is a diff (text) or null")
    return Prediction(instance_id=item[KEY_INSTANCE_ID], model_name_or_path=str(model), model_patch=patch)


def gold_predictions(instances: list[SWEInstance]) -> dict[str, Prediction]:
    """`gold` as the predictions path: every instance's gold patch (model_name_or_path 'gold')."""
    return {i.instance_id: Prediction(instance_id=i.instance_id, model_name_or_path="gold", model_patch=i.patch)
            for i in instances}


def instance_report(inst: SWEInstance, pred: Prediction, rep: GradeReport) -> dict[str, Any]:
    """SWE-bench's per-instance report.json entry (get_eval_report with include_tests_status)."""
    constants, grading = _swebench()
    statuses = {} if rep.agent_failure else {
        t: s for t, s in {**rep.pass_to_pass, **rep.fail_to_pass}.items() if s != MISSING}
    eval_type = constants.EvalType.FAIL_ONLY if inst.repo in constants.FAIL_ONLY_REPOS else constants.EvalType.PASS_AND_FAIL
    gold = {constants.FAIL_TO_PASS: inst.FAIL_TO_PASS, constants.PASS_TO_PASS: inst.PASS_TO_PASS}
    tests = grading.get_eval_tests_report(statuses, gold, eval_type=eval_type)
    return {"patch_is_None": pred.model_patch is None, "patch_exists": pred.model_patch is not None,
            "patch_successfully_applied": rep.applied, "resolved": bool(rep.resolved and not rep.agent_failure),
            "tests_status": tests}


def _ours(rep: GradeReport | None, error: str | None = None) -> dict[str, Any]:
    if rep is None:
        return {"summary": f"could not be graded: {error}", "error": error}
    return {"summary": rep.summary(), "apply_method": rep.apply_method, "apply_error": rep.apply_error,
            "agent_failure": rep.agent_failure, "tampered": rep.tampered, "error": rep.error,
            "ignored_paths": rep.ignored_paths, "canaries": rep.canaries, "seconds": round(rep.seconds, 2)}


Grader = Callable[[SWEInstance, str], GradeReport]


def check_ids(dataset: Any, predictions: dict[str, Prediction]) -> None:
    """Every prediction names an instance of the dataset (swebench's harness refuses the run otherwise)."""
    unknown = sorted(set(predictions) - set(dataset))
    if unknown:
        raise PredictionsError(f"{len(unknown)} prediction(s) name instances not in the dataset: {', '.join(unknown[:5])}"
                               f"{' ...' if len(unknown) > 5 else ''}; evaluate them against the dataset they came from")


def evaluate(instances: list[SWEInstance], predictions: dict[str, Prediction], grader: Grader, *,
             max_workers: int = 1, on_result: Callable[[str, str], None] | None = None,
             done: dict[str, dict[str, Any]] | None = None,
             on_report: Callable[[str, dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Grade every prediction of an instance in `instances` with `grader(instance, patch)` and return
    SWE-bench's run report (plus `instance_reports` and our `agentgym` details). Predictions of other
    instances count as submitted only, as with swebench's --instance_ids (check_ids first: the
    harness refuses ids that are in no dataset). `done`: instance reports of an earlier run, reused
    instead of grading again (as the harness skips instances with a report.json); `on_report` gets
    each new one as soon as it exists (to write it, so an interrupted run resumes)."""
    _swebench()  # missing: one line now, not an error per instance
    dataset = {i.instance_id: i for i in instances}
    done = {i: e for i, e in (done or {}).items() if i in dataset and i in predictions}
    empty = sorted(i for i in dataset if i in predictions and predictions[i].model_patch in ("", None))
    todo = [i for i in dataset if i in predictions and i not in empty and i not in done]
    results: dict[str, tuple[GradeReport | None, str | None, dict[str, Any] | None]] = {}

    def one(iid: str) -> None:
        entry = None
        try:
            rep, why = grader(dataset[iid], predictions[iid].model_patch or ""), None
            if _outcome(rep) != "error":
                entry = instance_report(dataset[iid], predictions[iid], rep)
        except Exception as exc:  # noqa: BLE001 - one instance's failure is its error, the rest go on
            rep, why = None, f"{type(exc).__name__}: {exc}"
        results[iid] = (rep, why, entry)
        if entry is not None and on_report is not None:
            on_report(iid, entry)
        if on_result is not None:
            on_result(iid, _outcome(rep))

    if max_workers > 1 and len(todo) > 1:
        with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="swe-evaluate") as pool:
            list(pool.map(one, todo))
    else:
        for iid in todo:
            one(iid)
    errors = {iid for iid, (_rep, _why, entry) in results.items() if entry is None}
    reports = {**done, **{iid: entry for iid, (_r, _w, entry) in results.items() if entry is not None}}
    completed = set(reports)
    resolved = {iid for iid, entry in reports.items() if entry.get("resolved")}
    unresolved = completed - resolved
    ours: dict[str, Any] = {i: {"summary": "empty patch: not run"} for i in empty}
    ours.update({i: {"summary": "graded by an earlier run: its report.json reused"} for i in done})
    ours.update({iid: _ours(rep, why) for iid, (rep, why, _e) in results.items()})
    return {
        "total_instances": len(dataset),
        "submitted_instances": len(predictions),
        "completed_instances": len(completed),
        "resolved_instances": len(resolved),
        "unresolved_instances": len(unresolved),
        "empty_patch_instances": len(empty),
        "error_instances": len(errors),
        "completed_ids": sorted(completed),
        "incomplete_ids": sorted(set(dataset) - set(predictions)),
        "empty_patch_ids": empty,
        "submitted_ids": sorted(predictions),
        "resolved_ids": sorted(resolved),
        "unresolved_ids": sorted(unresolved),
        "error_ids": sorted(errors),
        "schema_version": SCHEMA_VERSION,
        "instance_reports": {i: reports[i] for i in sorted(reports)},
        "agentgym": {"grader": "agentgym.envs.swe.grading (fresh sandbox, test changes dropped, canaries, supervised run)",
                     "instances": {i: ours[i] for i in sorted(ours)}},
    }


def _outcome(rep: GradeReport | None) -> str:
    if rep is None or rep.error or not rep.applied:
        return "error"
    return "resolved" if rep.resolved and not rep.agent_failure else "unresolved"


def env_grader(make_env: Callable[[], Any]) -> tuple[Grader, Callable[[], None]]:
    """A grader over SWEEnv's machinery (one env per worker thread: its image and start commit for
    the instance, then grading.grade in a fresh sandbox), and a function that closes the envs."""
    local = threading.local()
    made: list[Any] = []
    lock = threading.Lock()

    def env() -> Any:
        if getattr(local, "env", None) is None:
            local.env = make_env()
            with lock:
                made.append(local.env)
        return local.env

    def grader(inst: SWEInstance, patch: str) -> GradeReport:
        e = env()
        e.task_id = inst.instance_id  # the grading sandbox's label
        if e.runtime == "docker":
            e._image, start = e._docker_image(inst)
        else:
            from agentgym.envs.swe.sources import cached_tree

            _tree, start = cached_tree(e._source_for(inst), inst)
        return grade(inst, e._spec_for(inst), patch, open_sandbox=lambda: e._grading_sandbox(inst),
                     start_commit=start, runtime=e.runtime)

    def close() -> None:
        for e in made:
            e.close()

    return grader, close


def log_path(log_dir: Path, run_id: str, pred: Prediction) -> Path:
    """SWE-bench's layout: LOG_DIR/RUN_ID/MODEL (/ as __)/INSTANCE/report.json."""
    return log_dir / run_id / pred.model_name_or_path.replace("/", "__") / pred.instance_id / "report.json"


def write_instance_log(log_dir: Path, run_id: str, pred: Prediction, entry: dict[str, Any]) -> None:
    path = log_path(log_dir, run_id, pred)
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.parent / "patch.diff").write_text(pred.model_patch or "")
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({pred.instance_id: entry}, indent=4))
    tmp.replace(path)  # whole or absent: an interrupted write is graded again next time


def write_instance_logs(report: dict[str, Any], predictions: dict[str, Prediction], log_dir: Path, run_id: str) -> None:
    """Every instance report of `report`, in SWE-bench's layout."""
    for iid, entry in report["instance_reports"].items():
        write_instance_log(log_dir, run_id, predictions[iid], entry)


def read_instance_logs(log_dir: Path, run_id: str, predictions: dict[str, Prediction]) -> dict[str, dict[str, Any]]:
    """Instance reports an earlier run wrote for these predictions (unreadable ones are graded again)."""
    out: dict[str, dict[str, Any]] = {}
    for iid, pred in predictions.items():
        path = log_path(log_dir, run_id, pred)
        if not pred.model_patch or not path.is_file():
            continue
        try:
            entry = parse_json(read_agent_text(path, what="report"), what=str(path)).get(iid)
        except (AgentFault, AttributeError):
            continue
        if isinstance(entry, dict) and isinstance(entry.get("resolved"), bool) and (path.parent / "patch.diff").is_file() \
                and (path.parent / "patch.diff").read_text() == pred.model_patch:
            out[iid] = entry  # only for the same patch: a changed prediction is graded again
    return out


def default_report_path(predictions: dict[str, Prediction], run_id: str) -> Path:
    """Where SWE-bench's harness writes it: <model_name_or_path with / as __>.<run_id>.json."""
    first = next(iter(predictions.values()))
    return Path(f"{first.model_name_or_path.replace('/', '__')}.{run_id}.json")


__all__ = ["Prediction", "PredictionsError", "check_ids", "default_report_path", "env_grader", "evaluate", "gold_predictions",
           "instance_report", "load_predictions", "log_path", "read_instance_logs", "write_instance_log",
           "write_instance_logs"]
