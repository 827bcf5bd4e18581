"""The agentgym channel server: runs INSIDE a sandbox (a container, or a local temp dir).

Standard library only, Python >= 3.6 syntax: the docker backend runs it with whatever
interpreter the image has. channel_transport.py sends channel_procs.py, channel_files.py and this
file as one source over stdin to a tiny bootstrap (``python3 -c <bootstrap>``), so nothing is
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
import re
import select
import shutil
import signal
import socket
import struct
import sys
import tempfile
import time

if "Stream" not in globals():  # imported as a module (tests); in a sandbox the files are one source
    from agentgym.sandbox.channel_files import FileOps, Refused  # noqa: F401
    from agentgym.sandbox.channel_procs import (  # noqa: F401
        CMD_VAR, SRV_VAR, Stream, boot_ticks, drain, exit_code, kill_matching, next_frame, quote,
        set_subreaper, write_frame,
    )

CARRY_MAX = 256 * 1024  # output produced between commands that we hold for the next one
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Server(FileOps):
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

    # ---- the shell ---------------------------------------------------------------------------

    def _start_shell(self):
        env = dict(os.environ, AGENTGYM_SBX=self.sbx, AGENTGYM_SRV=self.instance)
        env.pop("AGENTGYM_CMD", None)
        cwd = self.cwd if os.path.isdir(self.cwd) else (self.workdir if os.path.isdir(self.workdir) else "/")
        env["PWD"] = cwd
        in_r, in_w = os.pipe()
        try:
            pid = os.fork()
        except OSError:  # no room for a process (pids limit, memory): the caller reports it
            os.close(in_r)
            os.close(in_w)
            raise
        if pid == 0:  # child: its own session, so the server's group is never signalled with it
            try:
                os.setsid()
                os.chdir(cwd)
                os.dup2(in_r, 0)
                os.dup2(self.out_w, 1)
                os.dup2(self.err_w, 2)
                os.dup2(self.ctl_w, self.ctl_fd)
                os.set_inheritable(self.ctl_fd, True)  # dup2 onto itself would keep close-on-exec
                os.closerange(3, self.ctl_fd)
                os.closerange(self.ctl_fd + 1, 65536)
                for sig in (signal.SIGCHLD, signal.SIGPIPE, signal.SIGINT, signal.SIGXFSZ):
                    signal.signal(sig, signal.SIG_DFL)
                import resource

                if self.data_limit:
                    resource.setrlimit(resource.RLIMIT_DATA, (self.data_limit, self.data_limit))
                if self.file_limit:
                    resource.setrlimit(resource.RLIMIT_FSIZE, (self.file_limit, self.file_limit))
                try:  # commands, not this server, should be what an OOM killer picks
                    with open("/proc/self/oom_score_adj", "w") as f:
                        f.write("500")
                except OSError:
                    pass
                os.execve(self.shell_path, [os.path.basename(self.shell_path)], env)
            finally:
                os._exit(127)
        os.close(in_r)
        self.shell = (pid, in_w)
        self.shell_status = None
        if self.is_bash:
            self._send_shell(
                "__ag_f=%s; __ag_p() { { IFS= read -r AGENTGYM_CMD; IFS= read -r -d '' __ag_c; } <\"$__ag_f\"; "
                "export AGENTGYM_CMD; }; __ag_m() { builtin printf '\\1AG%%s:%%d\\n' \"$1\" \"$2\" >&%d; }\n"
                % (quote(self.cmdfile), self.ctl_fd)
            )

    def _send_shell(self, text):
        data = text.encode("utf-8", "surrogateescape")
        while data:
            data = data[os.write(self.shell[1], data):]

    def _reap(self):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if self.shell and pid == self.shell[0]:
                self.shell_status = status

    def _drop_shell(self):
        if self.shell:
            try:
                os.close(self.shell[1])
            except OSError:
                pass
        self.shell = None

    def _shell_cwd(self):
        if self.shell:
            try:
                return os.readlink("/proc/%d/cwd" % self.shell[0])
            except OSError:
                pass
        return self.cwd

    def _kill_command(self, env_token, start_ticks):
        shell_pid = self.shell[0] if self.shell else -1
        needle = CMD_VAR + env_token.encode() + b"\0"

        def pick(pid, st, environ, is_desc):
            if pid == shell_pid or needle in environ:
                return True
            # scrubbed its environment (env -i): ours if it descends from us and is new. Background
            # jobs of earlier commands carry their own token and survive.
            return is_desc and CMD_VAR not in environ and st[1] >= start_ticks

        kill_matching(self.pid, pick, self._reap)

    def _kill_all(self):
        needle = SRV_VAR + self.instance.encode() + b"\0"
        kill_matching(self.pid, lambda pid, st, environ, is_desc: is_desc or needle in environ, self._reap)
        self._drop_shell()

    # ---- exec --------------------------------------------------------------------------------

    def _command_line(self, command, env, cwd, token, env_token):
        """Write the command file; return the line the shell reads (kept short: see __ag_p)."""
        if self.is_bash:
            text = env_token + "\n" + command
        else:
            text = "AGENTGYM_CMD=%s; export AGENTGYM_CMD\n%s\n" % (env_token, command)
        data = text.encode("utf-8", "surrogateescape")
        done = 0
        while done < len(data):
            done += os.pwrite(self.cmd_fd, data[done:], done)
        os.ftruncate(self.cmd_fd, len(data))
        pre, post = [], []
        for k, v in env.items():  # this call only: saved before, restored after
            pre.append('if [ "${%s+x}" ]; then __ag_o_%s=$%s; __ag_h_%s=1; else __ag_h_%s=; fi' % (k, k, k, k, k))
            pre.append("%s=%s; export %s" % (k, quote(str(v)), k))
            post.append('if [ "$__ag_h_%s" ]; then %s=$__ag_o_%s; else unset %s; fi' % (k, k, k, k))
        # bash reads its input pipe one byte per syscall: __ag_p (defined at shell start) loads
        # AGENTGYM_CMD and the command from the file. POSIX sh has no read -d: it sources the file.
        run = '__ag_p;eval "$__ag_c" </dev/null' if self.is_bash else "{ . %s; } </dev/null" % quote(self.cmdfile)
        if cwd:
            pre.append("__ag_d=$PWD")
            run = "cd -- %s && %s" % (quote(cwd), run)
            post.insert(0, 'cd -- "$__ag_d" 2>/dev/null')
        # The end marker goes to the control pipe, which the command itself does not have open:
        # when it arrives, everything the command wrote is already in the output pipes.
        line = ";".join(pre + ["%s %d>&-" % (run, self.ctl_fd)] + (["__ag_rc=$?"] + post if post else []))
        if self.is_bash:  # __ag_m prints the marker; the token is a word of this line only
            return line + ";__ag_m %s %s\n" % (token, '"$__ag_rc"' if post else "$?")
        return line + ";printf '\\1AG%s:%%d\\n' %s >&%d\n" % (token, '"$__ag_rc"' if post else "$?", self.ctl_fd)

    def op_exec(self, req):
        cap = int(req.get("max_output", 64 * 1024))
        env = req.get("env") or {}
        for k in env:
            if not NAME_RE.match(k):
                raise ValueError("invalid environment variable name: %r" % k)
        t0 = time.monotonic()
        start_ticks = boot_ticks() - 1
        if self.shell is None or self.shell_status is not None:  # SIGCHLD already reaped it
            self._drop_shell()
            try:
                self._start_shell()
            except OSError as e:  # the agent's processes fill the pids limit or the memory: its doing
                return {"exit_code": 126, "stdout": "", "timed_out": False, "truncated": False,
                        "duration_s": time.monotonic() - t0,
                        "stderr": "agentgym: no shell could be started in the sandbox (%s): processes left "
                                  "running by earlier commands hold the process or memory limit\n" % e.strerror}
        tokens = binascii.hexlify(os.urandom(16)).decode()
        token, env_token = tokens[:16], tokens[16:]
        line = self._command_line(req["command"], env, req.get("cwd"), token, env_token)
        out = Stream(cap, self.carry[self.out_r], self.carry_omitted[self.out_r])
        err = Stream(cap, self.carry[self.err_r], self.carry_omitted[self.err_r])
        sinks = {self.out_r: out.feed, self.err_r: err.feed}
        for fd in sinks:
            self.carry[fd] = bytearray()
            self.carry_omitted[fd] = 0
        marker, ctl = b"\x01AG" + token.encode() + b":", bytearray()
        self._send_shell(line)
        deadline = t0 + float(req.get("timeout") or 60.0)
        # Quick commands end within a few ms: until then only the control pipe can wake us, which
        # saves a wake-up per output write. Later, output is drained as it comes (a full pipe
        # would block the command).
        quiet_until = time.monotonic() + 0.005
        timed_out, code = False, None
        while True:
            now = time.monotonic()
            if now >= deadline:
                timed_out = True
                break
            quiet = now < quiet_until
            wait = (min(deadline, quiet_until) if quiet else deadline) - now
            for fd, _ in (self.poll_ctl if quiet else self.poll_all).poll(max(1, int(wait * 1000 + 0.999))):
                if fd == self.ctl_r:  # the marker is one small write: one read gets it
                    try:
                        ctl += os.read(fd, 4096)
                    except BlockingIOError:
                        pass
                elif fd == self.wake_r:
                    drain(fd, lambda d: None)
                    self._reap()
                else:
                    drain(fd, sinks[fd])
            i = ctl.find(marker)
            if i >= 0 and ctl.find(b"\n", i) >= 0:
                code = int(ctl[i + len(marker):ctl.find(b"\n", i)] or b"0")
                self.cwd = self._shell_cwd()
                break
            if self.shell is None or self.shell_status is not None:
                code = exit_code(self.shell_status)  # the command ended the shell: exit N, set -e
                self._drop_shell()
                break
        if timed_out:
            self.cwd = self._shell_cwd()  # the fresh shell starts where this one was
            self._kill_command(env_token, start_ticks)
            self._drop_shell()
        for fd, sink in sinks.items():  # all the command wrote before its end is in the pipes now
            drain(fd, sink)
        out_text, out_trunc = out.finish()
        err_text, err_trunc = err.finish()
        return {"exit_code": None if timed_out else code, "stdout": out_text, "stderr": err_text,
                "timed_out": timed_out, "truncated": out_trunc or err_trunc, "duration_s": time.monotonic() - t0}

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
