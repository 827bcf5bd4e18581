"""The persistent Python session: a tiny REPL server started inside the sandbox on first use.

One long-lived python3 process keeps its globals (a loaded DataFrame stays loaded). Each python
tool call writes the cell to a file and runs a bash client (CLIENT) that talks to the server over
two FIFOs in .agentgym/. The client uses bash builtins only (no Python start-up per call: that
cost 50-150 ms, the round trip is now a few ms). Both ends open the FIFOs read-write, so no open
ever blocks on a missing peer; replies carry the cell's sequence number, so a late reply to a
timed-out cell is never taken for the next one's.

The client enforces the timeout: SIGINT first (the cell gets KeyboardInterrupt, state survives),
SIGKILL after a grace period (the session restarts empty and the output says so). The server
points its file descriptors 1 and 2 at the cell's output file while the cell runs, so output of
subprocesses and C extensions is captured too. Output is capped.

The sources below run INSIDE the sandbox: standard library only, no agentgym imports.
"""

REPL_DIR = ".agentgym"
REPL_PATH = f"{REPL_DIR}/pyrepl.py"
CLIENT_PATH = f"{REPL_DIR}/pyrepl.sh"
CELL_PATH = f"{REPL_DIR}/cell.py"
OUTPUT_CAP = 16_000
INTERRUPT_GRACE_S = 3

SOURCE = r'''
import ast, os, signal, sys, traceback

CAP = %(cap)d
HERE = os.path.dirname(os.path.abspath(__file__))
RUNNING = False  # SIGINT interrupts a running cell only; a late one between cells is dropped


def _on_sigint(signum, frame):
    if RUNNING:
        raise KeyboardInterrupt


def _fifo(name):
    path = os.path.join(HERE, name)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    os.mkfifo(path, 0o600)
    return os.open(path, os.O_RDWR)  # read-write: never blocks, never sees EOF


def _cap(path):
    with open(path, "rb") as f:
        data = f.read(CAP + 1)
        size = os.fstat(f.fileno()).st_size
    if size > CAP:
        with open(path, "wb") as f:
            f.write(data[:CAP] + b"\n[output truncated: %%d bytes omitted]\n" %% (size - CAP))


def run_cell(cell, out_path, env):
    global RUNNING
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    try:
        with open(cell) as f:
            tree = ast.parse(f.read(), "<cell>", "exec")
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        RUNNING = True
        exec(compile(tree, "<cell>", "exec"), env)
        if last is not None:
            val = eval(compile(ast.Expression(last.value), "<cell>", "eval"), env)
            if val is not None:
                print(repr(val))
    except KeyboardInterrupt:
        print("KeyboardInterrupt: the cell was interrupted (time limit); the session state is kept")
    except BaseException:
        traceback.print_exc(limit=-6)
    finally:
        RUNNING = False
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
    _cap(out_path)


def serve():
    signal.signal(signal.SIGINT, _on_sigint)
    req = os.fdopen(_fifo("req"), "rb")
    resp = _fifo("resp")
    out_path = os.path.join(HERE, "out")
    workdir = os.path.dirname(HERE)
    os.chdir(workdir)
    sys.path.insert(0, workdir)
    env = {"__name__": "__main__"}
    with open(os.path.join(HERE, "repl.pid"), "w") as f:
        f.write("%%d\n" %% os.getpid())
    while True:
        line = req.readline().decode("utf-8", "replace").rstrip("\n")
        seq, _, cell = line.partition(" ")
        if not cell:
            continue
        run_cell(cell, out_path, env)
        os.write(resp, (seq + "\n").encode())


if __name__ == "__main__":
    serve()
''' % {"cap": OUTPUT_CAP}

# Arguments: SEQ CELL TIMEOUT_US REPL_DIR (absolute). Exit 0 when the session answered.
CLIENT = r"""
set -u
seq=$1 cell=$2 limit_us=$3 d=$4 note=""
alive() { [ -r "$d/repl.pid" ] && read -r pid < "$d/repl.pid" && kill -0 "$pid" 2>/dev/null; }
now_us() { now=${EPOCHREALTIME/[.,]/}; now=$((10#$now)); }  # sets $now; no subshell
if ! alive; then
  rm -f "$d/repl.pid"
  (cd "$d/.." && exec setsid python3 -u "$d/pyrepl.py" </dev/null >/dev/null 2>>"$d/repl.log" &)
  for _ in {1..400}; do alive && break; sleep 0.025; done
  alive || { echo "error: the python session did not start; see .agentgym/repl.log"; exit 1; }
  note="[a new python session was started]"$'\n'
fi
exec 3<>"$d/req" 4<>"$d/resp"
printf '%s %s\n' "$seq" "$cell" >&3
wait_reply() {  # $1: microseconds. Polls, so that a dead session is noticed within 0.2 s.
  local end line now
  now_us; end=$(( now + $1 ))
  while now_us; (( now < end )); do
    if read -r -t 0.2 line <&4; then [ "$line" = "$seq" ] && return 0; continue; fi
    alive || return 2
  done
  return 1
}
reply() {  # read (a builtin) rather than cat: a process start costs ~3 ms in a container
  local body
  IFS= read -r -d '' body < "$d/out"
  printf '%s%s' "$note" "$body"
  exit 0
}
wait_reply "$limit_us" && reply
[ $? -eq 2 ] && { printf '%s[the python session died (out of memory or killed); its state is lost]\n' "$note"; exit 1; }
kill -INT "$pid" 2>/dev/null
wait_reply GRACE_US && reply
kill -KILL "$pid" 2>/dev/null
printf '%s[the cell ran past its time limit and did not stop on interrupt: the session was killed; its state is lost]\n' "$note"
exit 1
""".replace("GRACE_US", str(INTERRUPT_GRACE_S * 1_000_000))
