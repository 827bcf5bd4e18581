"""Supervise the grading test run: the only process whose word the grader takes.

Runs INSIDE the grading sandbox as the parent of the test process (runner_boot.py), under the
instance's interpreter with -I -S (no site, so no .pth file runs here); Python 3.6+ and the
standard library only. It
- reads the grader's one-time secret from a file and deletes it before anything of the
  repository runs, and makes itself non-dumpable (no /proc/PID/mem, fd or environ for others of
  its user) and a child subreaper (orphans of the run become its children);
- starts the test process in its own session with a pipe for records (runner_plugin.py writes one
  line per report) and one for stdout+stderr, and reads both as they come;
- bounds everything: a deadline (a hang), an output budget (a flood), a record budget;
- when the test process exits (or the deadline passes), kills its process group and every
  remaining descendant, so nothing of the run outlives it or writes after it;
- prints ONE line: AGENTGYM-RUN-V1 <hmac-sha256 hex> <base64 zlib JSON>, the JSON holding the
  records in arrival order, the exit status, the flags and a bounded head and tail of the log.
  Code under test can print a line like it (it can reach the shell's stdout), but not its MAC.

argv: SECRET_FILE TIMEOUT_S MAX_OUTPUT_BYTES -- CHILD_ARGV... ('@RECORD_FD@' in CHILD_ARGV is
replaced by the record pipe's fd number).
"""

import base64
import hashlib
import hmac
import json
import os
import selectors
import signal
import subprocess
import sys
import time
import zlib

PREFIX = b"AGENTGYM-RUN-V1 "
LOG_HEAD, LOG_TAIL = 64 * 1024, 512 * 1024
RECORD_LIMIT = 64 * 1024 * 1024
PAYLOAD_LIMIT = 6 * 1024 * 1024  # compressed; the grader's channel keeps the last 8 MiB of stdout
EXIT_GRACE_S = 2.0  # after the test process exits, how long its descendants may hold the pipes


def _prctl(option, value):
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0) == 0
    except Exception:  # noqa: BLE001 - no ctypes or no prctl: the run goes on without it
        return False


def _children(pid):
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            out.append(int(name))
    return out


def _reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _kill_all(proc):
    """Kill the run's process group, then every descendant left (orphans come to us: subreaper)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        proc.wait(timeout=5)  # reaped by Popen first: its exit status must not go to _reap
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for _ in range(200):
        kids = _children(os.getpid())
        if not kids:
            break
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.01)
        _reap()


class _Log(object):
    def __init__(self):
        self.head, self.tail, self.total = bytearray(), bytearray(), 0

    def add(self, data):
        self.total += len(data)
        room = LOG_HEAD - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        self.tail += data
        if len(self.tail) > 2 * LOG_TAIL:
            del self.tail[:len(self.tail) - LOG_TAIL]


def run(secret, timeout, max_output, child):
    dumpable_off = _prctl(4, 0)  # PR_SET_DUMPABLE
    subreaper = _prctl(36, 1)  # PR_SET_CHILD_SUBREAPER
    rec_r, rec_w = os.pipe()
    out_r, out_w = os.pipe()
    child = [a.replace("@RECORD_FD@", str(rec_w)) for a in child]
    t0 = time.monotonic()
    proc = subprocess.Popen(child, stdin=subprocess.DEVNULL, stdout=out_w, stderr=out_w, pass_fds=(rec_w,),
                            start_new_session=True, close_fds=True)
    os.close(rec_w)
    os.close(out_w)
    records, dropped, log = bytearray(), 0, _Log()
    timed_out = flood = False
    sel = selectors.DefaultSelector()
    for fd in (rec_r, out_r):
        sel.register(fd, selectors.EVENT_READ)
    live, exited_at = {rec_r, out_r}, None

    def pump(wait):
        nonlocal dropped
        for key, _ in sel.select(timeout=wait):
            data = os.read(key.fd, 1 << 16)
            if not data:
                sel.unregister(key.fd)
                live.discard(key.fd)
            elif key.fd == rec_r:
                if len(records) + len(data) <= RECORD_LIMIT:
                    records.extend(data)
                else:
                    dropped += len(data)
            else:
                log.add(data)

    while live:
        now = time.monotonic()
        if exited_at is None and proc.poll() is not None:
            exited_at = now
        if now - t0 > timeout:
            timed_out = True
            break
        if log.total > max_output:
            flood = True
            break
        if exited_at is not None and now - exited_at > EXIT_GRACE_S:
            break
        pump(0.2)
    _kill_all(proc)
    deadline = time.monotonic() + 2.0
    while live and time.monotonic() < deadline:  # what was written before the kill
        pump(0.1)
    exit_code = proc.wait()
    payload = {
        "v": 1, "exit": exit_code, "timed_out": timed_out, "flood": flood, "seconds": round(time.monotonic() - t0, 3),
        "records": records.decode("utf-8", "replace"), "records_dropped": dropped,
        "log_head": log.head.decode("utf-8", "replace"), "log_tail": bytes(log.tail[-LOG_TAIL:]).decode("utf-8", "replace"),
        "log_bytes": log.total, "subreaper": subreaper, "dumpable_off": dumpable_off,
    }
    blob = zlib.compress(json.dumps(payload).encode("utf-8"), 6)
    if len(blob) > PAYLOAD_LIMIT:
        payload["records_dropped"] += len(payload["records"])
        payload["records"] = ""
        blob = zlib.compress(json.dumps(payload).encode("utf-8"), 6)
    mac = hmac.new(secret, blob, hashlib.sha256).hexdigest().encode("ascii")
    return PREFIX + mac + b" " + base64.b64encode(blob) + b"\n"


def main():
    argv = sys.argv[1:]
    sep = argv.index("--")
    secret_file, timeout, max_output = argv[0], float(argv[1]), int(argv[2])
    with open(secret_file, "rb") as f:
        secret = f.read().strip()
    os.unlink(secret_file)
    line = run(secret, timeout, max_output, argv[sep + 1:])
    out = sys.stdout.buffer
    out.write(b"\n" + line)
    out.flush()


if __name__ == "__main__":
    main()
