"""The Python a local sandbox's commands get: the host's interpreter and packages, minus agentgym.

On the local runtime an agent that could `import agentgym` could rebuild a task's data and hidden
answers from the package's own generators (issue 13). So `python3` in a local sandbox is a small
venv made for that sandbox (``<sandbox>/py``): the same base interpreter as the host, and a
site-packages of symlinks to the host environment's packages *except* agentgym (its package, its
editable-install finder and .pth, any .pth line naming the repository). Console scripts (pytest,
pip) are copies whose shebang names this venv's python, so they do not bring agentgym back. pip
installs land in the sandbox's own venv and vanish with it. The host's site-packages are named
by one path line (editable install) or linked entry by entry (agentgym installed among them).

What this does NOT do: the host's interpreter, the repository and the user's cache stay readable
by absolute path (a local process runs as the same user); see base.py and the README.
"""

from __future__ import annotations

import os
import site
import sys
import threading
from pathlib import Path

PYTHON_NAMES = ("python", "python3", f"python3.{sys.version_info.minor}")


def _hidden_roots() -> list[str]:
    import agentgym

    pkg = Path(agentgym.__file__).resolve().parent
    return [str(pkg), str(pkg.parent)]  # the package and, for an editable install, the repository


def _is_agentgym(name: str) -> bool:
    return "agentgym" in name.lower()


def _site_dirs() -> list[Path]:
    return [Path(d) for d in site.getsitepackages() if Path(d).is_dir()]


def _site_plan(sources: list[Path], hidden: list[str]) -> dict[str, tuple[str, str]]:
    """name -> ("link", target) or ("text", content) for the sandbox venv's site-packages.

    agentgym installed from a checkout (editable): one .pth naming the host's site directories
    (a path line puts a directory on sys.path without running that directory's .pth files, so the
    editable finder never installs), plus the host's other .pth files. agentgym installed into a
    site directory: a symlink per entry of it except agentgym's (costlier: ~200 symlinks).
    """
    plan: dict[str, tuple[str, str]] = {}
    installed = any(h.startswith(str(src.resolve()) + os.sep) for src in sources for h in hidden[:1])
    for src in sources:
        for entry in sorted(src.iterdir()):
            if _is_agentgym(entry.name) or entry.name in plan:
                continue
            if entry.suffix == ".pth":  # kept, without any line that would put agentgym back
                try:
                    lines = entry.read_text(errors="replace").splitlines()
                except OSError:
                    continue
                kept = [ln for ln in lines if not any(h in ln for h in hidden) and not _is_agentgym(ln)]
                plan[entry.name] = ("text", "\n".join(kept) + "\n")
            elif installed:
                plan[entry.name] = ("link", str(entry))
    if not installed:
        plan["_agentgym_host_site.pth"] = ("text", "".join(f"{src}\n" for src in sources))
    return plan


def _bin_plan(host_bin: Path) -> dict[str, bytes]:
    """name -> the script's body after its shebang, for the host venv's console scripts."""
    host_pythons = {str(host_bin / n) for n in os.listdir(host_bin) if n.startswith("python")}
    host_pythons.add(sys.executable)
    plan: dict[str, bytes] = {}
    for entry in sorted(host_bin.iterdir()):
        name = entry.name
        if name.startswith(("python", "activate", "Activate")) or _is_agentgym(name) or not entry.is_file():
            continue
        try:
            data = entry.read_bytes() if entry.stat().st_size < 1 << 20 else b""
        except OSError:
            continue
        first, _, body = data.partition(b"\n")
        if first.startswith(b"#!") and first[2:].decode(errors="replace").strip() in host_pythons:
            plan[name] = body
    return plan


_plans: dict[str, object] = {}
_plans_lock = threading.Lock()


def _plan() -> tuple[dict[str, tuple[str, str]], dict[str, bytes]]:
    """Worked out once per process: reading the host environment costs ~50 ms, applying it ~5."""
    with _plans_lock:
        if "plan" not in _plans:
            bins = _bin_plan(Path(sys.executable).parent) if sys.prefix != sys.base_prefix else {}
            _plans["plan"] = (_site_plan(_site_dirs(), _hidden_roots()), bins)
        return _plans["plan"]  # type: ignore[return-value]


def make_python(root: Path) -> Path:
    """Build the sandbox's venv under root (``root/py``); returns its bin directory (PATH's first)."""
    site_plan, bin_plan = _plan()
    py = root / "py"
    bin_dir = py / "bin"
    bin_dir.mkdir(parents=True)
    base = Path(getattr(sys, "_base_executable", "") or sys.executable)
    ver = f"{sys.version_info.major}.{sys.version_info.minor}"
    (py / "pyvenv.cfg").write_text(
        f"home = {base.parent}\ninclude-system-site-packages = false\nversion = {sys.version.split()[0]}\n"
        f"executable = {base}\n")
    for name in PYTHON_NAMES:
        os.symlink(base, bin_dir / name)
    site_dir = py / "lib" / f"python{ver}" / "site-packages"
    site_dir.mkdir(parents=True)
    for name, (kind, value) in site_plan.items():
        if kind == "link":
            os.symlink(value, site_dir / name)
        else:
            (site_dir / name).write_text(value)
    shebang = b"#!" + str(bin_dir / "python").encode() + b"\n"
    for name, body in bin_plan.items():
        fd = os.open(bin_dir / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o755)
        try:
            os.write(fd, shebang + body)
        finally:
            os.close(fd)
    return bin_dir
