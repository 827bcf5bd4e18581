"""Test-log parsers for grading SWE instances, hardened against forged output.

Each parser turns a test run into {test id: status} with status one of PASSED, FAILED, SKIPPED,
ERROR, XFAIL. What the agent's code can print must not count:

- pytest: outcomes come from our supervised run (testrun.py: records streamed out of the test
  process as each test ends, MAC'd by the supervisor); the text log is only cross-checked there,
  with pytest_summary_counts below reading its final "N passed, M failed" line.
- Django's runner and sympy's bin/test: only lines in the exact shape the runner prints are read,
  and the runner's own totals ("Ran N tests", "tests finished: N passed") must match what was parsed,
  so extra forged "... ok" lines make the log inconsistent instead of passing a test.

A parser raises LogParseError when the log cannot be trusted or contains no tests; the grader
blames the agent for it when its diff ran (forged lines), infrastructure when not; never a pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable

PASSED, FAILED, SKIPPED, ERROR, XFAIL = "PASSED", "FAILED", "SKIPPED", "ERROR", "XFAIL"


class LogParseError(ValueError):
    """The log has no tests or contradicts itself: the run cannot be judged."""


# -- pytest --------------------------------------------------------------------------------------

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


# -- Django's runtests.py (verbosity 2) ----------------------------------------------------------

_DJANGO_ID = r"(?P<id>\w+ \([\w.]+\))"
_DJANGO_STATUS = r"(?P<status>ok|FAIL|ERROR|skipped.*|expected failure|unexpected success)"
_DJANGO_LINE = re.compile(rf"^{_DJANGO_ID} \.\.\. {_DJANGO_STATUS}$")
_DJANGO_HEAD = re.compile(rf"^{_DJANGO_ID}$")  # a docstring line follows, ending in ' ... status'
_DJANGO_TAIL = re.compile(rf"^(?P<doc>.*) \.\.\. {_DJANGO_STATUS}$")
_DJANGO_OPEN = re.compile(rf"^{_DJANGO_ID} \.\.\. (?P<rest>.*)$")  # output printed before the status
_DJANGO_BARE = re.compile(rf"^{_DJANGO_STATUS}$")  # ... which then stands alone on a later line
_DJANGO_RAN = re.compile(r"^Ran (\d+) tests? in [\d.]+s$", re.M)
_DJANGO_OF = {"ok": PASSED, "FAIL": FAILED, "ERROR": ERROR, "expected failure": XFAIL, "unexpected success": FAILED}


def parse_django(log: str, exit_code: int | None = None) -> dict[str, str]:
    """'test_x (app.tests.Case) ... ok' lines; ids are 'test_x (app.tests.Case)' as SWE-bench writes them.

    A test with a docstring prints 'test_x (app.tests.Case)' then 'First docstring line ... ok': SWE-bench
    names it by the docstring line, so both names get the status (the count check uses the tests). A test
    whose own output came between ' ... ' and its status ('ok' alone on a later line) is read too; a
    status alone that no test was waiting for means a test printed its own status ('ok') first."""
    results: dict[str, str] = {}
    docs: dict[str, str] = {}
    pending: str | None = None  # a head line waiting for its docstring line
    open_id, open_doc = None, None  # 'id ... <output>' waiting for its bare status line
    stray = 0
    for raw in log.split("\n" + "=" * 70 + "\n", 1)[0].splitlines():  # failure details follow the results
        line = raw.rstrip()
        if (m := _DJANGO_LINE.match(line)) is not None:
            results[m.group("id")] = _django_status(m.group("status"))
            pending = open_id = None
            continue
        if pending is not None and (tail := _DJANGO_TAIL.match(line)):
            results[pending] = docs[tail.group("doc")] = _django_status(tail.group("status"))
            pending = open_id = None
            continue
        if (bare := _DJANGO_BARE.match(line)) is not None:
            if open_id is None:
                stray += 1
            else:
                results[open_id] = status = _django_status(bare.group("status"))
                if open_doc is not None:
                    docs[open_doc] = status
            pending = open_id = None
            continue
        head, opened = _DJANGO_HEAD.match(line), _DJANGO_OPEN.match(line)
        if head:
            pending, open_id = head.group("id"), None
        elif opened:
            pending, open_id, open_doc = None, opened.group("id"), None
        elif pending is not None and " ... " in line:  # a docstring line, then the test's own output
            pending, open_id, open_doc = None, pending, line.split(" ... ", 1)[0]
        elif pending is not None:
            pending = None  # only the line right after a head is its docstring
    ran = _DJANGO_RAN.findall(log)
    if not results or not ran:
        raise LogParseError("no Django test results in the log (no 'Ran N tests' line)")
    if int(ran[-1]) != len(results) or stray:
        raise LogParseError(f"Django says it ran {ran[-1]} tests but the log shows {len(results)} results"
                            f"{f' and {stray} status lines of no test' if stray else ''}: forged or garbled lines")
    bad = any(v in (FAILED, ERROR) for v in results.values())
    if exit_code is not None and (exit_code != 0) != bad:
        raise LogParseError(f"the Django runner exited {exit_code} but the parsed results say {'failures' if bad else 'all passed'}")
    return {**{d: st for d, st in docs.items() if d not in results}, **results}


def _django_status(word: str) -> str:
    return SKIPPED if word.startswith("skipped") else _DJANGO_OF[word]


# -- sympy's bin/test ----------------------------------------------------------------------------

# 'test_x ok', 'test_x F', 'test_x needs numpy s' (a skip: its message, then s/w/K/T); the last test of a
# file carries the file's verdict after padding: 'test_y ok            [OK]'
_SYMPY_LINE = re.compile(r"^(?P<name>test_\w+) (?:(?P<status>ok|F|E|f|X|T)|(?P<why>.*) (?P<skip>[swKT]))"
                         r"(?:\s+\[(?:OK|FAIL)\])?$")
_SYMPY_BARE = re.compile(r"^(?:ok|F|E|f|X|T)(?:\s+\[(?:OK|FAIL)\])?$")
_SYMPY_TOTAL = re.compile(r"tests finished: (?P<body>[^=]*?) in [\d.]+ seconds")
_SYMPY_OF = {"ok": PASSED, "F": FAILED, "E": ERROR, "f": XFAIL, "X": PASSED, "T": FAILED}


def parse_sympy(log: str, exit_code: int | None = None) -> dict[str, str]:
    """bin/test --verbose lines 'test_name ok|F|E|f|X|T' and skips; totals from 'tests finished: ...'
    (which may wrap onto the next line). Ids are the test function's name, as SWE-bench writes them."""
    results: dict[str, str] = {}
    stray = 0  # a status alone on its line: the test printed 'ok' after its name, the runner's verdict followed
    for line in log.split("\n" + "_" * 80 + "\n", 1)[0].splitlines():  # failure details follow the results
        m = _SYMPY_LINE.match(line.strip())
        if m:
            results[m.group("name")] = _SYMPY_OF[m.group("status")] if m.group("status") else SKIPPED
        elif _SYMPY_BARE.match(line.strip()):
            stray += 1
    totals = _SYMPY_TOTAL.findall(log)
    if not results or not totals:
        raise LogParseError("no sympy test results in the log (no 'tests finished' line)")
    counted = sum(int(n) for n in re.findall(r"(\d+) \w+", totals[-1]))
    if counted != len(results) or stray:
        raise LogParseError(f"sympy reports {counted} tests but the log shows {len(results)} results"
                            f"{f' and {stray} status lines of no test' if stray else ''}: forged or garbled lines")
    bad = any(v in (FAILED, ERROR) for v in results.values())
    if exit_code is not None and (exit_code != 0) != bad:
        raise LogParseError(f"bin/test exited {exit_code} but the parsed results say {'failures' if bad else 'all passed'}")
    return results


TEXT_PARSERS: dict[str, Callable[[str, int | None], dict[str, str]]] = {"django": parse_django, "sympy": parse_sympy}
