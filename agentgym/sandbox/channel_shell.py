"""The channel server's persistent shell: starting it, running one command in it, killing what a
command left behind.

Runs INSIDE the sandbox as part of the channel server (channel_transport.py sends
channel_procs.py, channel_files.py, this file and channel_server.py as one program): standard
library only, Python >= 3.6 syntax. Server (channel_server.py) mixes ShellOps in; it owns the
pipes, the poll sets and the carry buffers these methods use. Why the shell is driven the way it
is: see channel_server.py's docstring.
"""

import binascii
import os
import re
import signal
import time

if "Stream" not in globals():  # imported as a module (tests); in a sandbox the files are one source
    from agentgym.sandbox.channel_procs import (  # noqa: F401
        CMD_VAR, SRV_VAR, Stream, boot_ticks, drain, exit_code, kill_matching, quote,
    )

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ShellOps:
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
