"""The agentgym channel server: runs INSIDE a sandbox (a container, or a local temp dir).

Standard library only, Python >= 3.6 syntax: the docker backend runs it with whatever
interpreter the image has. channel_transport.py sends channel_procs.py, channel_files.py,
channel_shell.py and this file as one source over stdin to a tiny bootstrap (``python3 -c <bootstrap>``), so nothing is
copied into the sandbox.

It keeps ONE persistent shell and answers framed requests on stdin/stdout: a 4-byte big-endian
length, then a JSON object with an ``op`` (exec, read, write, tar_in, tar_out, ping, killall,
close). Replies carry ``ok`` and the result, or ``error`` and ``type`` (the exception's name).

Why the shell is driven the way it is:
- each command is written to a file, loaded by a shell function and ``eval``'d at top level with
  ``</dev/null``: cd, exports and declare persist, errors read like a plain shell's, and nothing
  the command runs can read the shell's own input (which carries the protocol);
- the end marker goes to a control pipe (the shell's fd 63, closed for the command), so no
  output can forge it, and carries a fresh random token that only this process and the shell's
  parse buffer see. The command's environment gets a *different* token (AGENTGYM_CMD) that marks
  every process it spawns, so a timeout finds them even after setsid/daemonizing;
- the server is a child subreaper, so daemonized orphans reparent to it and stay findable even
  when they scrub their environment (then: a new descendant without any marker is the command's);
- stdout/stderr pipes outlive any one shell, so background jobs keep a place to write, and what
  they write between commands shows up in the next command's output.
"""

import binascii
import json
import os
import select
import shutil
import signal
import socket
import struct
import sys
import tempfile

if "ShellOps" not in globals():  # imported as a module (tests); in a sandbox the files are one source
    from agentgym.sandbox.channel_files import FileOps, Refused  # noqa: F401
    from agentgym.sandbox.channel_procs import drain, next_frame, set_subreaper, write_frame  # noqa: F401
    from agentgym.sandbox.channel_shell import ShellOps  # noqa: F401

CARRY_MAX = 256 * 1024  # output produced between commands that we hold for the next one


class Server(FileOps, ShellOps):
    """Answers the host's framed requests: file ops (FileOps), the shell and exec (ShellOps), control."""

    def __init__(self, sbx, workdir, rundir, data_limit, file_limit=0, confine=""):
        self.sbx = sbx
        self.workdir = workdir
        self.data_limit = data_limit
        self.file_limit = file_limit  # RLIMIT_FSIZE of commands: no one file past it (a disk filler)
        self.confine = os.path.realpath(confine) if confine else None
        self.pid = os.getpid()
        self.instance = binascii.hexlify(os.urandom(8)).decode()
        self.subreaper = set_subreaper()
        self.rundir = rundir or tempfile.mkdtemp(prefix=".agentgym-run-", dir=self._tmp_base())
        os.makedirs(self.rundir, exist_ok=True)
        self.cmdfile = os.path.join(self.rundir, "cmd")
        # kept open and rewritten in place: two syscalls per command instead of open/write/close
        self.cmd_fd = os.open(self.cmdfile, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        self.shell_path = shutil.which("bash") or "/bin/sh"
        self.is_bash = self.shell_path.endswith("bash")
        self.out_r, self.out_w = os.pipe()
        self.err_r, self.err_w = os.pipe()
        self.ctl_r, self.ctl_w = os.pipe()  # end markers: the shell's fd CTL_FD, closed for commands
        self.wake_r, self.wake_w = os.pipe()
        for fd in (self.out_r, self.err_r, self.ctl_r, self.wake_r, self.wake_w):
            os.set_blocking(fd, False)
        self.ctl_fd = 63 if self.is_bash else 9  # POSIX sh only knows fds 0-9; bash keeps 10+ for itself
        self.poll_ctl = select.poll()  # the first milliseconds of a command: wake only for its end
        self.poll_all = select.poll()
        for fd in (self.ctl_r, self.wake_r):
            self.poll_ctl.register(fd, select.POLLIN)
            self.poll_all.register(fd, select.POLLIN)
        for fd in (self.out_r, self.err_r):
            self.poll_all.register(fd, select.POLLIN)
        signal.signal(signal.SIGCHLD, lambda *a: None)
        signal.set_wakeup_fd(self.wake_w)  # SIGCHLD wakes poll(): how we notice the shell exiting
        self.carry = {self.out_r: bytearray(), self.err_r: bytearray()}
        self.carry_omitted = {self.out_r: 0, self.err_r: 0}
        self.shell = None  # (pid, stdin fd)
        self.shell_status = None
        self.cwd = workdir if os.path.isdir(workdir) else "/"
        self.listener = self.conn = None
        self.listen_token = None

    @staticmethod
    def _tmp_base():
        for d in ("/dev/shm", tempfile.gettempdir(), "/tmp"):
            if os.path.isdir(d) and os.access(d, os.W_OK | os.X_OK):
                return d
        return None
    # ---- control -----------------------------------------------------------------------------

    def op_ping(self, req):
        return {"pid": self.pid, "python": sys.version.split()[0], "shell": self.shell_path, "subreaper": self.subreaper}

    def op_killall(self, req):
        """Kill every process of this server (shell included); the next exec starts a fresh shell."""
        self._kill_all()
        self.cwd = req.get("cwd") or self.workdir
        for fd in (self.out_r, self.err_r, self.ctl_r):
            drain(fd, lambda d: None)
        for fd in (self.out_r, self.err_r):
            self.carry[fd] = bytearray()
            self.carry_omitted[fd] = 0
        return {}

    def shutdown(self):
        self._kill_all()
        for sock in (self.listener, self.conn):
            if sock is not None:
                sock.close()
        try:
            os.close(self.cmd_fd)
        except OSError:
            pass
        shutil.rmtree(self.rundir, ignore_errors=True)

    def _hold(self, fd, data):
        buf = self.carry[fd]
        buf += data
        if len(buf) > CARRY_MAX:
            drop = len(buf) - CARRY_MAX
            del buf[:drop]
            self.carry_omitted[fd] += drop

    def op_listen(self, req):
        """Offer a unix socket next to the command file. A host client that can reach it (through
        /proc/<pid>/root) skips dockerd's relay, which costs more than the rest of a round trip."""
        if self.listener is None:
            self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.listener.bind(os.path.join(self.rundir, "chan.sock"))
            self.listener.listen(1)
        self.listen_token = str(req["token"])
        return {"path": os.path.join(self.rundir, "chan.sock")}

    def _accept(self):
        conn, _ = self.listener.accept()
        conn.settimeout(5)  # a connection that never says hello must not block the server
        buf = bytearray()
        try:
            while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", bytes(buf[:4]))[0]:
                data = conn.recv(1 << 16)
                if not data:
                    break
                buf += data
            hello = json.loads(bytes(buf[4:]).decode("utf-8"))
        except (OSError, ValueError, struct.error):
            hello = {}
        conn.settimeout(None)
        if not isinstance(hello, dict) or hello.get("token") != self.listen_token:  # someone else in the sandbox: not our client
            conn.close()
            return
        os.unlink(os.path.join(self.rundir, "chan.sock"))  # nobody else can connect now
        self.listener.close()
        self.listener = None
        self.conn = conn
        write_frame(conn.fileno(), {"ok": True})

    def _handle(self, body, fout):
        """Answer one request; False once the server should exit. Replies echo the request's seq
        (a random token): the host can tell them from frames something else wrote into our output."""
        req = {}
        try:
            req = json.loads(body.decode("utf-8"))
            op = req.get("op")
            if op == "close":
                self.shutdown()
                write_frame(fout, {"ok": True, "seq": req.get("seq")})
                return False
            handler = getattr(self, "op_" + str(op), None)
            if handler is None:
                raise LookupError("unknown op %r" % op)
            reply = handler(req)
            reply["ok"] = True
        except Exception as e:
            reply = {"ok": False, "type": type(e).__name__, "error": str(e)}
        reply["seq"] = req.get("seq") if isinstance(req, dict) else None
        write_frame(fout, reply)
        return True

    def serve(self, fin, fout):
        bufs = {fin: bytearray()}
        while True:
            poller = select.poll()
            extra = [x.fileno() for x in (self.listener, self.conn) if x is not None]
            for fd in [fin, self.out_r, self.err_r, self.wake_r] + extra:
                poller.register(fd, select.POLLIN)
            ready = [fd for fd, _ in poller.poll()]
            if self.wake_r in ready:
                drain(self.wake_r, lambda d: None)
                self._reap()
            for fd in (self.out_r, self.err_r):  # background jobs writing between commands
                if fd in ready:
                    drain(fd, lambda d, fd=fd: self._hold(fd, d))
            if self.listener is not None and self.listener.fileno() in ready:
                self._accept()
            elif self.conn is not None and self.conn.fileno() in ready:
                fd = self.conn.fileno()
                body = next_frame(fd, bufs.setdefault(fd, bytearray()))
                if body is None:  # the fast path closed; the client can still use stdin
                    bufs.pop(fd, None)
                    self.conn.close()
                    self.conn = None
                elif not self._handle(body, fd):
                    return
            if fin in ready:
                body = next_frame(fin, bufs[fin])
                if body is None or not self._handle(body, fout):
                    return  # the client is gone (stdin closed): main() kills everything we started


def main(argv):
    args = {"--sbx": "sbx", "--workdir": "/", "--rundir": "", "--data-limit": "0", "--file-limit": "0", "--confine": ""}
    it = iter(argv)
    for a in it:
        if a in args:
            args[a] = next(it)
    server = Server(args["--sbx"], args["--workdir"], args["--rundir"] or None, int(args["--data-limit"]),
                    int(args["--file-limit"]), args["--confine"])
    try:
        server.serve(0, 1)
    finally:
        server.shutdown()


if __name__ == "__main__":
    main(sys.argv[1:])
