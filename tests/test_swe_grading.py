"""The SWE grader's pieces without a sandbox: log parsers (and their forgery checks), diff filters."""

from __future__ import annotations

import pytest

from agentgym.envs.swe.diffs import diff_paths, filter_diff, is_protected
from agentgym.envs.swe.images import official_image_name
from agentgym.envs.swe.log_parsers import LogParseError, parse_django, parse_sympy, pytest_summary_counts

DJANGO_OK = """test_a (app.tests.T) ... ok
test_b (app.tests.T)
Docstring of b. ... FAIL
test_c (app.tests.T) ... skipped 'needs db'

----------------------------------------------------------------------
Ran 3 tests in 0.010s

FAILED (failures=1, skipped=1)
"""


def test_django_parser_reads_one_and_two_line_results():
    assert parse_django(DJANGO_OK, 1) == {"test_a (app.tests.T)": "PASSED", "test_b (app.tests.T)": "FAILED",
                                          "test_c (app.tests.T)": "SKIPPED"}


def test_django_forged_ok_lines_make_the_log_inconsistent():
    forged = "test_b (app.tests.T) ... ok\n" + DJANGO_OK  # printed by agent code before the runner's line
    with pytest.raises(LogParseError, match="ran 3 tests but the log shows"):
        parse_django(forged.replace("test_b (app.tests.T)\nDocstring of b. ... FAIL\n", "test_x (app.tests.T) ... ok\n"
                                    "test_b (app.tests.T)\nDocstring of b. ... FAIL\n"), 1)
    with pytest.raises(LogParseError, match="exited 0"):
        parse_django(DJANGO_OK, 0)
    with pytest.raises(LogParseError, match="no Django test results"):
        parse_django("Traceback: ImportError\n", 1)


def test_sympy_parser_and_totals():
    log = "test_one ok\ntest_two F\n=== tests finished: 1 passed, 1 failed, in 0.50 seconds ===\n"
    assert parse_sympy(log) == {"test_one": "PASSED", "test_two": "FAILED"}
    with pytest.raises(LogParseError, match="reports 2 tests"):
        parse_sympy("test_three ok\n" + log)


def test_pytest_summary_line_forms():
    assert pytest_summary_counts("== 3 passed, 1 skipped, 2 warnings in 1.20s ==") == {"passed": 3, "skipped": 1, "warnings": 2}
    assert pytest_summary_counts("=== 1 failed, 2 errors in 0.3s (0:00:00) ===") == {"failed": 1, "error": 2}
    assert pytest_summary_counts("no summary here") is None


DIFF = """diff --git a/pkg/mod.py b/pkg/mod.py
--- a/pkg/mod.py
+++ b/pkg/mod.py
@@ -1 +1 @@
-x = 1
+x = 2
diff --git a/tests/test_mod.py b/tests/test_mod.py
--- a/tests/test_mod.py
+++ b/tests/test_mod.py
@@ -1 +1 @@
-assert f() == 1
+assert True
diff --git a/conftest.py b/conftest.py
new file mode 100644
--- /dev/null
+++ b/conftest.py
@@ -0,0 +1 @@
+import pytest
diff --git a/pkg/old_test.py b/pkg/old_test.py
deleted file mode 100644
--- a/pkg/old_test.py
+++ /dev/null
@@ -1 +0,0 @@
-def test_x(): pass
"""


def test_filter_diff_drops_tests_and_test_configuration():
    kept, dropped = filter_diff(DIFF)
    assert diff_paths(kept) == ["pkg/mod.py"]
    assert dropped == ["tests/test_mod.py", "conftest.py", "pkg/old_test.py"]
    assert is_protected("pytest.toml") and is_protected("sub/.pytest.toml")
    for path in ("setup.cfg", "a/b/pytest.ini", "tox.ini", "pyproject.toml", "x/sitecustomize.py", "evil.pth",
                 "pkg/pytest_forcepass.py", "src/tests/helpers.py"):
        assert is_protected(path), path
    assert not is_protected("pkg/testing_utils_not_a_dir.py") and not is_protected("pkg/contest.py")


def test_official_image_renaming_rule():
    assert official_image_name("django__django-11099") == "swebench/sweb.eval.x86_64.django_1776_django-11099:latest"


RENAMES = """diff --git a/tests/conftest.py b/elsewhere.py
similarity index 100%
rename from tests/conftest.py
rename to elsewhere.py
diff --git a/pkg/mod.py b/pkg/moved.py
similarity index 100%
rename from pkg/mod.py
rename to pkg/moved.py
diff --git a/pkg/util.py b/tests/util.py
similarity index 90%
rename from pkg/util.py
rename to tests/util.py
diff --git "a/tests/t\\303\\251st_x.py" "b/tests/t\\303\\251st_x.py"
--- "a/tests/t\\303\\251st_x.py"
+++ "b/tests/t\\303\\251st_x.py"
@@ -1 +1 @@
-a
+b
diff --git a/a b/c.py b/a b/c.py
--- a/a b/c.py
+++ b/a b/c.py
@@ -1 +1 @@
-a
+b
"""


def test_renames_and_quoted_paths_are_judged_by_every_path():
    """`git mv tests/conftest.py elsewhere.py` used to be judged by its new path only and pass."""
    kept, dropped = filter_diff(RENAMES)
    assert diff_paths(kept) == ["pkg/moved.py", "a b/c.py"]
    assert dropped == ["tests/conftest.py", "elsewhere.py", "pkg/util.py", "tests/util.py", "tests/t\u00e9st_x.py"]
    assert diff_paths(RENAMES)[0] == "elsewhere.py"  # the path a section leaves behind
