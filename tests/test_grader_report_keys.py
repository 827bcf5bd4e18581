"""build_grader_report moves a grader's outcomes into checks only when a Check holds all of each
outcome: a plugin's extra keys (points, weight, query) or a second text (detail beside reason)
keep the outcomes whole in details, not silently dropped from the stored report."""

from __future__ import annotations

from agentgym.transcript import build_grader_report


def _report(result):
    return build_grader_report(passed=False, error=None, truncated=False, last_info={}, last_observation="", env_report=result)


def test_outcomes_with_keys_a_check_lacks_stay_in_details():
    plain = [{"description": "file exists", "passed": True, "expected": "out.txt", "got": "out.txt"},
             {"name": "count", "passed": False, "reason": "3 != 4"}]
    rep = _report({"outcomes": plain, "summary": "1/2"})
    assert [c.name for c in rep.checks] == ["file exists", "count"] and "outcomes" not in rep.details
    for extra in ({"points": 2, "weight": 0.5}, {"detail": "the full diff"}, {"name": "second name"}):
        rich = [{**plain[0], **extra, "reason": "ok"} if "detail" in extra else {**plain[0], **extra}, plain[1]]
        rep = _report({"outcomes": rich, "summary": "1/2"})
        assert [c.name for c in rep.checks] == ["file exists", "count"]
        stored = rep.details["outcomes"][0]
        assert all(stored[k] == v for k, v in extra.items()), (extra, stored)
