"""Bounded reads and guarded parses of anything an agent controls, and the fault that says so.

The agent is adversarial (it runs arbitrary code in its sandbox), so every file it could have
written is read as hostile: its type is checked before it is opened (regular files only: no FIFO
that stalls the reader, no device like /dev/zero that never ends, no symlink out), its size before
it is read, and every parse has limits on size and depth (JSON nesting, integer digits, Python AST
depth, zip members, their flags, methods and CRCs).

A failure here is the agent's doing, never infrastructure: it raises AgentFault, which the env
turns into an error observation (and reward 0 where it ends the episode) with the reason in
info["agent_failure"], never info["error"]. Since infrastructure errors are kept out of scores,
calling an agent's crash infrastructure would let it dodge its zero.
"""

from __future__ import annotations

import ast
import io
import json
import os
import stat
import zipfile
from typing import Any

#: Defaults: generous for honest work, far below what hurts a host.
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_JSON_DEPTH = 64
MAX_INT_DIGITS = 100
MAX_AST_DEPTH = 200
MAX_ZIP_MEMBERS = 64


class AgentFault(Exception):
    """A failure the agent caused (what it submitted, wrote or ran): an agent failure with a reason.

    terminal=True ends the episode with reward 0 (a submission that cannot be graded); otherwise
    the call is an error observation and the episode goes on.
    """

    def __init__(self, reason: str, *, terminal: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.terminal = terminal


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"), (stat.S_ISLNK, "a symlink")):
        if test(mode):
            return name
    return "not a regular file"


def read_agent_file(path: str | os.PathLike[str], *, limit: int = MAX_FILE_BYTES, what: str = "file") -> bytes:
    """The bytes of a regular file the agent controls, at most limit of them.

    Raises AgentFault when it is missing, not a regular file (FIFO, device, socket, directory,
    symlink), larger than limit (by its size, checked before reading; sparse files included), or
    swapped for something else between the check and the open.
    """
    p = os.fspath(path)
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        raise AgentFault(f"{what} {p} does not exist") from None
    except OSError as exc:
        raise AgentFault(f"{what} {p} cannot be read: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise AgentFault(f"{what} {p} is {_kind(st.st_mode)}, not a regular file")
    if st.st_size > limit:
        raise AgentFault(f"{what} {p} is {st.st_size} bytes; the limit is {limit}")
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise AgentFault(f"{what} {p} cannot be opened: {exc.strerror}") from None
    try:
        st2 = os.fstat(fd)
        if not stat.S_ISREG(st2.st_mode) or (st2.st_dev, st2.st_ino) != (st.st_dev, st.st_ino):
            raise AgentFault(f"{what} {p} changed while it was being read")
        chunks, left = [], limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise AgentFault(f"{what} {p} grew past the limit of {limit} bytes while being read")
    return data


def read_agent_text(path: str | os.PathLike[str], *, limit: int = MAX_FILE_BYTES, what: str = "file") -> str:
    """read_agent_file decoded as UTF-8; undecodable bytes are an AgentFault."""
    data = read_agent_file(path, limit=limit, what=what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AgentFault(f"{what} {os.fspath(path)} is not UTF-8 text (byte {exc.start})") from None


def _json_depth(text: str, max_depth: int, what: str) -> None:
    """Refuse nesting deeper than max_depth before json sees it (deep input overflows its stack)."""
    depth, in_str, escaped = 0, False, False
    for ch in text:
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > max_depth:
                raise AgentFault(f"{what} is nested deeper than {max_depth} levels")
        elif ch in "]}":
            depth -= 1


def parse_json(data: bytes | str, *, max_bytes: int = MAX_FILE_BYTES, max_depth: int = MAX_JSON_DEPTH,
               max_digits: int = MAX_INT_DIGITS, what: str = "JSON") -> Any:
    """json.loads with limits on size, nesting depth and digits per number; any failure is an AgentFault."""
    if len(data) > max_bytes:
        raise AgentFault(f"{what} is {len(data)} bytes; the limit is {max_bytes}")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AgentFault(f"{what} is not UTF-8 (byte {exc.start})") from None
    _json_depth(data, max_depth, what)

    def number(kind: type) -> Any:
        def parse(s: str) -> Any:
            if len(s) > max_digits:
                raise AgentFault(f"{what} has a number of {len(s)} characters; the limit is {max_digits}")
            return kind(s)
        return parse

    try:
        return json.loads(data, parse_int=number(int), parse_float=number(float))
    except AgentFault:
        raise
    except (ValueError, RecursionError, MemoryError) as exc:
        raise AgentFault(f"{what} is not valid JSON: {str(exc)[:200]}") from None


def parse_python(source: str | bytes, *, max_bytes: int = 2 * 1024 * 1024, max_depth: int = MAX_AST_DEPTH,
                 filename: str = "<agent>", what: str = "module") -> ast.Module:
    """ast.parse with limits: size, then parser failures (SyntaxError, RecursionError, MemoryError),
    then the tree's depth (so later recursive walks cannot overflow). Any failure is an AgentFault."""
    if len(source) > max_bytes:
        raise AgentFault(f"{what} is {len(source)} bytes; the limit is {max_bytes}")
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        raise AgentFault(f"{what} does not parse: {exc.msg} (line {exc.lineno})") from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise AgentFault(f"{what} is too deeply nested or too large to parse ({type(exc).__name__})") from None
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise AgentFault(f"{what} nests deeper than {max_depth} syntax levels")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return tree


def check_zip(data: bytes, *, max_members: int = MAX_ZIP_MEMBERS, max_bytes: int = 4 * MAX_FILE_BYTES,
              what: str = "archive") -> list[zipfile.ZipInfo]:
    """Open a zip (an .npz) only after checking it: member count, no encryption flag, only stored
    or deflated members, declared sizes within max_bytes in all, and every CRC right."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise AgentFault(f"{what} is not a valid zip archive: {exc}") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > max_members:
            raise AgentFault(f"{what} has {len(infos)} members; the limit is {max_members}")
        total = 0
        for info in infos:
            if info.flag_bits & 0x1:
                raise AgentFault(f"{what} member {info.filename!r} is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise AgentFault(f"{what} member {info.filename!r} uses compression method {info.compress_type}; "
                                 "only stored or deflated members are accepted")
            total += info.file_size
            if total > max_bytes:
                raise AgentFault(f"{what} unpacks to more than {max_bytes} bytes")
        for info in infos:  # testzip, bounded: every member inflates within its declared size and CRC
            try:
                with zf.open(info) as member:
                    got = 0
                    while chunk := member.read(1 << 20):
                        got += len(chunk)
                        if got > info.file_size:
                            raise AgentFault(f"{what} member {info.filename!r} inflates past its declared size")
            except AgentFault:
                raise
            except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
                raise AgentFault(f"{what} member {info.filename!r} is corrupt: {exc}") from None
        return infos


def load_npz(data: bytes, *, max_members: int = MAX_ZIP_MEMBERS, max_bytes: int = 4 * MAX_FILE_BYTES,
             what: str = "artifact") -> dict[str, Any]:
    """The arrays of an .npz after check_zip, loaded with allow_pickle=False; every failure
    (truncated array, bad header, object arrays) is an AgentFault."""
    import numpy as np

    check_zip(data, max_members=max_members, max_bytes=max_bytes, what=what)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {name: np.array(npz[name]) for name in npz.files}
    except AgentFault:
        raise
    except Exception as exc:  # noqa: BLE001 - numpy raises many types for a malformed array
        raise AgentFault(f"{what} holds an array that cannot be loaded: {type(exc).__name__}: {str(exc)[:200]}") from None


def bounded_str(text: str, limit: int = 2000) -> str:
    """text cut to limit characters for a message, marked when cut."""
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more characters]"


__all__ = ["AgentFault", "read_agent_file", "read_agent_text", "parse_json", "parse_python", "check_zip",
           "load_npz", "bounded_str", "MAX_FILE_BYTES"]
