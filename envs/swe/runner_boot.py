"""Start pytest in the grading sandbox so that nothing in the repository can stand in for it.

Runs INSIDE the grading sandbox as the test process, under the instance's interpreter with -I
(no PYTHONPATH, no user site, neither the script's folder nor the current one on sys.path); Python
3.6+ and the standard library only. Before any path of the repository is on sys.path it imports
pytest, pluggy, every _pytest module and the standard modules they use, and checks that none of
them came from the repository (an editable install's .pth can put the repository on sys.path at
start). Only then does it put the repository first on sys.path (as `python -m pytest` from the
repository would), export PYTHONPATH for subprocesses, and run pytest.main with our RecordPlugin.
So a pytest.py, _pytest/ or json.py at the repository root never takes over the run.

Plugins: pytest's autoload stays on, but for pytest and pluggy only, the installed distributions
are those found while the repository is off sys.path whose every pytest11 entry point is on the
grader's allowlist (what the environment image had before the agent acted). A dist-info planted in
the repository, or a plugin the agent installed, is never loaded; the repository's own pytest
configuration (addopts, markers, filterwarnings, pythonpath, `-p no:NAME`) applies as it would
under `python -m pytest`. Without an allowlist, or without importlib.metadata, autoload is off.

argv: CONFIG_JSON PYTEST_ARGS... with CONFIG = {"fd": record pipe fd, "plugin": path of
runner_plugin.py, "path": PYTHONPATH entries relative to the repository, "isolate": bool,
"plugins": allowed "DIST NAME=VALUE" pytest11 entry points (testrun.installed_plugins), or null}.
"""

import json
import os
import sys

#: Standard modules pytest and the plugin import lazily: imported before the repository is on sys.path.
PRELOAD = ("json", "argparse", "inspect", "traceback", "warnings", "unittest", "doctest", "pdb", "tempfile",
           "shlex", "fnmatch", "glob", "logging", "faulthandler", "textwrap", "pprint", "difflib", "decimal",
           "fractions", "dataclasses", "importlib.util", "importlib.machinery", "pkgutil", "zipimport",
           "contextlib", "functools", "collections", "enum", "types", "typing", "io", "re", "platform", "atexit")


def _inside(root, path):
    real = os.path.realpath(path or os.curdir)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def _metadata_modules():
    mods = []
    for name in ("importlib.metadata", "importlib_metadata"):  # the backport is what pluggy uses on 3.6/3.7
        try:
            mods.append(__import__(name, fromlist=["distributions"]))
        except ImportError:
            pass
    return mods


def _filter_plugins(allow):
    """Let pytest and pluggy see only the allowed plugin distributions found now (see the docstring)."""
    mods = _metadata_modules()
    if allow is None or not mods or not _pluggy_reads_metadata():
        os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        return
    allowed = set(allow)
    kept = []
    try:
        for md in mods:
            keep = []
            for dist in md.distributions():
                eps = [ep for ep in dist.entry_points if ep.group == "pytest11"]
                if eps and all("{} {}={}".format(dist.metadata["Name"], ep.name, ep.value) in allowed for ep in eps):
                    keep.append(dist)
            kept.append((md, keep))
    except Exception:  # noqa: BLE001 - unreadable metadata: no plugin rather than a guess
        os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        return
    for md, keep in kept:
        md.distributions = _filtered(md.distributions, keep)


def _pluggy_reads_metadata():
    """pluggy >= 0.12 finds entry points through (importlib_)metadata; older ones use pkg_resources,
    which the filter does not reach: there, no plugin is autoloaded."""
    try:
        import pluggy
        return [int(p) for p in pluggy.__version__.split("+")[0].split(".")[:2]] >= [0, 12]
    except Exception:  # noqa: BLE001 - no pluggy (vendored in pytest < 3.7) or an odd version string
        return False


def _filtered(everything, keep):
    def distributions(**kwargs):
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if kwargs or not (caller.startswith("pluggy") or caller.startswith("_pytest")):
            return everything(**kwargs)  # the code under test sees every distribution as usual
        return iter(list(keep))
    return distributions


def _refuse(fd, why):
    os.write(fd, (json.dumps({"k": "refused", "why": why}) + "\n").encode("utf-8", "replace"))
    os._exit(3)


def main():
    cfg = json.loads(sys.argv[1])
    args = sys.argv[2:]
    fd = int(cfg["fd"])
    os.set_inheritable(fd, False)  # not handed to the subprocesses tests start
    repo = os.path.realpath(os.getcwd())
    saved = list(sys.path)
    if cfg.get("isolate", True):
        sys.path[:] = [p for p in saved if p and not _inside(repo, p)]
    import importlib
    import pkgutil

    import pytest
    import _pytest
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - an optional module missing in this Python
            pass
    for info in pkgutil.iter_modules(_pytest.__path__):
        try:
            importlib.import_module("_pytest." + info[1])
        except Exception:  # noqa: BLE001 - e.g. a plugin needing an optional dependency
            pass
    _filter_plugins(cfg.get("plugins"))
    if cfg.get("isolate", True):
        for name, mod in sorted(sys.modules.items()):
            origin = getattr(mod, "__file__", None)
            if origin and _inside(repo, origin):
                _refuse(fd, "module {} was imported from the repository ({}) before the tests ran".format(name, origin))
    import importlib.util
    spec = importlib.util.spec_from_file_location("agentgym_record_plugin", cfg["plugin"])
    plugin_mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plugin_mod)
    inherited = os.environ.get("PYTHONPATH", "").split(os.pathsep)  # the image's own, ignored by -I
    extra = [os.path.join(repo, p) for p in list(cfg.get("path", [])) + inherited if p]
    sys.path[:] = [repo] + extra + [p for p in saved if p and os.path.realpath(p) != repo]
    if extra:
        os.environ["PYTHONPATH"] = os.pathsep.join(extra)
    sys.dont_write_bytecode = True
    sys.argv = [os.path.join(os.path.dirname(pytest.__file__), "__main__.py")] + args
    code = pytest.main(args, plugins=[plugin_mod.RecordPlugin(fd)])
    sys.exit(int(code))


if __name__ == "__main__":
    main()
