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
and conda_env='testbed' (activated where the image has conda, as in SWE-bench's official images).

Not mapped: execute_test_as_nonroot and nano_cpus (swebench 4.1's harness does not read them
either), no_use_env (how the conda env was created). A requirements file is read from the
repository at base_commit, where swebench fetches it from GitHub at environment_setup_commit.

swebench 5 moved specs into each dataset row (eval_script, image, log_parser) and no longer ships
them, so the dependency is swebench>=4.1,<5; without it, specs.KNOWN's defaults apply.
"""

from __future__ import annotations

import copy
import functools
import logging
import shlex
from typing import Any

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


@functools.cache
def _tables() -> tuple[dict[str, dict[str, dict[str, Any]]], dict[str, Any], dict[str, list[str]]] | None:
    try:
        from swebench.harness.constants import MAP_REPO_TO_REQS_PATHS, MAP_REPO_VERSION_TO_SPECS
        from swebench.harness.log_parsers import MAP_REPO_TO_PARSER
    except Exception as exc:  # noqa: BLE001 - not installed, or a dependency of it broken: say which, once
        log.warning("swebench cannot be imported (%s: %s): SWE-bench repositories get test commands only; "
                    "pip install 'agentgym[swe]' for their per-version specs", type(exc).__name__, exc)
        return None
    return MAP_REPO_VERSION_TO_SPECS, MAP_REPO_TO_PARSER, MAP_REPO_TO_REQS_PATHS


def available() -> bool:
    """Whether the swebench package (and so SWE-bench's specs and parsers) can be used here."""
    return _tables() is not None


def tables() -> tuple[dict[str, dict[str, dict[str, Any]]], dict[str, Any], dict[str, list[str]]]:
    """(MAP_REPO_VERSION_TO_SPECS, MAP_REPO_TO_PARSER, MAP_REPO_TO_REQS_PATHS) of the installed swebench."""
    found = _tables()
    if found is None:
        raise SwebenchMissing("the swebench package is not installed: pip install 'agentgym[swe]' (swebench>=4.1,<5)")
    return found


def non_test_extensions() -> tuple[str, ...]:
    """Endings of files a test patch touches that are not tests (swebench's NON_TEST_EXTS)."""
    if _tables() is None:
        return _NON_TEST_FALLBACK
    from swebench.harness.constants import NON_TEST_EXTS

    return tuple(NON_TEST_EXTS)


def versions(repo: str) -> list[str]:
    """The versions swebench lists for repo (empty for a repository it does not know)."""
    return list(tables()[0].get(repo, {}))


def parser_name(repo: str) -> str:
    """The name of swebench's log parser for repo, e.g. 'parse_log_pytest_options' ('' if none)."""
    fn = tables()[1].get(repo)
    return fn.__name__ if fn is not None else ""


def repo_spec(repo: str) -> dict[str, Any] | None:
    """RepoSpec fields for a SWE-bench repository, with `versions`; None for any other repository or
    when swebench is not installed (the caller falls back to its own defaults). A fresh copy each call."""
    if repo not in SWE_BENCH_REPOS or _tables() is None:
        return None
    return copy.deepcopy(_repo_spec(repo))


@functools.cache
def _repo_spec(repo: str) -> dict[str, Any]:
    specs, _, _ = tables()
    name = parser_name(repo)
    base: dict[str, Any] = {"parser": _TEXT_PARSERS.get(name, "pytest"), "log_parser": name, "conda_env": "testbed",
                            **_EXTRA.get(repo, {})}
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
        paths = tables()[2].get(repo, [])
        if paths:  # the first of the repository's requirements files that exists, as swebench picks it
            tries = " || ".join(f"{{ [ -f {shlex.quote(p)} ] && python -m pip install -r {shlex.quote(p)}; }}" for p in paths)
            install.append(f"{{ {tries}; }}")
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
