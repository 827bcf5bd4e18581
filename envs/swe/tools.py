"""The SWE agent's file tools: a viewer/editor with undo, and a capped search.

They work through the sandbox's channel (read_file / write_file / exec), so they behave the same
on Docker and local runtimes and cost one channel round trip, not a docker exec.
"""

from __future__ import annotations

import shlex
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agentgym.actions import ActionError, ToolResult
from agentgym.sandbox import Sandbox

VIEW_LINES = 400  # lines shown when no range is asked
SEARCH_CAP = 100  # result lines
SNIPPET = 4
EDIT_BYTES = 8 * 1024 * 1024  # the largest file the editor reads (views, edits, undo history)


class EditorArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    command: Literal["view", "create", "str_replace", "insert", "undo_edit"]
    path: str = Field(description="file or directory, relative to the repository root or absolute")
    view_range: list[int] | None = Field(None, description="[start, end] lines for view (1-based; end -1 = to the end)")
    file_text: str | None = Field(None, description="content for create")
    old_str: str | None = Field(None, description="exact text to replace (must occur exactly once) for str_replace")
    new_str: str | None = Field(None, description="replacement for str_replace, or the text to insert")
    insert_line: int | None = Field(None, ge=0, description="insert new_str after this line (0 = at the top)")

    @model_validator(mode="after")
    def _needs(self) -> EditorArgs:
        need = {"create": ["file_text"], "str_replace": ["old_str"], "insert": ["new_str", "insert_line"]}
        missing = [f for f in need.get(self.command, []) if getattr(self, f) is None]
        if missing:
            raise ValueError(f"{self.command} needs {', '.join(missing)}")
        return self


class SearchArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pattern: str = Field(description="a regular expression (grep -E) to find in files, or a glob for kind=files")
    path: str = Field(".", description="directory or file to search in")
    kind: Literal["content", "files"] = Field("content", description="content: grep lines; files: find names")
    include: str | None = Field(None, description="only files matching this glob, e.g. '*.py'")


class Editor:
    """view/create/str_replace/insert/undo_edit over one sandbox, with a per-file undo history."""

    def __init__(self, sandbox: Sandbox, root: str):
        self.sandbox, self.root = sandbox, root
        self.history: dict[str, list[bytes | None]] = {}

    def _abs(self, path: str) -> str:
        if not path or "\x00" in path:
            raise ActionError("path must be a non-empty string without NUL bytes")
        return path  # relative paths are the repository's: file calls and commands run from root

    def _exec(self, cmd: str, timeout: float = 30):
        return self.sandbox.exec(cmd, timeout=timeout, cwd=self.root)

    def _read(self, path: str) -> bytes | None:
        """The file's bytes, read with the channel's bounded, typed read: a FIFO, device or a file over
        EDIT_BYTES is refused (SandboxFileRefused, an AgentFault: an error observation, not infrastructure)."""
        try:
            return self.sandbox.read_file(path, max_bytes=EDIT_BYTES)
        except (FileNotFoundError, IsADirectoryError):
            return None

    def run(self, args: EditorArgs) -> ToolResult:
        path = self._abs(args.path)
        return getattr(self, "_" + args.command)(args, path)

    def _view(self, args: EditorArgs, path: str) -> ToolResult:
        q = shlex.quote(path)
        probe = self._exec(f"test -d {q} && echo dir || (test -f {q} && echo file || echo none)")
        kind = probe.stdout.strip()
        if kind == "dir":
            res = self._exec(f"cd {q} && find . -maxdepth 2 -not -path '*/.git*' -not -name '*.pyc' | sort | head -300")
            return ToolResult(output=f"Files in {args.path} (2 levels):\n{res.stdout}")
        if kind != "file":
            return ToolResult(output=f"Error: {args.path} does not exist", is_error=True)
        text = (self._read(path) or b"").decode("utf-8", errors="replace")
        lines = text.splitlines()
        start, end = 1, min(len(lines), VIEW_LINES)
        if args.view_range:
            if len(args.view_range) != 2:
                return ToolResult(output="Error: view_range must be [start, end]", is_error=True)
            start, end = args.view_range
            end = len(lines) if end == -1 else min(end, len(lines))
            if start < 1 or start > max(1, len(lines)) or end < start:
                return ToolResult(output=f"Error: view_range {args.view_range} is outside 1..{len(lines)}", is_error=True)
        shown = "\n".join(f"{i:6d}\t{lines[i - 1]}" for i in range(start, end + 1))
        more = "" if end >= len(lines) else f"\n[{len(lines) - end} more lines; use view_range]"
        return ToolResult(output=f"{args.path} (lines {start}-{end} of {len(lines)}):\n{shown}{more}")

    def _save(self, path: str, new: str, old: bytes | None) -> None:
        self.sandbox.write_file(path, new)
        self.history.setdefault(path, []).append(old)

    def _create(self, args: EditorArgs, path: str) -> ToolResult:
        old = self._read(path)
        self._exec(f"mkdir -p -- \"$(dirname {shlex.quote(path)})\"")
        self._save(path, args.file_text or "", old)
        return ToolResult(output=f"{'Overwrote' if old is not None else 'Created'} {args.path}")

    def _str_replace(self, args: EditorArgs, path: str) -> ToolResult:
        raw = self._read(path)
        if raw is None:
            return ToolResult(output=f"Error: {args.path} does not exist", is_error=True)
        text = raw.decode("utf-8", errors="replace")
        count = text.count(args.old_str or "")
        if not args.old_str or count != 1:
            where = "" if count == 0 else " at lines " + ", ".join(
                str(text[:i].count("\n") + 1) for i in _find_all(text, args.old_str or ""))[:200]
            return ToolResult(output=f"Error: old_str occurs {count} times in {args.path}{where}; it must occur "
                                     "exactly once (add surrounding lines to make it unique)", is_error=True)
        new_text = text.replace(args.old_str, args.new_str or "", 1)
        self._save(path, new_text, raw)
        return ToolResult(output=f"Edited {args.path}:\n{_snippet(new_text, text.index(args.old_str), args.new_str or '')}")

    def _insert(self, args: EditorArgs, path: str) -> ToolResult:
        raw = self._read(path)
        if raw is None:
            return ToolResult(output=f"Error: {args.path} does not exist", is_error=True)
        lines = raw.decode("utf-8", errors="replace").splitlines(keepends=True)
        at = args.insert_line or 0
        if at > len(lines):
            return ToolResult(output=f"Error: insert_line {at} is past the end ({len(lines)} lines)", is_error=True)
        ins = args.new_str or ""
        if lines and at > 0 and not lines[at - 1].endswith("\n"):
            lines[at - 1] += "\n"
        new_text = "".join(lines[:at]) + ins + ("" if ins.endswith("\n") else "\n") + "".join(lines[at:])
        self._save(path, new_text, raw)
        return ToolResult(output=f"Inserted {ins.count(chr(10)) + 1} line(s) after line {at} of {args.path}")

    def _undo_edit(self, args: EditorArgs, path: str) -> ToolResult:
        stack = self.history.get(path)
        if not stack:
            return ToolResult(output=f"Error: no edit of {args.path} to undo", is_error=True)
        old = stack.pop()
        if old is None:
            self._exec(f"rm -f -- {shlex.quote(path)}")
            return ToolResult(output=f"Undid the creation of {args.path} (removed it)")
        self.sandbox.write_file(path, old)
        return ToolResult(output=f"Restored {args.path} to before its last edit")


def search(sandbox: Sandbox, root: str, args: SearchArgs) -> ToolResult:
    q = shlex.quote
    where = args.path
    if args.kind == "files":
        cmd = f"find {q(where)} -name {q(args.pattern)} -not -path '*/.git/*'"
    else:
        inc = f"--include={q(args.include)}" if args.include else ""
        cmd = f"grep -rnIE --exclude-dir=.git {inc} -e {q(args.pattern)} {q(where)}"
    res = sandbox.exec(f"{cmd} 2>&1 | sed 's#^\\./##' | head -{SEARCH_CAP + 1}", timeout=60, cwd=root)
    lines = res.stdout.splitlines()
    if not lines:
        return ToolResult(output=f"No matches for {args.pattern!r} in {args.path}")
    more = f"\n[more than {SEARCH_CAP} results; narrow the pattern or the path]" if len(lines) > SEARCH_CAP else ""
    return ToolResult(output="\n".join(line[:300] for line in lines[:SEARCH_CAP]) + more)


def _find_all(text: str, sub: str) -> list[int]:
    out, i = [], text.find(sub)
    while i != -1 and sub:
        out.append(i)
        i = text.find(sub, i + 1)
    return out


def _snippet(text: str, at: int, new: str) -> str:
    first = text[:at].count("\n")
    lines = text.splitlines()
    lo, hi = max(0, first - SNIPPET), min(len(lines), first + new.count("\n") + SNIPPET + 1)
    return "\n".join(f"{i + 1:6d}\t{lines[i]}" for i in range(lo, hi))
