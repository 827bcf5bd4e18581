"""SWE-bench's repositories built in: their specs, per version, read from the `swebench` package.

The reference harness (`pip install swebench`, a dependency of agentgym[swe]) keeps, for every
repository and version, the Python version, packages, install commands and test command
(swebench.harness.constants.MAP_REPO_VERSION_TO_SPECS) and the log parser that names its tests
(swebench.harness.log_parsers.MAP_REPO_TO_PARSER). They are read from there, not rewritten, and
mapped onto RepoSpec fields here, so a new release of the package brings new versions with it.

The mapping (one SWE-bench spec -> RepoSpec fields):
  python                       -> python (the conda env's Python in the official images)
  pip_packages, packages       -> pip ("requirements.txt" -> install `pip install -r` of the repository's
                                  requirements file; "environment.yml" is conda's and is left out)
  pre_install, install         -> install (run in /testbed, one shell, when the instance image is
                                  built); install also -> reinstall (the eval script reruns it after the patch)
  eval_commands                -> eval_commands
  test_cmd                     -> test_cmd (leading VAR=value words -> env; sphinx's `tox --current-env
                                  -epy39 -v --` -> `python -m pytest -rA`, the command its tox.ini runs)
  the repository's parser      -> parser ('django', 'sympy', else 'pytest') and log_parser (its name)
and conda_env='testbed' (activated where the image has conda, as in SWE-bench's official images),
apt python-is-python3 for local builds (their commands say `python`; Debian has only python3).

Not mapped: execute_test_as_nonroot and nano_cpus (swebench 4.1's harness does not read them
either), no_use_env (how the conda env was created). A requirements file is read from the
repository at base_commit, where swebench fetches it from GitHub at environment_setup_commit.

swebench 5 moved specs into each dataset row (eval_script, image, log_parser) and no longer ships
them, so the dependency is swebench>=4.1,<5; without it, specs.KNOWN's defaults apply.
"""

from __future__ import annotations

import copy
import functools
import importlib
import importlib.util
import logging
import shlex
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

log = logging.getLogger(__name__)

#: The twelve repositories of SWE-bench (and of SWE-bench Verified and Lite).
SWE_BENCH_REPOS = (
    "astropy/astropy", "django/django", "matplotlib/matplotlib", "mwaskom/seaborn", "pallets/flask",
    "psf/requests", "pydata/xarray", "pylint-dev/pylint", "pytest-dev/pytest", "scikit-learn/scikit-learn",
    "sphinx-doc/sphinx", "sympy/sympy",
)

#: Fields of ours that no SWE-bench spec carries, per repository.
_EXTRA: dict[str, dict[str, Any]] = {"pytest-dev/pytest": {"isolate_runner": False}}
_TEXT_PARSERS = {"parse_log_django": "django", "parse_log_sympy": "sympy"}
_TOX_PYTEST = "python -m pytest -rA"  # what `tox --current-env -epy39 --` runs in sphinx's tox.ini (-rA: SWE-bench's sed)


#: where swebench is not installed: data files a test patch adds are not test targets
_NON_TEST_FALLBACK = (".json", ".png", ".csv", ".txt", ".md", ".jpg", ".jpeg", ".pkl", ".yml", ".yaml", ".toml")


class SwebenchMissing(RuntimeError):
    """The swebench package is not installed (pip install 'agentgym[swe]')."""


class Tables(NamedTuple):
    """What agentgym reads from swebench."""

    specs: dict[str, dict[str, dict[str, Any]]]  # MAP_REPO_VERSION_TO_SPECS
    parsers: dict[str, Any]  # MAP_REPO_TO_PARSER_PY: repo -> parser function
    reqs_paths: dict[str, list[str]]  # MAP_REPO_TO_REQS_PATHS
    non_test_exts: tuple[str, ...]  # NON_TEST_EXTS
    parser_module: ModuleType  # swebench.harness.log_parsers.python


#: _load_files puts stub parent modules into sys.modules for a moment: a second thread loading at
#: the same time saw them, took the ordinary import and failed half-way (a circular import), and
#: its None could be what the cache kept (SWE-bench repositories then got test commands only)
_LOAD_LOCK = threading.Lock()


def _tables() -> Tables | None:
    with _LOAD_LOCK:  # one loader at a time; every later call is the cache's answer
        return _tables_once()


@functools.cache
def _tables_once() -> Tables | None:
    try:
        return _load()
    except Exception as exc:  # noqa: BLE001 - not installed, or a dependency of it broken: say which, once
        log.warning("swebench cannot be imported (%s: %s): SWE-bench repositories get test commands only; "
                    "pip install 'agentgym[swe]' for their per-version specs", type(exc).__name__, exc)
        return None


def _load() -> Tables:
    """swebench's constants and Python log parsers. `import swebench` runs its package __init__ files,
    which import datasets, modal, docker and ghapi (2 s on a quiet machine, 15 s on a loaded one); the
    two parts used here need only the standard library, so unless swebench is imported already they
    are loaded from its files behind temporary parent modules, and sys.modules is put back as it was
    (a later `import swebench` is the ordinary one). The normal import is the fallback."""
    if "swebench" not in sys.modules:
        try:
            return _load_files()
        except Exception as exc:  # noqa: BLE001 - a layout this loader does not know: the ordinary import
            log.debug("swebench's files could not be loaded on their own (%s): importing the package", exc)
    from swebench.harness import constants
    from swebench.harness.log_parsers import python as parsers

    return Tables(constants.MAP_REPO_VERSION_TO_SPECS, parsers.MAP_REPO_TO_PARSER_PY, constants.MAP_REPO_TO_REQS_PATHS,
                  tuple(constants.NON_TEST_EXTS), parsers)


def _load_files() -> Tables:
    found = importlib.util.find_spec("swebench")  # finds the package without running it
    if found is None or not found.submodule_search_locations:
        raise ImportError("the swebench package is not installed")
    root = Path(list(found.submodule_search_locations)[0])
    stubs = {"swebench": root, "swebench.harness": root / "harness", "swebench.harness.test_spec": None}
    before = set(sys.modules)
    try:
        for name, path in stubs.items():
            sys.modules[name] = stub = ModuleType(name)
            stub.__path__ = [str(path)] if path else []
        sys.modules["swebench.harness.test_spec.test_spec"] = annotations = ModuleType("test_spec")
        annotations.TestSpec = object  # type: ignore[attr-defined]  # the parsers name it in annotations only
        constants = importlib.import_module("swebench.harness.constants")
        where = importlib.util.spec_from_file_location("swebench.harness.log_parsers.python",
                                                       root / "harness" / "log_parsers" / "python.py")
        assert where is not None and where.loader is not None
        parsers = importlib.util.module_from_spec(where)
        where.loader.exec_module(parsers)
    finally:
        for name in [n for n in sys.modules if (n == "swebench" or n.startswith("swebench.")) and n not in before]:
            del sys.modules[name]
    return Tables(constants.MAP_REPO_VERSION_TO_SPECS, parsers.MAP_REPO_TO_PARSER_PY, constants.MAP_REPO_TO_REQS_PATHS,
                  tuple(constants.NON_TEST_EXTS), parsers)


def available() -> bool:
    """Whether the swebench package (and so SWE-bench's specs and parsers) can be used here."""
    return _tables() is not None


def tables() -> Tables:
    """What agentgym reads from the installed swebench (SwebenchMissing when it cannot)."""
    found = _tables()
    if found is None:
        raise SwebenchMissing("the swebench package is not installed: pip install 'agentgym[swe]' (swebench>=4.1,<5)")
    return found


def non_test_extensions() -> tuple[str, ...]:
    """Endings of files a test patch touches that are not tests (swebench's NON_TEST_EXTS)."""
    found = _tables()
    return found.non_test_exts if found is not None else _NON_TEST_FALLBACK


def versions(repo: str) -> list[str]:
    """The versions swebench lists for repo (empty for a repository it does not know)."""
    return list(tables().specs.get(repo, {}))


def parser_name(repo: str) -> str:
    """The name of swebench's log parser for repo, e.g. 'parse_log_pytest_options' ('' if none)."""
    fn = tables().parsers.get(repo)
    return fn.__name__ if fn is not None else ""


def repo_spec(repo: str) -> dict[str, Any] | None:
    """RepoSpec fields for a SWE-bench repository, with `versions`; None for any other repository or
    when swebench is not installed (the caller falls back to its own defaults). A fresh copy each call."""
    if repo not in SWE_BENCH_REPOS or _tables() is None:
        return None
    return copy.deepcopy(_repo_spec(repo))


@functools.cache
def _repo_spec(repo: str) -> dict[str, Any]:
    specs = tables().specs
    name = parser_name(repo)
    # python-is-python3: SWE-bench's commands and Django's / sympy's runners (#!/usr/bin/env python) say `python`,
    # which Debian's base image lacks; the official images have it in the conda env
    base: dict[str, Any] = {"parser": _TEXT_PARSERS.get(name, "pytest"), "log_parser": name, "conda_env": "testbed",
                            "apt": ["python-is-python3"], **_EXTRA.get(repo, {})}
    per_version = {str(v): map_spec(repo, s) for v, s in specs.get(repo, {}).items()}
    if per_version:  # the newest version's test command is the default for an instance with no version
        newest = per_version[max(per_version, key=_version_key)]
        base.update(test_cmd=newest["test_cmd"], env=newest.get("env", {}))
    return {**base, "versions": per_version}


def map_spec(repo: str, spec: dict[str, Any]) -> dict[str, Any]:
    """One SWE-bench spec (a MAP_REPO_VERSION_TO_SPECS entry) as RepoSpec fields (see the module docstring)."""
    test_cmd, env = _test_command(str(spec["test_cmd"]))
    out: dict[str, Any] = {"python": str(spec.get("python", "")), "test_cmd": test_cmd, "env": env,
                           "pip": list(spec.get("pip_packages") or []), "eval_commands": list(spec.get("eval_commands") or [])}
    packages = str(spec.get("packages") or "")
    install = list(spec.get("pre_install") or [])
    if packages == "requirements.txt":
        paths = tables().reqs_paths.get(repo, [])
        if paths:  # the first of the repository's requirements files that exists, as swebench picks it
            listed = " ".join(shlex.quote(p) for p in paths)
            install.append(f'for req in {listed}; do if [ -f "$req" ]; then python -m pip install -r "$req"; break; fi; done')
    elif packages and packages != "environment.yml":
        out["pip"] = _dedupe(shlex.split(packages) + out["pip"])
    if spec.get("install"):
        install.append(str(spec["install"]))
    out["install"] = install
    out["reinstall"] = [str(spec["install"])] if spec.get("install") else []
    return out


def _test_command(cmd: str) -> tuple[str, dict[str, str]]:
    """(command, env): leading VAR=value words become env; tox becomes the pytest run tox.ini makes."""
    words = shlex.split(cmd)
    env: dict[str, str] = {}
    while words and "=" in words[0] and words[0].split("=", 1)[0].isidentifier():
        key, value = words.pop(0).split("=", 1)
        env[key] = value
    if words and words[0] == "tox":
        return _TOX_PYTEST, env
    return (shlex.join(words) if env else cmd), env


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _version_key(v: str) -> tuple[int, ...]:
    nums = [int(p) for p in v.lstrip("v").replace("-", ".").split(".") if p.isdigit()]
    return tuple(nums)
