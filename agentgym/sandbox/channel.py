"""Host side of the sandbox channel: frames requests to channel_server.py and parses replies.

One Channel per sandbox. It owns a Transport (a byte stream to one running channel server; see
channel_transport.py: a local subprocess's pipes, or one long-lived ``docker exec``), reopens it
after a failure, and tells the agent's doing (a server killed from inside, a refused file) from
infrastructure failures.
"""

from __future__ import annotations

import base64
import json
import os
import re
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

from agentgym.guard import AgentFault
from agentgym.sandbox.base import (
    ARCHIVE_LIMIT,
    READ_LIMIT,
    ChannelKilled,
    CommandResult,
    SandboxError,
    SandboxFileRefused,
    SandboxServerBroken,
)
from agentgym.sandbox.channel_transport import (  # noqa: F401 - re-exported: callers import them from here
    BOOTSTRAP,
    FAST_PATH,
    PYTHON_CANDIDATES,
    SERVER_SOURCE,
    DockerTransport,
    LocalTransport,
    ServerWontStart,
    Transport,
    _frame,
    server_argv,
)

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
EXEC_GRACE_S = 20.0  # beyond a command's own timeout: the server needs time to kill and report
OP_TIMEOUT_S = 120.0


def _reply_limit(msg: dict[str, Any]) -> int:
    """The most bytes a reply to msg can hold: base64 of a read or archive, or a command's capped
    output as JSON (a byte can take 6 characters: \\ufffd), plus room for the rest."""
    op = msg.get("op")
    if op in ("read", "tar_out"):
        return int(msg.get("max_bytes") or ARCHIVE_LIMIT) * 4 // 3 + (1 << 20)
    if op == "exec":
        return 2 * 6 * int(msg.get("max_output") or 0) + (1 << 20)
    return 16 << 20


class ChannelDied(SandboxError):
    """The transport broke (end of stream, no reply in time, a failed write): the server is gone."""


class Channel:
    """Thread-safe request/reply over a Transport, reopened on the next call after a failure.

    When the server dies but a fresh one answers (the sandbox itself is up), what ran inside killed
    it: an exec raises ChannelKilled (an AgentFault: the command's outcome is unknown), any other
    op (read, write, tar, ping) is simply sent again to the fresh server. When no fresh server
    starts (the container is gone), the SandboxError stands: infrastructure.
    """

    def __init__(self, opener: Callable[[], Transport], *, name: str, max_output_bytes: int, default_timeout: float,
                 why_gone: Callable[[], bool] | None = None) -> None:
        self._opener = opener
        # called when no fresh server opens: it raises an AgentFault when the sandbox's end was the
        # agent's doing (docker: the container OOM-killed), else returns whether the sandbox is still
        # up; up, with a server that started and died, is the agent's doing too (SandboxServerBroken)
        self._why_gone = why_gone
        self._answered = False  # a server answered here once: the image and the transport work
        self._name = name
        self._lock = threading.Lock()
        self._t: Transport | None = None
        self._buf = bytearray()
        self._closed = False
        self.max_output_bytes = max_output_bytes
        self.default_timeout = default_timeout

    # ---- plumbing ------------------------------------------------------------------------------

    def _open(self) -> Transport:
        if self._closed:
            raise SandboxError(f"{self._name}: the sandbox is closed; create a new one")
        try:
            return self._open_once()
        except SandboxError as exc:
            # before any server answered here, nothing of the agent's has run: the SandboxError stands
            if self._answered and self._why_gone is not None and self._why_gone() and isinstance(exc, ServerWontStart):
                raise SandboxServerBroken(
                    f"{self._name} is running but its command server no longer starts: what ran in the sandbox "
                    f"broke what the server needs (its Python replaced or removed, code planted for its start-up); "
                    f"the episode ends, reset() starts a fresh sandbox ({exc})") from None
            raise

    def _open_once(self) -> Transport:
        try:
            t = self._opener()
        except (SandboxError, AgentFault):
            raise
        except Exception as e:  # noqa: BLE001 - Docker API errors, OSError: one kind for callers
            raise SandboxError(f"{self._name}: could not open the sandbox channel: {e}") from e
        self._t, self._buf = t, bytearray()
        try:
            self._roundtrip(t, {"op": "ping"}, 60.0)
        except SandboxError as exc:
            self._t = None
            raise ServerWontStart(str(exc)) from None
        self._answered = True
        return t

    def _fail(self, t: Transport, why: str) -> ChannelDied:
        diag = t.diagnostics()
        self._t = None
        try:
            t.close()
        except Exception:
            pass
        msg = f"{self._name}: sandbox channel died ({why})"
        if diag:
            msg += f"; server said: {diag[-1500:]}"
        return ChannelDied(msg + ". The next call reopens it if the sandbox is still running.")

    def _roundtrip(self, t: Transport, msg: dict[str, Any], timeout: float) -> dict[str, Any]:
        seq = os.urandom(8).hex()
        try:
            t.write(_frame({**msg, "seq": seq}))
        except OSError as e:
            raise self._fail(t, f"write failed: {e}") from None
        deadline = time.monotonic() + timeout
        buf = self._buf
        limit = _reply_limit(msg)
        try:
            while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
                if len(buf) >= 4 and struct.unpack(">I", buf[:4])[0] > limit:
                    # the server never sends that much: something in the sandbox wrote into its output
                    raise self._fail(t, f"a reply announced {struct.unpack('>I', buf[:4])[0]} bytes, past the "
                                        f"{limit} this request allows")
                data = t.read(deadline)
                if not data:
                    raise self._fail(t, "end of stream: the server exited or the sandbox stopped")
                buf += data
        except TimeoutError:
            raise self._fail(t, f"no reply within {timeout:.0f} s") from None
        except OSError as e:
            raise self._fail(t, f"read failed: {e}") from None
        n = struct.unpack(">I", buf[:4])[0]
        try:
            reply = json.loads(bytes(buf[4 : 4 + n]))
        except ValueError:
            reply = None
        del buf[: 4 + n]
        if not isinstance(reply, dict) or reply.get("seq") != seq:
            raise self._fail(t, "an unreadable or unasked-for reply (something in the sandbox wrote into the "
                                "server's output)")
        return reply

    def request(self, msg: dict[str, Any], timeout: float = OP_TIMEOUT_S) -> dict[str, Any]:
        with self._lock:
            t = self._t or self._open()
            for attempt in (1, 2):
                try:
                    reply = self._roundtrip(t, msg, timeout)
                    break
                except ChannelDied as died:
                    try:  # does a fresh server answer? Then the sandbox is up and its processes did it
                        t = self._open()
                    except SandboxError:
                        raise died from None
                    if msg.get("op") == "exec" or attempt == 2:  # an exec's outcome is unknown: not resent
                        raise ChannelKilled(
                            "what ran in the sandbox ended or tampered with its command server (killed it, wrote "
                            "into its output, or used up the memory it needed); a fresh one is running: files are "
                            f"kept, shell state (cwd, variables, background jobs) is not. ({died})") from None
        if not reply.get("ok"):
            kind, err = reply.get("type", ""), reply.get("error", "unknown error")
            if kind == "Refused":
                raise SandboxFileRefused(f"{msg.get('op')} refused: {err}")
            exc = {"FileNotFoundError": FileNotFoundError, "IsADirectoryError": IsADirectoryError,
                   "NotADirectoryError": NotADirectoryError, "PermissionError": PermissionError,
                   "FileExistsError": FileExistsError}.get(kind)
            if exc is not None:
                raise exc(err)
            raise SandboxError(f"{self._name}: {msg.get('op')} failed inside the sandbox: {kind}: {err}")
        return reply

    @property
    def transport(self) -> Transport | None:
        """The open transport, if any (DockerTransport.fast_path says how requests travel)."""
        return self._t

    def close(self, *, graceful: bool = True) -> None:
        """Ask the server to kill the sandbox's processes and exit, then drop the stream."""
        with self._lock:
            self._closed = True
            t, self._t = self._t, None
        if t is None:
            return
        if graceful:
            try:
                t.write(_frame({"op": "close"}))
                deadline = time.monotonic() + 5.0
                while t.read(deadline):  # until the server has exited (end of stream)
                    pass
            except (OSError, TimeoutError):
                pass
        t.close()

    # ---- operations ----------------------------------------------------------------------------

    def exec(self, command: str, timeout: float | None = None, cwd: str | None = None,
             env: dict[str, str] | None = None) -> CommandResult:
        timeout = self.default_timeout if timeout is None else float(timeout)
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        msg: dict[str, Any] = {"op": "exec", "command": command, "timeout": timeout, "max_output": self.max_output_bytes}
        if cwd:
            msg["cwd"] = cwd
        if env:
            bad = [k for k in env if not _ENV_NAME.match(str(k))]
            if bad:
                raise ValueError(f"invalid environment variable name(s) {bad}: use letters, digits and _")
            msg["env"] = {str(k): str(v) for k, v in env.items()}
        r = self.request(msg, timeout + EXEC_GRACE_S)
        return CommandResult(command=command, exit_code=r["exit_code"], stdout=r["stdout"], stderr=r["stderr"],
                             timed_out=r["timed_out"], truncated=r["truncated"], duration_s=r["duration_s"])

    def read_file(self, path: str, max_bytes: int = READ_LIMIT) -> bytes:
        return base64.b64decode(self.request({"op": "read", "path": path, "max_bytes": int(max_bytes)})["data"])

    def write_file(self, path: str, data: bytes | str, mode: int = 0o644) -> None:
        raw = data.encode() if isinstance(data, str) else bytes(data)
        self.request({"op": "write", "path": path, "data": base64.b64encode(raw).decode("ascii"), "mode": mode})

    def tar_out(self, path: str, max_bytes: int = ARCHIVE_LIMIT) -> bytes:
        """A tar of path (regular files, directories, symlinks as links; FIFOs, devices and sockets
        left out), at most max_bytes of archive (SandboxFileRefused past it)."""
        return base64.b64decode(self.request({"op": "tar_out", "path": path, "max_bytes": int(max_bytes)})["data"])

    def tar_in(self, path: str, tar: bytes) -> None:
        self.request({"op": "tar_in", "path": path, "data": base64.b64encode(tar).decode("ascii")})

    def killall(self, cwd: str | None = None) -> None:
        self.request({"op": "killall", "cwd": cwd}, 60.0)

    def ping(self) -> dict[str, Any]:
        return self.request({"op": "ping"}, 30.0)
