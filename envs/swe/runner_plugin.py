"""The grading run's pytest plugin. Runs INSIDE the grading sandbox, in the test process.

Python 3.6+ and the standard library only (it runs under the instance's own interpreter).
Registered by runner_boot.py (pytest.main(plugins=[...])), never through -p or a file on
sys.path, so nothing in the repository can replace it by name. Each report pytest makes is written
at once, as one JSON line, to a pipe whose reading end only the supervisor (runner_supervisor.py,
the test process's parent) holds: an outcome that has left cannot be rewritten later (an exit
handler, a rewritten report file), and a forged line written before the real one disagrees with it
(the grader treats any disagreement as tampering). Nothing here decides a status: the host folds
the records (testrun.py).
"""

import json
import os


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

    def pytest_sessionfinish(self, session, exitstatus):
        self._emit({"k": "end", "exit": int(exitstatus)})
