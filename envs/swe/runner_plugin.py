"""The grading run's pytest plugin. Runs INSIDE the grading sandbox, in the test process.

Python 3.6+ and the standard library only (it runs under the instance's own interpreter).
Registered by runner_boot.py (pytest.main(plugins=[...])), never through -p or a file on
sys.path, so nothing in the repository can replace it by name. Each report pytest makes is written
at once, as one JSON line, to a pipe whose reading end only the supervisor (runner_supervisor.py,
the test process's parent) holds: an outcome that has left cannot be rewritten later (an exit
handler, a rewritten report file), and a forged line written before the real one disagrees with it
(the grader treats any disagreement as tampering). Nothing here decides a status: the host folds
the records (testrun.py).

Timing never flips a verdict: where the tests use Hypothesis, its per-example deadline and its
too-slow health check are turned off once collection has imported everything (a profile derived
from the project's own, and each collected test's explicit settings): on a loaded machine they
failed tests that pass (swe-synth's iso8601 gold). The run's own time limit still applies.
"""

import json
import os
import sys


class RecordPlugin(object):
    """pytest hooks that stream each report to fd as it is made."""

    def __init__(self, fd):
        self.fd = fd
        self.seen = {}

    def _emit(self, record):
        data = (json.dumps(record, sort_keys=True) + "\n").encode("utf-8", "replace")
        while data:
            try:
                n = os.write(self.fd, data)
            except InterruptedError:
                continue
            except OSError:
                return
            data = data[n:]

    def pytest_runtest_logreport(self, report):
        if report.when != "call" and report.passed:
            return  # a passing setup or teardown says nothing the call record does not
        key = (report.nodeid, report.when)
        n = self.seen.get(key, 0)  # several call reports: unittest subTests (pytest >= 9, pytest-subtests)
        self.seen[key] = n + 1
        self._emit({"k": "test", "id": report.nodeid, "when": report.when, "n": n, "outcome": report.outcome,
                    "xfail": hasattr(report, "wasxfail")})

    def pytest_collectreport(self, report):
        if report.failed:
            self._emit({"k": "collect", "id": report.nodeid or "<collection>"})

    def pytest_collection_finish(self, session):
        if "hypothesis" in sys.modules:  # imported by the tests: never imported here for nothing
            try:
                _hypothesis_untimed(session.items)
            except Exception:  # noqa: BLE001 - an old or odd Hypothesis: its own settings stay
                pass

    def pytest_sessionfinish(self, session, exitstatus):
        self._emit({"k": "end", "exit": int(exitstatus)})


def _hypothesis_untimed(items):
    """No deadline and no too-slow health check: for the default profile and every collected test."""
    from hypothesis import HealthCheck, settings

    def untimed(parent):
        slow = getattr(HealthCheck, "too_slow", None)
        kept = [h for h in (parent.suppress_health_check or ()) if h is not slow]
        return settings(parent, deadline=None, suppress_health_check=kept + ([slow] if slow is not None else []))

    settings.register_profile("agentgym-grading", untimed(settings()))
    settings.load_profile("agentgym-grading")
    for item in items:
        fn = getattr(getattr(item, "obj", None), "__func__", getattr(item, "obj", None))  # a method's function
        own = getattr(fn, "_hypothesis_internal_use_settings", None)
        if own is not None:
            try:
                fn._hypothesis_internal_use_settings = untimed(own)
            except Exception:  # noqa: BLE001 - a bound method or a read-only attribute: left as it is
                pass
