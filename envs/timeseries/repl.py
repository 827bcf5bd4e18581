"""The persistent Python session: a tiny REPL server started inside the sandbox on first use.

One long-lived python3 process keeps its globals (a loaded DataFrame stays loaded). Each python
tool call writes the cell to a file and runs the client (`python3 -S .agentgym/pyrepl.py run CELL
TIMEOUT`), which talks to the server over a Unix socket in the working directory. The client
enforces the timeout: SIGINT first (the cell gets KeyboardInterrupt, state survives), SIGKILL
after a grace period (the session restarts empty and the output says so). Output is capped.

The source below runs INSIDE the sandbox: standard library only, no agentgym imports.
"""

REPL_DIR = ".agentgym"
REPL_PATH = f"{REPL_DIR}/pyrepl.py"
OUTPUT_CAP = 16_000

SOURCE = r'''
import ast, contextlib, io, json, os, signal, socket, subprocess, sys, time, traceback

SOCK, PID, CAP = "repl.sock", "repl.pid", %(cap)d
HERE = os.path.dirname(os.path.abspath(__file__))


def serve():
    os.chdir(HERE)
    try:
        os.unlink(SOCK)
    except FileNotFoundError:
        pass
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(SOCK)
    srv.listen(1)
    with open(PID, "w") as f:
        f.write(str(os.getpid()))
    workdir = os.path.dirname(HERE)
    os.chdir(workdir)
    sys.path.insert(0, workdir)
    env = {"__name__": "__main__"}
    while True:
        conn, _ = srv.accept()
        with conn:
            req = json.loads(conn.makefile("r").readline())
            buf = io.StringIO()
            try:
                with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
                    src = open(req["cell"]).read()
                    tree = ast.parse(src, "<cell>", "exec")
                    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
                    exec(compile(tree, "<cell>", "exec"), env)
                    if last is not None:
                        val = eval(compile(ast.Expression(last.value), "<cell>", "eval"), env)
                        if val is not None:
                            print(repr(val))
            except KeyboardInterrupt:
                buf.write("KeyboardInterrupt: the cell was interrupted (time limit); the session state is kept\n")
            except BaseException:
                buf.write(traceback.format_exc(limit=-6))
            out = buf.getvalue()
            if len(out) > CAP:
                out = out[:CAP] + "\n[output truncated: %%d characters omitted]" %% (len(out) - CAP)
            conn.sendall((json.dumps({"output": out}) + "\n").encode())


def _connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(SOCK)  # relative: a temp dir's absolute path may pass the 108-byte socket path limit
    return s


def _recv_line(s, buf):
    # raw recv (not makefile): a timed-out read must leave the socket usable for the retry
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return b"".join(buf).decode()
        buf.append(chunk)
        if chunk.endswith(b"\n"):
            return b"".join(buf).decode()


def run(cell, timeout):
    cell = os.path.abspath(cell)
    os.chdir(HERE)
    note = ""
    try:
        s = _connect()
    except OSError:
        subprocess.Popen([sys.executable, os.path.abspath(__file__), "serve"], start_new_session=True,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(os.path.join(HERE, "repl.log"), "a"))
        for _ in range(200):
            time.sleep(0.025)
            try:
                s = _connect()
                break
            except OSError:
                pass
        else:
            print("error: the python session did not start; see .agentgym/repl.log")
            return 1
        note = "[a new python session was started]\n"
    s.sendall((json.dumps({"cell": cell}) + "\n").encode())
    s.settimeout(timeout)
    buf = []
    try:
        line = _recv_line(s, buf)
    except socket.timeout:
        pid = int(open(PID).read())
        os.kill(pid, signal.SIGINT)
        s.settimeout(3)
        try:
            line = _recv_line(s, buf)
        except socket.timeout:
            os.kill(pid, signal.SIGKILL)
            print(note + "[the cell ran past %%gs and did not stop on interrupt: the session was killed; its state is lost]" %% timeout)
            return 1
    if not line:
        print(note + "[the python session died (out of memory or exit()); its state is lost]")
        return 1
    sys.stdout.write(note + json.loads(line)["output"])
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve()
    else:
        sys.exit(run(sys.argv[2], float(sys.argv[3])))
''' % {"cap": OUTPUT_CAP}
