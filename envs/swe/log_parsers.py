"""Test-log parsers for grading SWE instances, hardened against forged output.

Each parser turns a test run into {test id: status} with status one of PASSED, FAILED, SKIPPED,
ERROR, XFAIL. What the agent's code can print must not count:

- pytest: the authoritative source is a JSON report written by our own plugin (REPORT_PLUGIN,
  loaded with -p from a directory outside the repository, autoload of other plugins disabled). The
  text log is only cross-checked: its final "N passed, M failed" line must agree with the report.
- Django's runner and sympy's bin/test: only lines in the exact shape the runner prints are read,
  and the runner's own totals ("Ran N tests", "tests finished: N passed") must match what was parsed,
  so extra forged "... ok" lines make the log inconsistent instead of passing a test.

A parser raises LogParseError when the log cannot be trusted or contains no tests; the grader turns
that into an infrastructure error (never a silent 0 and never a pass).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

PASSED, FAILED, SKIPPED, ERROR, XFAIL = "PASSED", "FAILED", "SKIPPED", "ERROR", "XFAIL"


class LogParseError(ValueError):
    """The log has no tests or contradicts itself: the run cannot be judged."""


# -- pytest --------------------------------------------------------------------------------------

#: A pytest plugin (written to a fresh directory outside the repository at grading time) that
#: records each test's outcome by node id. Setup/teardown errors count as ERROR, a skip in any
#: phase as SKIPPED, xfail as XFAIL, xpass (strict or not) as PASSED only when pytest says passed.
REPORT_PLUGIN = '''
import json, os

_PATH = os.environ.pop("AGENTGYM_PYTEST_REPORT")
_results = {}


def pytest_runtest_logreport(report):
    nid = report.nodeid
    if report.when == "call":
        if hasattr(report, "wasxfail"):
            status = "XFAIL" if report.skipped else "PASSED"
        else:
            status = "PASSED" if report.passed else "SKIPPED" if report.skipped else "FAILED"
        # a failure is sticky: a unittest subTest (pytest >= 9 reports each) that failed fails its test
        if _results.get(nid) not in ("ERROR", "FAILED"):
            _results[nid] = status
    elif report.failed:
        _results[nid] = "ERROR"
    elif report.skipped and nid not in _results:
        _results[nid] = "XFAIL" if hasattr(report, "wasxfail") else "SKIPPED"


def pytest_collectreport(report):
    if report.failed:
        _results[report.nodeid or "<collection>"] = "ERROR"


def pytest_sessionfinish(session, exitstatus):
    with open(_PATH, "w") as f:
        json.dump({"results": _results, "exitstatus": int(exitstatus)}, f)
'''

_SUMMARY = re.compile(r"^=+ (?P<body>.*?) in [\d.]+s(?: \([^)]*\))? =+$")
_COUNT = re.compile(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed|deselected|warnings?)")


def pytest_summary_counts(log: str) -> dict[str, int] | None:
    """The counts in pytest's final line, e.g. '==== 3 passed, 1 failed in 0.12s ====' (last one wins)."""
    found: dict[str, int] | None = None
    for line in log.splitlines():
        m = _SUMMARY.match(line.strip())
        if m:
            counts = {k.rstrip("s") if k.startswith("error") else k: int(n) for n, k in _COUNT.findall(m.group("body"))}
            if counts or "no tests ran" in m.group("body"):
                found = counts
    return found


def parse_pytest(report_json: str, log: str, exit_code: int | None) -> dict[str, str]:
    """Results from our plugin's report, cross-checked with the log's summary line and exit code."""
    try:
        data = json.loads(report_json)
        results: dict[str, str] = dict(data["results"])
    except (ValueError, KeyError, TypeError) as exc:
        raise LogParseError(f"the pytest report is missing or unreadable ({exc}); the test run did not finish") from None
    tests = {k: v for k, v in results.items() if k != "<collection>" and "::" in k}
    if not tests and not results:
        raise LogParseError("pytest ran no tests (nothing collected); the run cannot be judged")
    counts = pytest_summary_counts(log)
    if counts is not None:
        # The report may not claim more passes (or fewer failures) than pytest's own summary line.
        # Not equality: subtest failures are counted in the summary but fail one test in the report.
        n_pass = sum(v == PASSED for v in tests.values())
        n_fail = sum(v == FAILED for v in tests.values())
        if n_pass > counts.get("passed", 0) + counts.get("xpassed", 0) or n_fail > counts.get("failed", 0) \
                or (n_fail == 0) != (counts.get("failed", 0) == 0):
            raise LogParseError(f"pytest's summary line {counts} disagrees with its report "
                                f"({n_pass} passed, {n_fail} failed): the log or the report was tampered with")
    bad = any(v in (FAILED, ERROR) for v in results.values())
    if exit_code is not None and exit_code in (0, 1) and (exit_code == 1) != bad:
        raise LogParseError(f"pytest exited {exit_code} but its report shows {'failures' if bad else 'no failures'}")
    return results


# -- Django's runtests.py (verbosity 2) ----------------------------------------------------------

_DJANGO_ID = r"(?P<id>\w+ \([\w.]+\))"
_DJANGO_STATUS = r"(?P<status>ok|FAIL|ERROR|skipped.*|expected failure|unexpected success)"
_DJANGO_LINE = re.compile(rf"^{_DJANGO_ID} \.\.\. {_DJANGO_STATUS}$")
_DJANGO_HEAD = re.compile(rf"^{_DJANGO_ID}$")  # a docstring line follows, ending in ' ... status'
_DJANGO_TAIL = re.compile(rf"^.* \.\.\. {_DJANGO_STATUS}$")
_DJANGO_RAN = re.compile(r"^Ran (\d+) tests? in [\d.]+s$", re.M)


def parse_django(log: str, exit_code: int | None = None) -> dict[str, str]:
    """'test_x (app.tests.Case) ... ok' lines; ids are 'test_x (app.tests.Case)' as SWE-bench writes them."""
    results: dict[str, str] = {}
    status_of = {"ok": PASSED, "FAIL": FAILED, "ERROR": ERROR, "expected failure": XFAIL, "unexpected success": FAILED}
    pending: str | None = None
    for raw in log.splitlines():
        line = raw.rstrip()
        m = _DJANGO_LINE.match(line)
        tid = m.group("id") if m else None
        if m is None and pending is not None:
            m = _DJANGO_TAIL.match(line)
            tid = pending
        pending = None
        if m is None:
            head = _DJANGO_HEAD.match(line)
            pending = head.group("id") if head else None
            continue
        st = m.group("status")
        results[tid] = SKIPPED if st.startswith("skipped") else status_of[st]
    ran = _DJANGO_RAN.findall(log)
    if not results or not ran:
        raise LogParseError("no Django test results in the log (no 'Ran N tests' line)")
    if int(ran[-1]) != len(results):
        raise LogParseError(f"Django says it ran {ran[-1]} tests but the log shows {len(results)} results: "
                            "forged or garbled lines")
    bad = any(v in (FAILED, ERROR) for v in results.values())
    if exit_code is not None and (exit_code != 0) != bad:
        raise LogParseError(f"the Django runner exited {exit_code} but the parsed results say {'failures' if bad else 'all passed'}")
    return results


# -- sympy's bin/test ----------------------------------------------------------------------------

_SYMPY_LINE = re.compile(r"^(?P<name>test_\w+) (?P<status>ok|F|E|f|s|X|Slow)$")
_SYMPY_TOTAL = re.compile(r"tests finished: (?P<body>[^=]*?) in [\d.]+ seconds")


def parse_sympy(log: str, exit_code: int | None = None) -> dict[str, str]:
    """bin/test --verbose lines 'test_name ok|F|E|f|s|X'; totals from 'tests finished: ...'."""
    results: dict[str, str] = {}
    status_of = {"ok": PASSED, "F": FAILED, "E": ERROR, "f": XFAIL, "s": SKIPPED, "X": PASSED, "Slow": SKIPPED}
    for line in log.splitlines():
        m = _SYMPY_LINE.match(line.strip())
        if m:
            results[m.group("name")] = status_of[m.group("status")]
    totals = _SYMPY_TOTAL.findall(log)
    if not results or not totals:
        raise LogParseError("no sympy test results in the log (no 'tests finished' line)")
    counted = sum(int(n) for n in re.findall(r"(\d+) \w+", totals[-1]))
    if counted != len(results):
        raise LogParseError(f"sympy reports {counted} tests but the log shows {len(results)} results: forged or garbled lines")
    return results


TEXT_PARSERS: dict[str, Callable[[str, int | None], dict[str, str]]] = {"django": parse_django, "sympy": parse_sympy}
