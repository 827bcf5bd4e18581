"""Transports of the sandbox channel: how the host reaches one running channel server.

LocalTransport is a subprocess's pipes (the local backend); DockerTransport is ONE long-lived
``docker exec`` whose stdout/stderr arrive multiplexed with Docker's 8-byte frame headers, with a
unix-socket fast path. The server's source is sent over stdin right after start (a tiny
bootstrap reads it), so nothing is copied into the sandbox. Channel (channel.py) frames requests
over either.
"""

from __future__ import annotations

import json
import os
import select
import socket
import struct
import subprocess
import time
from pathlib import Path
from typing import Any, Protocol

from agentgym.sandbox.base import SandboxError

#: The server as one program: its helpers first, then the server (which then skips its import).
SERVER_SOURCE = b"\n".join(Path(__file__).with_name(n).read_bytes()
                          for n in ("channel_procs.py", "channel_files.py", "channel_shell.py", "channel_server.py"))

#: Runs with any Python >= 2.7 syntax-wise; reads the server source (its length is argv[1]) from
#: stdin and executes it with the remaining argv.
BOOTSTRAP = "import os,sys\nn=int(sys.argv.pop(1));b=b''\nwhile len(b)<n:b+=os.read(0,n-len(b))or sys.exit(3)\nexec(b)"

#: Interpreters tried in order inside a container; names other than python3 are version-checked.
PYTHON_CANDIDATES = ("python3", "python", "/opt/miniconda3/bin/python", "/usr/local/bin/python3")

#: -I -S: the server (standard library only) runs no site-packages .pth, sitecustomize or PYTHON*
#: variable, so code the agent plants for Python's start-up never runs inside a fresh server.
_FIND_PYTHON = (
    'for p in {cands}; do command -v "$p" >/dev/null 2>&1 || continue; '
    'case "$p" in python3) ;; *) "$p" -c "import sys; sys.exit(sys.version_info < (3, 6))" 2>/dev/null || continue;; esac; '
    'exec "$p" -I -S -c "$0" "$@"; done; '
    'echo "agentgym: no Python >= 3.6 in this image (tried {cands}); the sandbox channel needs one" >&2; exit 127'
).format(cands=" ".join(PYTHON_CANDIDATES))




def server_argv(python: str | None, sbx_id: str, workdir: str, *, rundir: str = "", data_limit: int = 0,
                file_limit: int = 0, confine: str = "") -> list[str]:
    """The argv that starts a channel server; with python=None an sh loop discovers one.

    file_limit: RLIMIT_FSIZE of commands (0: none). confine: paths inside this directory must stay
    inside it once symlinks are resolved (the local backend's sandbox directory)."""
    args = [str(len(SERVER_SOURCE)), "--sbx", sbx_id, "--workdir", workdir, "--data-limit", str(data_limit)]
    if file_limit:
        args += ["--file-limit", str(file_limit)]
    if rundir:
        args += ["--rundir", rundir]
    if confine:
        args += ["--confine", confine]
    if python:
        return [python, "-c", BOOTSTRAP, *args]
    return ["/bin/sh", "-c", _FIND_PYTHON, BOOTSTRAP, *args]


class Transport(Protocol):
    def write(self, data: bytes) -> None: ...
    def read(self, deadline: float) -> bytes:
        """Some protocol bytes; b"" at end of stream; raises TimeoutError past deadline."""
    def close(self) -> None: ...
    def diagnostics(self) -> str: ...


class LocalTransport:
    """A channel server as a local subprocess (the local backend)."""

    def __init__(self, argv: list[str], *, cwd: str, env: dict[str, str], stderr_path: str) -> None:
        self._stderr_path = stderr_path
        with open(stderr_path, "ab") as err:
            # its own session: a Ctrl-C aimed at the host process must not hit the sandbox
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, cwd=cwd, env=env,
                bufsize=0, start_new_session=True, close_fds=True,
            )
        self._out = self.proc.stdout.fileno()  # type: ignore[union-attr]
        self.write(SERVER_SOURCE)

    def write(self, data: bytes) -> None:
        self.proc.stdin.write(data)  # type: ignore[union-attr]

    def read(self, deadline: float) -> bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([self._out], [], [], remaining)[0]:
            raise TimeoutError
        return os.read(self._out, 1 << 16)  # < malloc mmap threshold: no mmap+munmap per read

    def close(self) -> None:
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()  # type: ignore[union-attr]
            except OSError:
                pass
        try:
            self.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=3)

    def diagnostics(self) -> str:
        try:
            with open(self._stderr_path, "rb") as f:
                f.seek(max(0, os.path.getsize(self._stderr_path) - 2000))
                return f.read().decode("utf-8", "replace").strip()
        except OSError:
            return ""


#: AGENTGYM_DOCKER_FASTPATH=0 keeps every request on the docker exec stream.
FAST_PATH = os.environ.get("AGENTGYM_DOCKER_FASTPATH", "1").lower() not in ("0", "false", "no")


def _frame(obj: dict[str, Any]) -> bytes:
    body = json.dumps(obj).encode()
    return struct.pack(">I", len(body)) + body


class ServerWontStart(SandboxError):
    """A fresh server was started (the transport opened) but died or never answered at start-up."""


class DockerTransport:
    """A channel server as one long-lived ``docker exec`` attached over the Docker API socket.

    Fast path: when this process can reach the container's filesystem through
    ``/proc/<container pid>/root`` (same host and pid namespace, enough privilege), requests go
    over a unix socket the server opens in the container, which skips dockerd and the shim (a
    round trip drops from ~0.5 ms to ~0.05 ms of transport). The exec stays open as the lifeline:
    when this process dies, its end closes and the server kills everything and exits. Anything
    that fails on the way falls back to the exec stream; ``fast_path`` says which is in use.
    """

    def __init__(self, api: Any, container_id: str, argv: list[str], *, workdir: str | None = None,
                 host_pid: int | None = None, fast: bool = FAST_PATH) -> None:
        self._exec = api.exec_create(container_id, argv, stdin=True, stdout=True, stderr=True, tty=False, workdir=workdir)
        sock = api.exec_start(self._exec["Id"], socket=True)
        self._holder = sock  # keeps the HTTP response (and so the connection) alive
        self._sock: socket.socket = getattr(sock, "_sock", sock)
        self._sock.settimeout(None)
        self._raw = bytearray()
        self._err = bytearray()
        self._uds: socket.socket | None = None
        self.fast_path = "off"
        try:
            self._sock.sendall(SERVER_SOURCE)
            if fast and host_pid:
                self._try_fast_path(host_pid)
        except (OSError, TimeoutError, ValueError) as e:
            diag = self.diagnostics()
            self.close()
            raise ServerWontStart(f"the channel server did not start in container {container_id[:12]}: {e or type(e).__name__}"
                               + (f"; it said: {diag[-1500:]}" if diag else "")) from None

    def _try_fast_path(self, host_pid: int) -> None:
        token = os.urandom(16).hex()
        self._sock.sendall(_frame({"op": "listen", "token": token}))
        buf, deadline = bytearray(), time.monotonic() + 60
        while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
            data = self._stream_read(deadline)  # failures here are the channel's: let them raise
            if not data:
                raise OSError("the channel server exited while starting")
            buf += data
        reply = json.loads(bytes(buf[4:]))
        if not reply.get("ok"):
            self.fast_path = f"off (server: {reply.get('error')})"
            return
        uds = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            uds.settimeout(5)
            uds.connect(f"/proc/{host_pid}/root{reply['path']}")
            uds.sendall(_frame({"token": token}))
            got = bytearray()
            while len(got) < 4 or len(got) < 4 + struct.unpack(">I", got[:4])[0]:
                data = uds.recv(1 << 16)
                if not data:
                    raise OSError("the server refused the connection")
                got += data
            if not json.loads(bytes(got[4:])).get("ok"):
                raise OSError("the server refused the handshake")
            uds.settimeout(None)
        except (OSError, ValueError) as e:
            uds.close()
            self.fast_path = f"off ({e})"
            return
        self._uds = uds
        self.fast_path = "unix socket"

    def write(self, data: bytes) -> None:
        (self._uds or self._sock).sendall(data)

    def read(self, deadline: float) -> bytes:
        if self._uds is None:
            return self._stream_read(deadline)
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([self._uds], [], [], remaining)[0]:
            raise TimeoutError
        return self._uds.recv(1 << 16)  # < malloc mmap threshold: no mmap+munmap per read

    def _stream_read(self, deadline: float) -> bytes:
        # Docker multiplexes the exec's streams: [stream, 0, 0, 0, size (4 bytes BE)] + payload.
        out = bytearray()
        while True:
            while len(self._raw) >= 8:
                size = struct.unpack(">I", self._raw[4:8])[0]
                if len(self._raw) < 8 + size:
                    break
                kind, payload = self._raw[0], bytes(self._raw[8 : 8 + size])
                del self._raw[: 8 + size]
                if kind == 2:
                    self._err += payload
                    del self._err[:-4000]
                else:
                    out += payload
            if out:
                return bytes(out)
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self._sock], [], [], remaining)[0]:
                raise TimeoutError
            data = self._sock.recv(1 << 16)  # < malloc mmap threshold: no mmap+munmap per read
            if not data:
                return b""
            self._raw += data

    def close(self) -> None:
        closers = [self._uds.close] if self._uds else []
        closers += [lambda: self._sock.shutdown(socket.SHUT_RDWR), self._sock.close, self._holder.close]
        for fn in closers:
            try:
                fn()
            except OSError:
                pass

    def diagnostics(self) -> str:
        if self._uds is not None:  # what the server wrote to stderr waits unread on the exec stream
            try:
                self._stream_read(time.monotonic() + 0.2)
            except (OSError, TimeoutError):
                pass
        return self._err.decode("utf-8", "replace").strip()
