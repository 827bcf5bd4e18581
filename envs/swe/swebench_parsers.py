"""Test ids as SWE-bench names them, by SWE-bench's own log parsers (the swebench package).

A dataset's FAIL_TO_PASS / PASS_TO_PASS are whatever the harness's parser for that repository
read out of the run's log, and the parsers do not all keep pytest's node id: parse_log_pytest and
its aliases keep the text up to the first space (a parametrized id with a space is cut there),
parse_log_pytest_options shortens a path option to its last part ('[/tmp/x/a.py]' -> '[/a.py]'),
parse_log_matplotlib writes MouseButton.LEFT as 1, parse_log_django names a test with a docstring
by the docstring's first line. Rather than copy those rules, name_tests() hands the parser the
lines pytest's -rA summary would print for the outcomes of our supervised run (trusted records,
not the log the agent's code can write to) and keeps the names it gives back.

parse_log() runs a parser on a whole text log as the harness does; it trusts every line (anything
the tests print can add a "PASSED x" line), so the grader never scores from it: it is for reading
recorded logs and cross-checks (tests/test_swe_specs.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from agentgym.envs.swe import swebench_specs

Parse = Callable[[str, Any], dict[str, str]]
#: the statuses pytest's -rA summary lines start with, for our record statuses
_SUMMARY_WORD = {"PASSED": "PASSED", "FAILED": "FAILED", "ERROR": "ERROR", "SKIPPED": "SKIPPED", "XFAIL": "XFAIL"}


@functools.cache
def parser(name: str) -> Parse:
    """SWE-bench's parser function called `name` (e.g. 'parse_log_pytest_v2'); ValueError if it has none."""
    py_parsers = swebench_specs.tables().parser_module  # SwebenchMissing with the install hint when absent

    fn = getattr(py_parsers, name, None) if name.startswith("parse_log_") else None
    if not callable(fn):
        known = sorted(n for n in dir(py_parsers) if n.startswith("parse_log_"))
        raise ValueError(f"swebench has no Python log parser {name!r}; known: {', '.join(known)}")
    return fn


def parse_log(name: str, log: str) -> dict[str, str]:
    """{test id: status} that SWE-bench's parser `name` reads from a text log (untrusted: see module doc)."""
    return parser(name)(log, None)


def name_tests(name: str, results: dict[str, str]) -> dict[str, str]:
    """Our supervised run's {pytest node id: status} renamed as SWE-bench's parser `name` names them.

    Node ids holding a line break are dropped (no summary line could carry them). With name == '' the
    results come back as they are."""
    if not name:
        return dict(results)
    lines = [f"{_SUMMARY_WORD[st]} {nodeid}" for nodeid, st in results.items()
             if st in _SUMMARY_WORD and "\n" not in nodeid and "\r" not in nodeid and nodeid.strip() == nodeid]
    return parse_log(name, "\n".join(lines) + "\n")
