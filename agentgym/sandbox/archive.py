"""Archives coming OUT of a sandbox, on the host: bounded before they are read, filtered as they
are extracted.

copy_out hands graders a copy of what the agent left, so the archive is hostile: it may be huge
(a sparse 600 GB file, a million empty files), and it may carry device nodes, FIFOs, or symlinks
out of the copied tree (to /etc/passwd, to the host's answers) that a grader would follow. So:
the stream is read up to a byte limit (SandboxFileRefused past it), the members' declared sizes
are summed before anything is written, and extraction keeps regular files, directories and links
that stay inside the tree; FIFOs, devices and links out are left out (never followed).
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterable
from pathlib import Path

from agentgym.sandbox.base import SandboxError, SandboxFileRefused


def read_bounded(chunks: Iterable[bytes], limit: int, what: str) -> bytes:
    """Join a byte stream, refusing it past limit bytes (the rest is never read)."""
    buf = bytearray()
    it = iter(chunks)
    try:
        for chunk in it:
            buf += chunk
            if len(buf) > limit:
                raise SandboxFileRefused(f"{what} is larger than the limit of {limit} bytes")
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()
    return bytes(buf)


def _keep(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
        return None  # FIFO, character or block device: nothing a grader should see
    try:
        return tarfile.data_filter(member, dest)
    except tarfile.FilterError as exc:
        if member.issym() or member.islnk():
            return None  # a link to an absolute path or out of the tree: left out, never followed
        raise SandboxFileRefused(f"the archive holds a member that cannot be extracted safely: {exc}") from None


def safe_extract(data: bytes, dest: Path, *, limit: int, what: str) -> Path:
    """Extract a single-rooted tar from a sandbox into dest; returns the top entry.

    Raises SandboxFileRefused when the members unpack to more than limit bytes or the top entry
    itself was left out (a FIFO, a device, a link out of the tree)."""
    try:
        tar = tarfile.open(fileobj=io.BytesIO(data), mode="r")
    except tarfile.TarError as exc:
        raise SandboxError(f"the sandbox returned a broken archive for {what}: {exc}") from exc
    with tar:
        members = tar.getmembers()
        if not members:
            raise SandboxError(f"the sandbox returned an empty archive for {what}")
        total = sum(m.size for m in members if m.isreg())
        if total > limit:
            raise SandboxFileRefused(f"{what} unpacks to {total} bytes; the limit is {limit}")
        tar.extractall(dest, filter=_keep)
    top = dest / members[0].name.split("/")[0]
    if not top.exists() and not top.is_symlink():
        raise SandboxFileRefused(f"{what} is not a regular file, a directory or a link inside the copied tree")
    return top
