"""Unified-diff handling for grading: split a diff per file, drop what the agent may not change.

The agent's diff may not touch tests or the test run's configuration: hunks on test files, any
conftest.py, pytest/tox/setup.cfg/pyproject configuration, site customisation (.pth,
sitecustomize.py, usercustomize.py) and pytest plugins are removed before grading and listed in the
report. Editing tests is the oldest reward hack (SWE-bench, R2E-Gym): a test the agent rewrote
judges nothing. Every path a section names counts (old and new of a rename or copy, quoted or not).

Sections on .git (any component, any case) are dropped too: git apply refuses them but patch does
not, and a hook or config written there runs as soon as the grader calls git. A module named
sitecustomize/usercustomize in any form (package folder, .pyc, extension) is site customisation:
with an editable install's .pth the repository is on sys.path before site imports it, even under
`python -I`. Before the `patch` fallback, patch_refusal() checks the whole diff against a strict
grammar, so patch reads no file name we did not judge (no Index: lines, no file patch hidden after
a hunk's counted lines, no absolute or `..` path, no symbolic link).
"""

from __future__ import annotations

import posixpath
import re

#: Basenames never taken from an agent's diff.
PROTECTED_NAMES = frozenset({
    "conftest.py", "pytest.ini", "tox.ini", "setup.cfg", "pyproject.toml", "sitecustomize.py",
    "usercustomize.py", ".pytest.ini", "pytest.toml", ".pytest.toml", "noxfile.py", "Makefile", "runtests.py",
})

_HEADER = re.compile(r"^diff --git (?P<rest>.+)$")
_HUNK = re.compile(r"^@@ -\d+(?:,(?P<old>\d+))? \+\d+(?:,(?P<new>\d+))? @@")
#: extended header lines that name a path: a section is judged by every path it names
_PATH_LINES = re.compile(r"^(?:--- |\+\+\+ |rename from |rename to |copy from |copy to |Index: )(?P<path>.+)$")
_ESCAPES = {"a": "\a", "b": "\b", "t": "\t", "n": "\n", "v": "\v", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}


def _unquote(path: str) -> str:
    """git's C-style quoting ("tests/t\303\251st.py") undone; plain paths as they are."""
    path = path.rstrip("\t")
    if not (len(path) >= 2 and path[0] == '"' and path[-1] == '"'):
        return path
    out, body, i = bytearray(), path[1:-1], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in "01234567" and i + 3 < len(body) + 1 and all(c in "01234567" for c in body[i + 1:i + 4]):
                out.append(int(body[i + 1:i + 4], 8) & 0xFF)
                i += 4
                continue
            out += _ESCAPES.get(nxt, nxt).encode()
            i += 2
            continue
        out += ch.encode()
        i += 1
    return out.decode("utf-8", "replace")


def _strip_prefix(path: str) -> str | None:
    path = _unquote(path)
    if path == "/dev/null":
        return None
    return path[2:] if path[:2] in ("a/", "b/") else path


def _header_paths(rest: str) -> list[str]:
    """Both paths of 'diff --git a/X b/Y' (quoted or not; unquoted ones split at ' b/')."""
    if rest.startswith('"'):
        end = rest.find('" ', 1)
        while end != -1 and rest[end - 1] == "\\":
            end = rest.find('" ', end + 1)
        if end == -1:
            return []
        a, b = rest[:end + 1], rest[end + 2:]
    elif len(rest) % 2 == 1 and rest[:2] == "a/" and rest[len(rest) // 2:len(rest) // 2 + 3] == " b/" \
            and rest[2:len(rest) // 2] == rest[len(rest) // 2 + 3:]:
        a, b = rest[:len(rest) // 2], rest[len(rest) // 2 + 1:]  # the same path twice (spaces allowed)
    else:
        a, sep, b = rest.partition(" b/")
        b = "b/" + b if sep else ""
        if not sep and " \"b/" in rest:
            a, _, b = rest.partition(" \"b/")
            b = '"b/' + b
    return [p for p in (_strip_prefix(a), _strip_prefix(b)) if p]


class Section:
    """One 'diff --git' section: its text, its main path and every path it names."""

    def __init__(self, header: str, rest: str):
        self.lines = [header]
        self.paths = _header_paths(rest)

    def add(self, line: str, in_header: bool) -> None:
        self.lines.append(line)
        m = _PATH_LINES.match(line.rstrip("\n")) if in_header else None
        if m:
            p = m.group("path")
            p = _strip_prefix(p) if line.startswith(("--- ", "+++ ")) else _unquote(p)
            if p and p not in self.paths:
                self.paths.append(p)

    @property
    def path(self) -> str:
        """The path it leaves (the new one; the old one for a deletion)."""
        text = "".join(self.lines)
        if "\n+++ /dev/null" in text or "\ndeleted file mode" in text:
            return self.paths[0] if self.paths else ""
        return self.paths[-1] if self.paths else ""


def sections(diff: str) -> list[Section]:
    """The 'diff --git' sections. A path line counts both in the header and between hunks (after a
    hunk's counted lines): git apply and patch both start a new file patch at a '--- '/'+++ ' pair
    they meet there, so a file patch hidden after a hunk is judged as part of its section."""
    out: list[Section] = []
    in_header, old, new = False, 0, 0
    for line in diff.splitlines(keepends=True):
        m = _HEADER.match(line.rstrip("\n"))
        if m:
            out.append(Section(line, m.group("rest")))
            in_header, old, new = True, 0, 0
        elif out:
            if old > 0 or new > 0:  # a counted line of a hunk: content, never a path
                tag = line[:1] if line.strip("\n") else " "
                old -= tag in " -"
                new -= tag in " +"
                out[-1].add(line, False)
                continue
            if line.startswith("@@") or line.startswith("GIT binary patch"):
                in_header = False
                h = _HUNK.match(line)
                if h:
                    old, new = int(h.group("old") or 1), int(h.group("new") or 1)
                out[-1].add(line, False)
                continue
            out[-1].add(line, True)  # the header, or between hunks: a path line names a path
    return out


def split_diff(diff: str) -> list[tuple[str, str]]:
    """[(path, section text)] for each 'diff --git' section (path: the new path, the old one when deleted)."""
    return [(s.path, "".join(s.lines)) for s in sections(diff)]


def diff_paths(diff: str) -> list[str]:
    return [p for p, _ in split_diff(diff)]


def is_test_path(path: str) -> bool:
    parts = path.split("/")
    name = parts[-1]
    return (
        any(p in ("test", "tests", "testing") for p in parts[:-1])
        or name.startswith("test_") or name.endswith("_test.py") or name == "tests.py"
    )


#: module names site imports at start (sitecustomize.py, sitecustomize/, sitecustomize.pyc, .so ...)
_SITE_MODULES = frozenset({"sitecustomize", "usercustomize"})


def is_git_path(path: str) -> bool:
    """A path in or of a .git folder (any component; case-insensitive, as git itself refuses)."""
    return any(part.lower() == ".git" for part in path.split("/"))


def is_protected(path: str, extra: set[str] | frozenset[str] = frozenset()) -> bool:
    name = posixpath.basename(path)
    return (
        path in extra or is_test_path(path) or name in PROTECTED_NAMES or name.endswith(".pth")
        or name.startswith("pytest_") and name.endswith(".py") or is_git_path(path)
        or any(part.split(".", 1)[0] in _SITE_MODULES for part in path.split("/"))
    )


def filter_diff(diff: str, extra_protected: set[str] | frozenset[str] = frozenset()) -> tuple[str, list[str]]:
    """(the diff without protected files' sections, the protected paths it tried to change).

    A section is protected when ANY path it names is: `git mv tests/conftest.py elsewhere.py` is a
    change to tests/conftest.py (it would disappear), and a copy out of a test file is dropped too."""
    kept, dropped = [], []
    for sec in sections(diff):
        text = "".join(sec.lines)
        hit = [p for p in sec.paths if is_protected(p, extra_protected)]
        if hit:
            dropped.extend(p for p in sec.paths if p not in dropped)
        else:
            kept.append(text if text.endswith("\n") else text + "\n")
    return "".join(kept), dropped


#: header lines a git section may carry before its first hunk (anything else: no patch fallback)
_GIT_HEADERS = ("old mode ", "new mode ", "deleted file mode ", "new file mode ", "similarity index ",
                "dissimilarity index ", "rename from ", "rename to ", "copy from ", "copy to ", "index ",
                "--- ", "+++ ")


def unsafe_path(path: str) -> bool:
    """Absolute, with a `..` component, or in .git: outside the tracked tree."""
    return path.startswith("/") or ".." in path.split("/") or is_git_path(path)


def patch_refusal(diff: str) -> str | None:
    """Why `patch` may not be given this diff, or None. Every line must be what git writes: a
    'diff --git' header, known extended headers, then hunks of exactly their counted lines; every
    path it names inside the tree; no symbolic link or binary patch (patch would write through a
    link, and it takes a file name from any '--- '/'Index:' line it meets between hunks)."""
    secs = sections(diff)
    preamble = diff[:diff.find("diff --git ")] if secs else diff
    if preamble.strip():
        return "text before the first 'diff --git' header"
    for sec in secs:
        if not sec.paths:
            return f"a section names no path: {sec.lines[0].strip()[:200]}"
        bad = [p for p in sec.paths if unsafe_path(p)]
        if bad:
            return f"a path outside the tracked tree: {bad[0][:200]}"
        old = new = 0
        in_header = True
        for line in sec.lines[1:]:
            text = line.rstrip("\n")
            if old > 0 or new > 0:
                tag = text[:1] or " "  # a blank line: a context line whose space was stripped
                if tag not in " -+\\":
                    return f"a hunk ends early in {sec.path[:200]}"
                old -= tag in " -"
                new -= tag in " +"
                continue
            m = _HUNK.match(text)
            if m:
                in_header = False
                old, new = int(m.group("old") or 1), int(m.group("new") or 1)
                continue
            if text.startswith("\\") and not in_header:
                continue  # "\ No newline at end of file" after a hunk's last line
            if not in_header or not text.startswith(_GIT_HEADERS):
                return f"a line patch would read but git does not write, in {sec.path[:200]}: {text[:120]!r}"
            if "120000" in text and "mode " in text:
                return f"a symbolic link: {sec.path[:200]}"
        if old > 0 or new > 0:
            return f"a hunk is cut short in {sec.path[:200]}"
    return None
