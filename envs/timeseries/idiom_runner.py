"""Run a translation on the hidden inputs under the RUN-TIME idiom check. This file is shipped
verbatim (as runner.py, with runner_config.json) into the FRESH grading sandbox and runs there,
never in the grader's process; it must stay self-contained (standard library + numpy).

Why: the AST check on the host sees only what is written. exec/compile/__import__ reached through
another module's builtins (np.__builtins__['exec']), a loop built as np.fromiter over an iterator
or a callback, or a library the idiom forbids loaded through a helper all pass it. Here the
module runs with:
- an audit hook (sys.addaudithook: it cannot be removed) that kills the process with
  EXIT_VIOLATION and a marker line on stderr when, after set-up, anything compiles new code
  (compile/exec/eval of source, marshal, code objects built by hand) other than the import
  system loading an installed module; when the module's own code loads a module outside the
  allowed set by any import path (__import__ is wrapped too), or a helper loads a library that is
  an idiom of its own (pandas, statsmodels, scipy, ...) the task does not allow; and when
  anything touches the checker (sys.settrace/setprofile, its functions' code, gc referrers,
  ctypes, threads, processes, writes to files);
- a trace function counting, per hidden input, the Python calls into and lines run in code
  compiled from the module (its functions, lambdas, generators and callbacks, whoever calls
  them), and a profile function that refuses loop helpers (np.fromiter, map, functools.reduce,
  itertools.accumulate, np.vectorize, ...) called from it. Loop-free idioms run a bounded
  number of their own lines per call; a Python-level loop in any disguise runs them per element.

The counters are monotonic (itertools.count): code that reaches them can only make its own counts
larger. What remains possible in-process is listed in README.md (modules the allowed libraries
already loaded stay reachable through their attributes).
"""

import itertools
import json
import os
import sys

VIOLATION = "AGENTGYM-IDIOM-VIOLATION"
EXIT_VIOLATION = 86


def _die(msg, _write=os.write, _exit=os._exit):
    try:
        _write(2, ("\n" + VIOLATION + ": " + msg + "\n").encode("utf-8", "replace"))
    finally:
        _exit(EXIT_VIOLATION)


def _value(counter):
    return counter.__reduce__()[1][0]


def _plain(s):
    """An exact str copy of a str (subclass) without calling its methods; else ''."""
    return "".join([s]) if issubclass(type(s), str) else ""


_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_KILL = ("sys.settrace", "sys.setprofile", "sys.addaudithook", "code.__new__", "gc.get_objects", "gc.get_referrers",
         "gc.get_referents", "_thread.start_new_thread", "os.fork", "os.forkpty", "os.posix_spawn", "os.spawn",
         "os.exec", "os.system", "os.kill", "os.killpg", "subprocess.Popen", "pty.spawn", "os.remove", "os.rename",
         "os.rmdir", "os.mkdir", "os.symlink", "os.link", "os.truncate", "os.chmod", "os.chown", "os.putenv",
         "os.unsetenv", "mmap.__new__", "resource.setrlimit", "signal.pthread_kill", "sys.set_asyncgen_hooks",
         "sqlite3.connect", "shutil.rmtree", "shutil.copyfile", "shutil.move")
#: libraries that are an idiom of their own: loading one the task does not allow is a violation
_IDIOM_LIBS = frozenset({"pandas", "statsmodels", "scipy", "sklearn", "polars", "numba", "patsy"})
_KILL_PREFIX = ("ctypes.", "socket.", "_posixsubprocess", "winreg.")


def _install(cfg, agent_path, write_code):
    """Install the checker; returns the (calls, lines) counters. The trace, profile and import
    functions close over nothing (defaults only: reading or setting them is audited, replacing
    their code kills); the hook's own state is reachable from nowhere."""
    import builtins
    import functools
    import importlib._bootstrap as boot
    import importlib._bootstrap_external as ext
    from importlib.machinery import ModuleSpec

    import numpy as np

    allowed = frozenset(cfg["allowed"])
    allowed_text = ", ".join(sorted(allowed))
    loader_types = (ext.SourceFileLoader, ext.SourcelessFileLoader, ext.ExtensionFileLoader)
    protected = [ext.FileLoader, ext.SourceLoader, ModuleSpec, *loader_types]
    boot_g, ext_g = vars(boot), vars(ext)
    calls, lines = itertools.count(), itertools.count()
    getframe, die = sys._getframe, _die
    banned = (np.fromiter, np.frompyfunc, builtins.map, builtins.filter, functools.reduce, itertools.accumulate,
              itertools.starmap)
    banned_code = []
    for fn in (np.vectorize.__call__, np.vectorize._vectorize_call, np.apply_along_axis, np.apply_over_axes):
        fn = getattr(fn, "_implementation", fn)  # numpy >= 1.25 wraps them in a C dispatcher
        code = getattr(fn, "__code__", None)
        if code is not None:
            banned_code.append(code)
    banned_code = tuple(banned_code)
    writes = []  # the runner's one authorised write (outputs.json)

    def tracer(frame, event, arg, _calls=calls, _lines=lines, _next=next, _path=agent_path, _get=sys.gettrace):
        if frame.f_code.co_filename == _path:
            _next(_calls if event == "call" else _lines)
            return _get()
        return None

    def profiler(frame, event, arg, _path=agent_path, _banned=banned, _codes=banned_code, _die=die):
        if event == "c_call":
            if frame.f_code.co_filename == _path:
                for b in _banned:
                    if arg is b:
                        _die("a loop helper (" + b.__name__ + ") was called; the target idiom has no Python-level loops")
        elif event == "call":
            code = frame.f_code
            for c in _codes:
                if code is c and frame.f_back is not None and frame.f_back.f_code.co_filename == _path:
                    _die("a loop helper (" + c.co_name + ") was called; the target idiom has no Python-level loops")

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0, _real=builtins.__import__,
                       _get=getframe, _path=agent_path, _allowed=allowed, _text=allowed_text, _die=die, _plain=_plain):
        if _get(1).f_code.co_filename == _path:
            if level or _plain(name).split(".")[0] not in _allowed:
                _die("imported " + _plain(name) + " at run time; allowed imports: " + _text)
        return _real(name, globals, locals, fromlist, level)

    protected += [tracer, profiler, guarded_import, die]

    def is_agent(frame):
        return frame.f_code.co_filename == agent_path

    def agent_on_stack(frame):
        while frame is not None:
            if is_agent(frame):
                return True
            frame = frame.f_back
        return False

    def importer(frame):
        """The first frame above the import machinery."""
        while frame is not None and (frame.f_globals is boot_g or frame.f_globals is ext_g
                                     or _plain(frame.f_globals.get("__name__", "")).startswith("importlib")):
            frame = frame.f_back
        return frame

    def legit_load(frame):
        """The compile/marshal at frame is the import system loading an installed module with a
        stock loader, and no code of the module's runs between that load and the event."""
        while frame is not None:
            if is_agent(frame):
                return False
            if frame.f_globals is boot_g and frame.f_code.co_name == "_load_unlocked":
                spec = frame.f_locals.get("spec")
                return type(spec) is ModuleSpec and type(spec.__dict__.get("loader")) in loader_types
            frame = frame.f_back
        return False

    def check(event, args):
        if event in ("compile", "marshal.loads", "marshal.load"):
            if not legit_load(getframe(2)):
                die("new code was compiled at run time (" + event + "): exec/eval/compile of source and code "
                    "built by hand are not allowed in a translation")
        elif event == "import":
            name = _plain(args[0])
            root = name.split(".")[0]
            if root not in allowed and name not in sys.modules:
                req = importer(getframe(2))
                # the module asking, through any path; or a helper loading a library the idiom
                # forbids (a library's own lazy or optional imports are left alone)
                if req is None or is_agent(req) or (root in _IDIOM_LIBS and root not in sys.modules):
                    die("imported " + name + " at run time; allowed imports: " + allowed_text)
        elif event == "object.__setattr__":
            target = args[0]
            for p in protected:
                if target is p:
                    die("the run-time idiom check was tampered with")
        elif event == "open":
            mode, flags = args[1], args[2]
            if (issubclass(type(mode), str) and any(c in _plain(mode) for c in "wax+")) or (
                    type(flags) is int and flags & _WRITE_FLAGS):
                f = getframe(2)
                if writes or f.f_code is not write_code or agent_on_stack(f):
                    die("a file was opened for writing during grading")
                writes.append(1)
        elif event in _KILL or event.startswith(_KILL_PREFIX):
            die("forbidden operation during grading: " + event)

    def hook(event, args):
        if event.startswith("object.__getattr__") or event == "sys._getframe":
            return
        try:
            check(event, args)
        except BaseException:  # noqa: BLE001 - a checker that fails, fails closed
            die("the run-time idiom check could not inspect " + event)

    builtins.__import__ = guarded_import
    if not cfg["loops_allowed"]:
        sys.settrace(tracer)
        sys.setprofile(profiler)
    sys.addaudithook(hook)
    return calls, lines


def _write_outputs(data):
    with open("outputs.json", "w") as fh:
        fh.write(data)


def main():
    cfg = json.load(open("runner_config.json"))
    import numpy as np

    for mod in cfg["preload"]:
        __import__(mod)
    exec(cfg["warmup"], {"np": np})  # library paths the target idioms use, loaded before the check
    with open("cases.json") as fh:
        cases = json.load(fh)
    for name in ("cases.json", "runner_config.json"):  # the hidden inputs reach the module one call at a time
        os.remove(name)
    path = os.path.abspath(cfg["path"])
    with open(path, "rb") as fh:
        source = fh.read()
    import types

    try:
        code = compile(source, path, "exec")
    except (SyntaxError, ValueError) as exc:
        _write_outputs(json.dumps({"import_error": "SyntaxError: " + str(exc)[:300]}))
        return
    module = types.ModuleType(cfg["module"])
    module.__file__ = path
    sys.modules[cfg["module"]] = module
    value, dumps, write, die, asarray = _value, json.dumps, _write_outputs, _die, np.asarray
    max_calls, max_lines, fname = int(cfg["max_calls"]), int(cfg["max_lines"]), cfg["function"]
    calls, lines = _install(cfg, path, _write_outputs.__code__)
    out = []
    try:
        exec(code, module.__dict__)
        fn = module.__dict__[fname]
    except BaseException as exc:  # noqa: BLE001 - the module's own failure, reported as data
        write(dumps({"import_error": (type(exc).__name__ + ": " + str(exc))[:300]}))
        return
    dc, dl = value(calls), value(lines)
    if dc > max_calls or dl > 4 * max_lines:  # the import is measured too: no work done ahead of the calls
        die("importing the module ran " + str(dc) + " Python calls and " + str(dl) + " lines of its own code "
            "(limits " + str(max_calls) + " and " + str(4 * max_lines) + "): a Python-level loop at import; "
            "the target idiom has none")
    for case in cases:
        c0, l0 = value(calls), value(lines)
        try:
            res = asarray(fn(asarray(case["y"], dtype=float), **case["params"]), dtype=float)
            row = {"id": case["id"], "values": res.tolist(), "error": None}
        except BaseException as exc:  # noqa: BLE001
            row = {"id": case["id"], "values": None, "error": (type(exc).__name__ + ": " + str(exc))[:300]}
        dc, dl = value(calls) - c0, value(lines) - l0
        if dc > max_calls or dl > max_lines:
            die(fname + "() ran " + str(dc) + " Python calls and " + str(dl) + " lines of its own code on one "
                "hidden input (limits " + str(max_calls) + " and " + str(max_lines) + "): a Python-level loop (a "
                "callback, generator or iterator consumed element by element); the target idiom has none")
        row["work"] = [dc, dl]
        out.append(row)
    write(dumps(out))


if __name__ == "__main__":
    main()
