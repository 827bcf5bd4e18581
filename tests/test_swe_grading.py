"""The SWE grader's pieces without a sandbox: log parsers (and their forgery checks), diff filters."""

from __future__ import annotations

import pytest

from agentgym.envs.swe.diffs import diff_paths, filter_diff, is_protected, patch_refusal
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
                                          "test_c (app.tests.T)": "SKIPPED",
                                          "Docstring of b.": "FAILED"}  # SWE-bench's name for test_b


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


def _new(path: str, body: str = "x", mode: str = "100644") -> str:
    return f"diff --git a/{path} b/{path}\nnew file mode {mode}\n--- /dev/null\n+++ b/{path}\n@@ -0,0 +1 @@\n+{body}\n"


EDIT = "diff --git a/pkg/a.py b/pkg/a.py\nindex 1..2 100644\n--- a/pkg/a.py\n+++ b/pkg/a.py\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n"


def test_sections_on_git_folders_are_dropped_and_reported():
    """A hook or config under .git (git apply refuses it, patch wrote it) runs when the grader
    calls git: every section naming .git in any component, any case, either side, is dropped."""
    git_paths = [".git/hooks/post-checkout", "sub/.git/config", ".GIT/hooks/pre-commit", ".git"]
    diff = EDIT + "".join(_new(p) for p in git_paths) + _new(".gitignore") + _new(".github/x.yml") + _new("a.git/b.py")
    diff += ("diff --git a/pkg/b.py b/.git/hooks/post-merge\nsimilarity index 100%\n"
             "rename from pkg/b.py\nrename to .git/hooks/post-merge\n")
    diff += '''diff --git "a/.git/hooks/p\\303\\251" "b/.git/hooks/p\\303\\251"\nnew file mode 100755\n--- /dev/null\n+++ "b/.git/hooks/p\\303\\251"\n@@ -0,0 +1 @@\n+x\n'''
    kept, dropped = filter_diff(diff)
    assert diff_paths(kept) == ["pkg/a.py", ".gitignore", ".github/x.yml", "a.git/b.py"]
    assert dropped == [*git_paths, "pkg/b.py", ".git/hooks/post-merge", ".git/hooks/p\u00e9"]


def test_a_file_patch_hidden_after_a_hunk_is_judged():
    """git apply and patch both start a new file patch at a '--- '/'+++ ' pair after a hunk's
    counted lines (checked: git apply wrote the conftest.py below), so such a pair names a path
    of its section; a '--- ' line inside the counts is content."""
    hidden = EDIT + "--- /dev/null\n+++ b/conftest.py\n@@ -0,0 +1 @@\n+HIDDEN = 1\n"
    kept, dropped = filter_diff(hidden)
    assert kept == "" and dropped == ["pkg/a.py", "conftest.py"]
    content = EDIT.replace("-b\n+c\n", "--- a/conftest.py\n+c\n")
    assert filter_diff(content)[1] == []


def test_site_customisation_in_any_importable_form_is_protected():
    """With an editable install's .pth the repository is on sys.path before site imports
    sitecustomize, even under python -I (checked: a sitecustomize/ package at the root ran)."""
    for path in ("sitecustomize/__init__.py", "src/sitecustomize.pyc", "usercustomize/x.py",
                 "sitecustomize.cpython-311-x86_64-linux-gnu.so", "src/sitecustomize.py"):
        assert is_protected(path), path
    assert not is_protected("pkg/mysitecustomize.py") and not is_protected("pkg/site_customize.py")


def test_patch_is_only_given_a_diff_in_the_tracked_tree():
    assert patch_refusal(EDIT + _new("pkg/new.py")) is None
    assert patch_refusal(EDIT.replace(" a\n-b", "\n-b")) is None  # a context line whose space was lost
    refused = {
        "absolute": _new("/etc/x"), "dotdot": _new("../py/bin/git"), "dotdot inside": _new("pkg/../../x"),
        "git": _new("pkg/.git/hooks/x"), "symlink": _new("pkg/link", "../..", "120000"),
        "index line": EDIT.replace("index 1..2", "Index: ../py/bin/git\nindex 1..2"),
        "hidden after a hunk": EDIT + "--- a/pkg/a.py\n+++ ../x\n@@ -1 +1 @@\n-a\n+b\n",
        "text between hunks": EDIT + "garbage\n", "short hunk": EDIT[:-3],
        "preamble": "--- a/x\n+++ b/x\n" + EDIT, "binary": EDIT.replace("@@ -1,2 +1,2 @@", "GIT binary patch"),
    }
    for what, diff in refused.items():
        assert patch_refusal(diff), what


class _Recorder:
    """A stand-in sandbox that records the commands the grader's apply step runs; every try fails."""

    def __init__(self, root: str | None = None):
        self.root, self.commands = root, []

    def exec(self, command: str, timeout: float | None = None):  # noqa: ANN201
        from types import SimpleNamespace

        self.commands.append(command)
        ok = command.startswith("command -v")
        return SimpleNamespace(ok=ok, stdout="/usr/bin/" + command.split()[-1] + "\n" if ok else "",
                               output="error: refused")


def test_the_graders_git_is_absolute_with_hooks_off_and_patch_gets_no_git_path():
    """Every git the apply step runs is an absolute path with core.hooksPath=/dev/null, and a diff
    naming .git never reaches patch (it would write a hook git runs on the next checkout)."""
    from agentgym.envs.swe.grading import GIT_SAFE, _apply, tool_path

    sbx = _Recorder()
    git = f"{tool_path(sbx, 'git')} {GIT_SAFE}"
    method, error = _apply(sbx, "/g/model.diff", _new(".git/hooks/post-checkout"), git)
    assert method is None and "not tried with patch: a path outside the tracked tree" in error
    runs = [c for c in sbx.commands if not c.startswith("command -v")]
    assert runs and not any("patch " in c for c in runs)
    for c in runs:
        for part in c.split("&&"):
            assert part.strip().startswith("/usr/bin/git -c core.hooksPath=/dev/null"), c
    sbx = _Recorder()
    _apply(sbx, "/g/model.diff", EDIT, git)
    assert sbx.commands[-2].startswith("/usr/bin/patch --batch"), sbx.commands


def test_the_local_graders_git_is_never_one_in_the_sandbox(tmp_path, monkeypatch):
    """Locally the sandbox's venv bin comes first on its PATH: the grader looks git up on the
    host's PATH without the sandbox's folders."""
    import shutil

    from agentgym.envs.swe.grading import tool_path

    bin_dir = tmp_path / "py" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "git").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    assert tool_path(_Recorder(str(tmp_path)), "git") == shutil.which("git", path="/usr/bin:/bin")
