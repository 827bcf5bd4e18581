"""Unified-diff handling for grading: split a diff per file, drop what the agent may not change.

The agent's diff may not touch tests or the test run's configuration: hunks on test files, any
conftest.py, pytest/tox/setup.cfg/pyproject configuration, site customisation (.pth,
sitecustomize.py, usercustomize.py) and pytest plugins are removed before grading and listed in the
report. Editing tests is the oldest reward hack (SWE-bench, R2E-Gym): a test the agent rewrote
judges nothing.
"""

from __future__ import annotations

import posixpath
import re

_HEADER = re.compile(r"^diff --git a/(?P<a>.+?) b/(?P<b>.+)$")

#: Basenames never taken from an agent's diff.
PROTECTED_NAMES = frozenset({
    "conftest.py", "pytest.ini", "tox.ini", "setup.cfg", "pyproject.toml", "sitecustomize.py",
    "usercustomize.py", ".pytest.ini", "noxfile.py", "Makefile", "runtests.py",
})


def split_diff(diff: str) -> list[tuple[str, str]]:
    """[(path, section text)] for each 'diff --git' section (path: the b/ side, a/ when deleted)."""
    sections: list[tuple[str, list[str]]] = []
    for line in diff.splitlines(keepends=True):
        m = _HEADER.match(line.rstrip("\n"))
        if m:
            b = m.group("b")
            sections.append((b, [line]))
        elif sections:
            sections[-1][1].append(line)
    out = []
    for path, lines in sections:
        text = "".join(lines)
        if "\n+++ /dev/null" in text:  # a deletion: judge by the old path
            m = _HEADER.match(lines[0].rstrip("\n"))
            path = m.group("a") if m else path
        out.append((path, text))
    return out


def diff_paths(diff: str) -> list[str]:
    return [p for p, _ in split_diff(diff)]


def is_test_path(path: str) -> bool:
    parts = path.split("/")
    name = parts[-1]
    return (
        any(p in ("test", "tests", "testing") for p in parts[:-1])
        or name.startswith("test_") or name.endswith("_test.py") or name == "tests.py"
    )


def is_protected(path: str, extra: set[str] | frozenset[str] = frozenset()) -> bool:
    name = posixpath.basename(path)
    return (
        path in extra or is_test_path(path) or name in PROTECTED_NAMES or name.endswith(".pth")
        or name.startswith("pytest_") and name.endswith(".py")
    )


def filter_diff(diff: str, extra_protected: set[str] | frozenset[str] = frozenset()) -> tuple[str, list[str]]:
    """(the diff without protected files' sections, the protected paths it tried to change)."""
    kept, dropped = [], []
    for path, text in split_diff(diff):
        (dropped if is_protected(path, extra_protected) else kept).append((path, text))
    return "".join(t if t.endswith("\n") else t + "\n" for _, t in kept), [p for p, _ in dropped]
