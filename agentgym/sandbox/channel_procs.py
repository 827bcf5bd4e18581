"""Helpers of the channel server: /proc process hunting, output capping, framing.

Runs INSIDE the sandbox as part of the channel server (channel_transport.py sends this file,
channel_files.py and channel_server.py as one program), so: standard library only, Python >= 3.6.
"""

import json
import os
import signal
import struct
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
CMD_VAR = b"AGENTGYM_CMD="  # per command: every process a command starts inherits it
SRV_VAR = b"AGENTGYM_SRV="  # per server: a reopened channel's old server must not kill the new one's


def set_subreaper():
    """Orphans of our descendants (daemonized, double-forked) reparent to us and stay findable.

    Also renames the process (comm), so an agent's ``pkill python3`` or ``killall python3`` does
    not take the channel down with its own processes.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(15, b"agentgym-chan", 0, 0, 0)  # PR_SET_NAME
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except Exception:
        return False


def quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


def exit_code(status):
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def boot_ticks():
    """Now, in the unit of /proc/<pid>/stat's starttime (clock ticks since boot)."""
    try:
        return int(time.clock_gettime(time.CLOCK_BOOTTIME) * CLK_TCK)
    except Exception:
        with open("/proc/uptime") as f:
            return int(float(f.read().split()[0]) * CLK_TCK)


def proc_stat(pid):
    """(ppid, starttime ticks) of a process, or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2:].split()
    return int(fields[1]), int(fields[19])


def proc_environ(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            return f.read()
    except OSError:
        return b""


def descendants(root):
    """(set of root's descendant pids, {pid: (ppid, starttime)} of every visible process)."""
    children, stats = {}, {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st is not None:
                stats[int(name)] = st
                children.setdefault(st[0], []).append(int(name))
    found, todo = set(), [root]
    while todo:
        for c in children.get(todo.pop(), ()):
            if c not in found:
                found.add(c)
                todo.append(c)
    return found, stats


def kill_matching(self_pid, should_kill, reap):
    """SIGKILL what should_kill(pid, stat, environ, is_descendant) picks, rescanning until none is
    left: a fork bomb spawns between a scan and its kills, so one pass is not enough."""
    for _ in range(200):
        desc, stats = descendants(self_pid)
        victims = [pid for pid, st in stats.items()
                   if pid != self_pid and should_kill(pid, st, proc_environ(pid), pid in desc)]
        if not victims:
            return
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.002)
        reap()


class Stream:
    """One output stream of one command: keeps head + tail under a cap, counts the rest."""

    def __init__(self, cap, carry=b"", carry_omitted=0):
        self.head_cap = max(0, cap) // 2
        self.tail_cap = max(0, cap) - self.head_cap
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self.omitted_before = carry_omitted
        self.feed(carry)

    def feed(self, data):
        if not data:
            return
        self.total += len(data)
        room = self.head_cap - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data and self.tail_cap:
            self.tail += data
            if len(self.tail) > 2 * self.tail_cap:  # trim in batches: amortised O(1) per byte
                del self.tail[: len(self.tail) - self.tail_cap]

    def finish(self):
        """(text, truncated), with a visible marker where output was cut."""
        kept = len(self.head) + min(len(self.tail), self.tail_cap)
        omitted = self.total - kept + self.omitted_before
        if omitted <= 0:
            return (bytes(self.head) + bytes(self.tail)).decode("utf-8", "replace"), False
        tail = bytes(self.tail[-self.tail_cap:]) if self.tail_cap else b""
        marker = "\n[agentgym: output truncated, %d bytes omitted]\n" % omitted
        return bytes(self.head).decode("utf-8", "replace") + marker + tail.decode("utf-8", "replace"), True


def write_frame(fd, obj):
    data = json.dumps(obj).encode("ascii")  # ASCII: lone surrogates survive as \\u escapes
    data = struct.pack(">I", len(data)) + data
    while data:
        data = data[os.write(fd, data):]


def drain(fd, sink, budget=1 << 22):
    """Read what is there (at most budget bytes: a writer may never stop), feeding sink."""
    while budget > 0:
        try:
            data = os.read(fd, 1 << 16)
        except BlockingIOError:
            return
        if not data:
            return
        budget -= len(data)
        sink(data)


def next_frame(fd, buf):
    """The next complete frame's body from buf, reading fd as needed; None at end of input."""
    while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", bytes(buf[:4]))[0]:
        data = os.read(fd, 1 << 16)  # < malloc mmap threshold: no mmap+munmap per read
        if not data:
            return None
        buf += data
    n = struct.unpack(">I", bytes(buf[:4]))[0]
    body = bytes(buf[4:4 + n])
    del buf[:4 + n]
    return body
