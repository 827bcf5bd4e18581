"""A pytest plugin (loaded with `-p synth_report`) used only while GENERATING swe-synth instances.

It writes every test's node id, outcome and crash message to the JSON file named by $SYNTH_REPORT,
so the generator reads outcomes exactly (node ids may hold characters that make the -rA summary
ambiguous to split). It is never part of an instance image or of grading.
"""

from __future__ import annotations

import json
import os

_results: dict[str, dict[str, str]] = {}
_collect_errors: list[str] = []


def _message(report) -> str:  # noqa: ANN001 - pytest's report object
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message)
    return str(report.longrepr or "")[-2000:]


def pytest_runtest_logreport(report) -> None:  # noqa: ANN001
    entry = _results.setdefault(report.nodeid, {"outcome": "passed", "message": ""})
    if report.when == "call":
        if report.outcome == "failed":
            entry.update(outcome="xpassed_strict" if hasattr(report, "wasxfail") else "failed",
                         message=_message(report))
        elif report.outcome == "skipped":
            entry["outcome"] = "xfailed" if hasattr(report, "wasxfail") else "skipped"
        elif report.outcome == "passed" and entry["outcome"] == "passed":
            entry["outcome"] = "xpassed" if hasattr(report, "wasxfail") else "passed"
    elif report.outcome == "failed":
        entry.update(outcome="error", message=_message(report))
    elif report.outcome == "skipped" and report.when == "setup":
        entry["outcome"] = "skipped"


def pytest_collectreport(report) -> None:  # noqa: ANN001
    if report.failed:
        _collect_errors.append(report.nodeid or "<session>")


def pytest_sessionfinish(session, exitstatus) -> None:  # noqa: ANN001
    path = os.environ.get("SYNTH_REPORT")
    if path:
        with open(path, "w") as f:
            json.dump({"tests": _results, "collect_errors": _collect_errors, "exitstatus": int(exitstatus)}, f)
