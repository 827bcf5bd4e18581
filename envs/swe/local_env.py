"""The local runtime's test environment for a repository spec: a venv per spec, built once, cached.

Why: a local sandbox's python3 is agentgym's own host interpreter and packages (minus agentgym), so
grading with it ignores what the spec installs: a repository whose tests need pytest-mock (or any
dependency) scored 0, or ended as a misleading infrastructure error. Grading on the local runtime
therefore runs under a venv made for the spec: the host's base interpreter, a copy of the host's
pytest and its requirements (test ids stay those of the host; no network unless the spec lists pip
packages), and the spec's pip requirements. It lives under the
agentgym cache (AGENTGYM_CACHE/swe/venvs/<hash of what it holds>), is built in a private temp folder
and published with one rename (diskcache.publish_dir: concurrent graders build it once), and is
left read-only. Its pytest plugins are recorded when it is built (manifest.json): that list, not
what is installed when grading, is what the grader lets pytest load.

A spec a venv cannot honour (Debian packages, setup commands, its own base image, another Python,
install commands other than installing the repository itself, which the grader's sys.path already
covers) is refused with one line that says to use the docker runtime. What this does not give: the
venv is the user's own files; code run on the local runtime can change it (see README).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from agentgym.diskcache import cache_root, publish_dir
from agentgym.envs.swe.specs import RepoSpec
from agentgym.envs.swe.testrun import _PLUGIN_PROBE

MANIFEST = "manifest.json"
DEFAULT_BASE = "agentgym/swe-base:latest"
#: install commands that only install the repository itself (the grader puts it on sys.path instead)
_SELF_INSTALL = re.compile(r"^\s*(?:python3?\s+-m\s+)?pip3?\s+install\s+(?:(?:-v|--verbose|--no-build-isolation|--no-use-pep517)\s+)*"
                           r"(?:-e\s+|--editable\s+)?(['\"]?)\.(?:\[[\w,-]*\])?\1(?:\s+(?:-v|--verbose))?\s*$")
_BUILD_TIMEOUT = 900
#: images whose local stand-in is the sandbox's own python: the synth suite's projects were validated
#: with it (their test dependencies are the host's); every other spec gets a venv of its own
SANDBOX_PYTHON_IMAGES = frozenset({"agentgym/swe-synth:latest"})


class LocalEnvRefused(RuntimeError):
    """The spec needs what a local venv cannot give; the message says to use docker (one line)."""


def uses_sandbox_python(spec: RepoSpec) -> bool:
    return spec.base_image in SANDBOX_PYTHON_IMAGES


def refusal(spec: RepoSpec, repo: str = "") -> str | None:
    """Why this spec cannot run on the local runtime, in one line; None when a venv can honour it."""
    what = repo or "this repository"
    needs = []
    if spec.apt:
        needs.append(f"Debian packages ({', '.join(spec.apt[:3])})")
    if spec.setup:
        needs.append("setup commands")
    if spec.base_image != DEFAULT_BASE:
        needs.append(f"the base image {spec.base_image}")
    python = getattr(spec, "python", None)
    host = f"{sys.version_info.major}.{sys.version_info.minor}"
    if python and str(python) != host:
        needs.append(f"Python {python} (the host has {host})")
    others = [c for c in [*spec.install, *getattr(spec, "reinstall", [])] if not _SELF_INSTALL.match(c)]
    if others:
        needs.append(f"install commands ({others[0][:60]!r})")
    if not needs:
        return None
    return (f"the local runtime cannot build the environment {what} needs ({'; '.join(needs)}): "
            "use runtime='docker'")


def _host_pytest() -> str:
    """The host's pytest version, '' when the host has none (then the venv gets PyPI's)."""
    from importlib import metadata

    try:
        return metadata.version("pytest")
    except metadata.PackageNotFoundError:
        return ""


def _key(spec: RepoSpec) -> str:
    body = {"pip": sorted(spec.pip), "python": sys.version.split()[0], "base": getattr(sys, "_base_executable", ""),
            "pytest": _host_pytest(), "v": 2}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def env_dir(spec: RepoSpec) -> Path:
    return cache_root() / "swe" / "venvs" / _key(spec)


def ensure(spec: RepoSpec, repo: str = "") -> tuple[Path, list[str]]:
    """(python of the spec's venv, its recorded pytest plugins); built once. LocalEnvRefused when
    the spec cannot run locally or the build fails (the message says why and to use docker)."""
    why = refusal(spec, repo)
    if why:
        raise LocalEnvRefused(why)
    dest = env_dir(spec)
    try:
        publish_dir(dest, lambda tmp: _build(tmp, dest, spec, repo), ready=MANIFEST, timeout=_BUILD_TIMEOUT + 60)
        manifest = json.loads((dest / MANIFEST).read_text())
        plugins = [str(p) for p in manifest["plugins"]]
    except LocalEnvRefused:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:  # CacheLockTimeout is a TimeoutError (OSError)
        raise LocalEnvRefused(f"could not build the local environment for {repo or 'the repository'} "
                              f"({type(exc).__name__}: {exc}): use runtime='docker'") from None
    return dest / "bin" / "python", plugins


def _build(tmp: Path, dest: Path, spec: RepoSpec, repo: str) -> None:
    """A venv at tmp (its scripts name dest, where it will live): a copy of the host's pytest and its
    requirements (no network for a spec without pip packages), then the spec's pip packages."""
    base = getattr(sys, "_base_executable", "") or sys.executable
    _run([base, "-m", "venv", "--without-pip", str(tmp)], repo, "create a venv")
    python = tmp / "bin" / "python"
    site = Path(_run([str(python), "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     repo, "find its site-packages").strip())
    _seed(site, "pytest")
    reqs = list(spec.pip) if _host_pytest() else ["pytest", *spec.pip]
    if reqs:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-input", "--quiet", *reqs],
             repo, f"pip install {' '.join(reqs)}", env=env)
    plugins = json.loads(_run([str(python), "-I", "-c", _PLUGIN_PROBE], repo, "list its pytest plugins").strip())
    _relocate(tmp, dest)
    (tmp / MANIFEST).write_text(json.dumps({"pip": reqs, "pytest": _host_pytest(), "plugins": plugins,
                                            "python": sys.version.split()[0]}))
    _read_only(tmp)


def _seed(site: Path, name: str, done: set[str] | None = None) -> None:
    """Copy the host's distribution name and what it requires (markers evaluated here, no extras)
    into site: copies, not links, so a later pip upgrade there can never touch the host's files."""
    from importlib import metadata

    from packaging.requirements import Requirement

    done = set() if done is None else done
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return
    key = dist.metadata["Name"].lower().replace("_", "-")
    if key in done or "agentgym" in key:
        return
    done.add(key)
    tops = {str(f).split("/")[0] for f in dist.files or []} - {"..", "__pycache__"}
    for top in sorted(tops):
        src = Path(str(dist.locate_file(top)))
        if src.is_dir():
            shutil.copytree(src, site / top, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
        elif src.is_file():
            shutil.copy2(src, site / top)
    for line in dist.requires or []:
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            _seed(site, req.name, done)


def _run(cmd: list[str], repo: str, what: str, env: dict[str, str] | None = None) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_BUILD_TIMEOUT, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LocalEnvRefused(f"could not build the local environment for {repo or 'the repository'} "
                              f"({what}: {exc}): use runtime='docker'") from None
    if proc.returncode != 0:
        tail = " ".join((proc.stderr or proc.stdout).split())[-300:]
        raise LocalEnvRefused(f"could not build the local environment for {repo or 'the repository'} "
                              f"({what} failed: {tail}): use runtime='docker'")
    return proc.stdout


def _relocate(tmp: Path, dest: Path) -> None:
    """venv scripts and pyvenv.cfg name the temp folder; point them at dest (where the rename puts it)."""
    old, new = str(tmp).encode(), str(dest).encode()
    for path in [tmp / "pyvenv.cfg", *(tmp / "bin").iterdir()]:
        if path.is_file() and not path.is_symlink() and path.stat().st_size < 1 << 20:
            data = path.read_bytes()
            if old in data:
                path.write_bytes(data.replace(old, new))


def _read_only(root: Path) -> None:
    """No write bits: a pip install aimed at the venv by mistake fails instead of changing it."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + dirnames:
            p = Path(dirpath, name)
            if not p.is_symlink():
                p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def remove(spec: RepoSpec) -> None:
    """Delete the spec's venv (write bits restored first)."""
    dest = env_dir(spec)
    if dest.exists():
        for dirpath, dirnames, _ in os.walk(dest):
            os.chmod(dirpath, 0o755)
        shutil.rmtree(dest, ignore_errors=True)
