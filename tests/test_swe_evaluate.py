"""`agentgym swe evaluate`: SWE-bench predictions in, SWE-bench's report JSON out.

Unit part: the predictions formats swebench's harness reads, every outcome of our grader mapped to
the report, and the counts checked against swebench's own make_run_report over the per-instance
reports we write in its layout. Docker part: swe-synth-lite instances graded for real through the
CLI (gold patches all resolved; empty patches none; a patch that does not apply an error).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentgym.envs.swe.evaluate import (
    PredictionsError,
    check_ids,
    evaluate,
    load_predictions,
    read_instance_logs,
    write_instance_logs,
)
from agentgym.envs.swe.grading import MISSING, GradeReport
from agentgym.envs.swe.instance import SWEInstance
from agentgym.envs.swe.log_parsers import FAILED, PASSED

ROOT = Path(__file__).resolve().parents[1]
F2P, P2P = "tests/test_x.py::test_fixed", "tests/test_x.py::test_kept"


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agentgym", *args], capture_output=True, text=True, timeout=900,
                          cwd=cwd, env=dict(os.environ, PYTHONPATH=str(ROOT)))


def _inst(iid: str) -> SWEInstance:
    return SWEInstance(repo="pypi/demo", instance_id=iid, base_commit="0" * 40, patch=f"gold of {iid}",
                       problem_statement="p", FAIL_TO_PASS=[F2P], PASS_TO_PASS=[P2P])


def _rep(iid: str, **kw) -> GradeReport:
    return GradeReport(instance_id=iid, **kw)


GRADES = {
    "resolved": _rep("resolved", resolved=True, applied=True, fail_to_pass={F2P: PASSED}, pass_to_pass={P2P: PASSED}),
    "unresolved": _rep("unresolved", applied=True, fail_to_pass={F2P: FAILED}, pass_to_pass={P2P: PASSED}),
    "missing-test": _rep("missing-test", applied=True, fail_to_pass={F2P: MISSING}, pass_to_pass={P2P: PASSED}),
    "forged": _rep("forged", applied=True, fail_to_pass={F2P: PASSED}, pass_to_pass={P2P: PASSED}, tampered=True,
                   agent_failure="a canary passed beside its passing original"),
    "no-apply": _rep("no-apply", applied=False, apply_error="patch does not apply"),
    "infra": _rep("infra", applied=True, error="could not start the grading sandbox"),
}
IDS = [*GRADES, "crash", "empty", "null", "no-prediction"]


def _grader(calls: list[str]):
    def grade(inst: SWEInstance, patch: str) -> GradeReport:
        calls.append(inst.instance_id)
        assert patch == f"patch of {inst.instance_id}"
        if inst.instance_id == "crash":
            raise RuntimeError("docker went away")
        return GRADES[inst.instance_id]
    return grade


def _preds() -> list[dict]:
    out = [{"instance_id": i, "model_name_or_path": "org/model-7b", "model_patch": f"patch of {i}"} for i in [*GRADES, "crash"]]
    return out + [{"instance_id": "empty", "model_name_or_path": "org/model-7b", "model_patch": ""},
                  {"instance_id": "null", "model_name_or_path": "org/model-7b", "model_patch": None}]


def test_every_outcome_maps_to_swebench_report_fields(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "preds.jsonl"
    path.write_text("\n".join(json.dumps(p) for p in _preds()) + "\n")
    preds, twice = load_predictions(path)
    calls: list[str] = []
    report = evaluate([_inst(i) for i in IDS], preds, _grader(calls), max_workers=2)
    assert sorted(calls) == sorted([*GRADES, "crash"])  # empty and null patches are not run
    assert report["total_instances"] == 10 and report["submitted_instances"] == 9
    assert report["completed_ids"] == ["forged", "missing-test", "resolved", "unresolved"]
    assert report["resolved_ids"] == ["resolved"] and report["resolved_instances"] == 1
    assert report["unresolved_ids"] == ["forged", "missing-test", "unresolved"]
    assert report["error_ids"] == ["crash", "infra", "no-apply"] and report["error_instances"] == 3
    assert report["empty_patch_ids"] == ["empty", "null"] and report["incomplete_ids"] == ["no-prediction"]
    per = report["instance_reports"]
    assert set(per) == set(report["completed_ids"])
    assert per["resolved"]["tests_status"]["FAIL_TO_PASS"] == {"success": [F2P], "failure": []}
    assert per["resolved"]["tests_status"]["PASS_TO_PASS"] == {"success": [P2P], "failure": []}
    assert per["missing-test"]["tests_status"]["FAIL_TO_PASS"] == {"success": [], "failure": [F2P]}
    # forged outcomes are not believed: every test a failure, not resolved, the reason kept
    assert per["forged"]["tests_status"]["PASS_TO_PASS"] == {"success": [], "failure": [P2P]}
    assert per["forged"]["resolved"] is False and "canary" in report["agentgym"]["instances"]["forged"]["agent_failure"]
    assert per["resolved"]["patch_successfully_applied"] and per["resolved"]["patch_exists"]
    assert "docker went away" in report["agentgym"]["instances"]["crash"]["error"]
    with pytest.raises(PredictionsError, match="not in the dataset: stranger"):
        check_ids(IDS, {**preds, "stranger": preds["resolved"]})
    part = evaluate([_inst("resolved"), _inst("empty")], preds, _grader([]))  # as swebench's --instance_ids
    assert (part["total_instances"], part["submitted_instances"], part["empty_patch_ids"]) == (2, 9, ["empty"])

    # swebench's own make_run_report, over the per-instance reports in its layout, counts the same
    from swebench.harness.reporting import make_run_report

    monkeypatch.chdir(tmp_path)
    write_instance_logs(report, preds, Path("logs/run_evaluation"), "cmp")
    official = json.loads(Path(make_run_report({p["instance_id"]: p for p in _preds()},
                                                [{"instance_id": i} for i in IDS], "cmp")).read_text())
    shared = set(official) & set(report)
    assert shared >= {"total_instances", "submitted_instances", "completed_instances", "resolved_instances",
                      "unresolved_instances", "empty_patch_instances", "error_instances", "completed_ids",
                      "incomplete_ids", "empty_patch_ids", "submitted_ids", "resolved_ids", "unresolved_ids",
                      "error_ids", "schema_version"}
    assert {k: report[k] for k in shared} == {k: official[k] for k in shared}


def test_a_rerun_reuses_the_instance_reports_of_the_same_patches(tmp_path: Path) -> None:
    preds = {p["instance_id"]: p for p in _preds()}
    loaded, _ = load_predictions(_jsonl(tmp_path, preds.values()))
    first = evaluate([_inst(i) for i in IDS], loaded, _grader([]))
    write_instance_logs(first, loaded, tmp_path / "logs", "r")
    preds["unresolved"]["model_patch"] = "a new patch"  # changed: graded again
    loaded, _ = load_predictions(_jsonl(tmp_path, preds.values()))
    done = read_instance_logs(tmp_path / "logs", "r", loaded)
    assert sorted(done) == ["forged", "missing-test", "resolved"]
    calls, written = [], {}
    again = evaluate([_inst(i) for i in IDS], loaded, lambda inst, patch: _grader(calls)(inst, patch.replace(
        "a new patch", "patch of unresolved")), done=done, on_report=written.__setitem__)
    assert sorted(calls) == ["crash", "infra", "no-apply", "unresolved"] and list(written) == ["unresolved"]
    assert {k: v for k, v in again.items() if k != "agentgym"} == {k: v for k, v in first.items() if k != "agentgym"}


def _jsonl(tmp_path: Path, rows) -> Path:
    path = tmp_path / "preds.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_predictions_formats(tmp_path: Path) -> None:
    rows = _preds()[:2]
    as_list, as_dict = tmp_path / "a.json", tmp_path / "b.json"
    as_list.write_text(json.dumps(rows))
    as_dict.write_text(json.dumps({r["instance_id"]: r for r in rows}))  # SWE-agent's shape
    assert list(load_predictions(as_list)[0]) == list(load_predictions(as_dict)[0]) == ["resolved", "unresolved"]
    dup = tmp_path / "dup.jsonl"
    dup.write_text("\n".join(json.dumps({**rows[0], "model_patch": p}) for p in ("first", "second")) + "\n\n")
    preds, twice = load_predictions(dup)
    assert preds["resolved"].model_patch == "second" and twice == ["resolved"]  # the last counts, as in swebench


@pytest.mark.parametrize(("text", "expect"), [
    ('{"instance_id": "a", "model_patch": ""}\n{"instance_id": "b", "model_patch": "x"\n', "line 2: the line is not valid JSON"),
    ('{"instance_id": "a", "model_name_or_path": "m"}\n', "line 1: no 'model_patch'"),
    ('["a"]\n', "line 1: a prediction is a JSON object, not list"),
    ('{"model_patch": "x"}\n', "line 1: no 'instance_id'"),
    ('{"instance_id": "a", "model_patch": 3}\n', "model_patch is int"),
    ("[" * 5000 + "]" * 5000 + "\n", "line 1: the line is nested deeper"),
    ("\n\n", "no predictions in it"),
])
def test_malformed_predictions_are_one_clear_error(tmp_path: Path, text: str, expect: str) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(text)
    with pytest.raises(PredictionsError) as exc:
        load_predictions(path)
    assert expect in str(exc.value) and "\n" not in str(exc.value)


def test_cli_bad_input_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "p.jsonl"
    bad.write_text('{"instance_id": "cachetools-5.3.1__synth-0001", "model_patch": ""}\nnot json\n')
    stranger = tmp_path / "q.jsonl"
    stranger.write_text('{"instance_id": "no-such-instance", "model_patch": "x"}\n')
    for args, expect in [((str(bad), "-d", "swe-synth-lite"), "p.jsonl line 2"),
                         ((str(stranger), "-d", "swe-synth-lite"), "not in the dataset: no-such-instance"),
                         ((str(bad), "-d", "no-such-dataset"), "--dataset no-such-dataset: neither"),
                         ((str(tmp_path / "absent.jsonl"), "-d", "swe-synth-lite"), "does not exist")]:
        res = cli("swe", "evaluate", *args, "-r", "local", "-o", str(tmp_path / "r.json"))
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and len(lines) == 1 and expect in lines[0], (args, res.stderr)
        assert not (tmp_path / "r.json").exists()


@pytest.mark.docker
def test_swe_synth_lite_gold_resolved_empty_not_bad_patch_error(tmp_path: Path) -> None:
    ids = ["iso8601-2.0.0__synth-0001", "idna-3.4__synth-0001"]
    out = tmp_path / "gold.json"
    gold = cli("swe", "evaluate", "gold", "-d", "swe-synth-lite", "-r", "docker", "--instance-ids", ",".join(ids),
               "--out", str(out), "--log-dir", str(tmp_path / "logs"), "--run-id", "t")
    assert gold.returncode == 0, gold.stdout + gold.stderr
    rep = json.loads(out.read_text())
    assert rep["resolved_ids"] == sorted(ids) and rep["total_instances"] == rep["completed_instances"] == 2, rep
    assert rep["submitted_instances"] == 24  # `gold` submits every instance, as in swebench; --instance-ids picks
    assert rep["error_instances"] == rep["empty_patch_instances"] == rep["unresolved_instances"] == 0
    for iid in ids:
        status = rep["instance_reports"][iid]["tests_status"]
        assert status["FAIL_TO_PASS"]["failure"] == [] and status["FAIL_TO_PASS"]["success"], iid
        assert status["PASS_TO_PASS"]["failure"] == [], iid
        on_disk = json.loads((tmp_path / "logs" / "t" / "gold" / iid / "report.json").read_text())
        assert on_disk == {iid: rep["instance_reports"][iid]}
    assert "Instances resolved: 2" in gold.stdout
    again = cli("swe", "evaluate", "gold", "-d", "swe-synth-lite", "-r", "docker", "--instance-ids", ",".join(ids),
                "--out", str(out), "--log-dir", str(tmp_path / "logs"), "--run-id", "t")  # resumes: nothing to grade
    assert again.returncode == 0 and "reusing 2 instance reports" in again.stderr and "grading 0 of 2" in again.stderr
    assert json.loads(out.read_text())["resolved_ids"] == sorted(ids)

    preds = tmp_path / "preds.jsonl"
    bad_patch = "diff --git a/nowhere.py b/nowhere.py\n--- a/nowhere.py\n+++ b/nowhere.py\n@@ -1 +1 @@\n-x\n+y\n"
    preds.write_text("\n".join(json.dumps({"instance_id": i, "model_name_or_path": "m", "model_patch": p})
                               for i, p in [(ids[0], ""), (ids[1], None)]) + "\n")
    empty = cli("swe", "evaluate", str(preds), "-d", "swe-synth-lite", "-r", "docker", "--instance-ids", ",".join(ids),
                "--run-id", "e", cwd=tmp_path)  # default report path: <model>.<run-id>.json, as swebench
    assert empty.returncode == 0, empty.stderr
    rep = json.loads((tmp_path / "m.e.json").read_text())
    assert rep["resolved_instances"] == rep["completed_instances"] == 0 and rep["empty_patch_ids"] == sorted(ids)

    preds.write_text(json.dumps({"instance_id": ids[0], "model_name_or_path": "m", "model_patch": bad_patch}) + "\n")
    res = cli("swe", "evaluate", str(preds), "-d", "swe-synth-lite", "-r", "docker", "-o", str(tmp_path / "bad.json"))
    rep = json.loads((tmp_path / "bad.json").read_text())
    assert res.returncode == 0 and rep["error_ids"] == [ids[0]] and rep["total_instances"] == 24, res.stderr
    assert rep["incomplete_ids"] and ids[0] not in rep["incomplete_ids"] and rep["instance_reports"] == {}
    assert "did not apply" in rep["agentgym"]["instances"][ids[0]]["summary"]
