#!/usr/bin/env bash
# Download into .wheels/ every wheel benchmarks/train.py needs beyond torch, transformers and peft
# (and what those three require, which a machine that has them has), so that
# scripts/gpu_train_demo.sh can install them on a GPU machine with no internet.
#
# Why a resolver run and not a hand-kept list: the wheels must be exactly what pip would install next
# to the GPU machine's torch/transformers/peft, for its Python. So pip resolves agentgym's own
# requirements (pyproject.toml: the core dependencies and the rl extra's trl pin) together with
# torch, transformers and peft, pinned to the versions that machine holds (scripts/gpu_device_pins.txt),
# for each target Python; left out are the three, all torch pulls in (the CUDA libraries) and what
# transformers and peft require directly (pip installed those with them), except the pure-Python
# ones that what we bring requires (small; pip may need another version there: datasets caps
# fsspec); the rest is downloaded,
# one wheel per package and Python. pyarrow and pandas (~55 MB, three quarters of the whole) are left out by
# default: a GPU machine with a data-science Python (the target's has both) needs neither; --no-skip brings them
# for a bare Python.
#
#   scripts/gpu_wheelhouse.sh                          # CPython 3.11 and 3.12, manylinux x86_64
#   scripts/gpu_wheelhouse.sh --python-version 3.13    # the device's Python, if another (repeatable)
#   scripts/gpu_wheelhouse.sh --no-skip --dest /tmp/w  # everything, for a Python with only the stack
#
# Writes DEST/*.whl (with pyproject's build requirements, to install agentgym itself there),
# DEST/requirements.txt (what gpu_train_demo.sh installs) and DEST/skipped.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
exec "$PY" - "$@" <<'PYEOF'
import argparse, json, re, shutil, subprocess, sys, tempfile, tomllib
from pathlib import Path

ap = argparse.ArgumentParser(prog="scripts/gpu_wheelhouse.sh", description="wheels for benchmarks/train.py on a GPU machine without internet")
ap.add_argument("--dest", default=".wheels", help="the wheelhouse folder (.wheels is git-ignored; carry it to the device)")
ap.add_argument("--python-version", action="append", dest="pythons", help="target CPython X.Y (repeatable; default 3.11 and 3.12)")
ap.add_argument("--platform", action="append", dest="platforms", help="pip platform tag (repeatable; default manylinux x86_64 tags)")
ap.add_argument("--stack", default="torch transformers peft", help="what the machine has: resolved with, never downloaded")
ap.add_argument("--pins", default="scripts/gpu_device_pins.txt", help="constraints: the machine's versions of the stack")
ap.add_argument("--no-pins", action="store_true", help="resolve against the newest stack instead")
ap.add_argument("--skip", action="append", default=None, help="packages the machine has anyway (default: pyarrow pandas)")
ap.add_argument("--no-skip", action="store_true", help="download every package, pyarrow and pandas too")
ap.add_argument("--max-mb", type=float, default=60.0, help="warn above this size, a budget of your choice for what is "
                "copied to the GPU machine with the repository (default 60; 0: never warn)")
a = ap.parse_args()

canon = lambda n: re.sub(r"[-_.]+", "-", n).lower()
pythons = a.pythons or ["3.11", "3.12"]
platforms = a.platforms or [f"manylinux_2_{n}_x86_64" for n in range(39, 16, -1)] + ["manylinux2014_x86_64", "manylinux1_x86_64"]
skip = set() if a.no_skip else {canon(s) for s in (a.skip or ["pyarrow", "pandas"])}
stack = [canon(s) for s in a.stack.split()]
project = tomllib.loads(Path("pyproject.toml").read_text())["project"]
reqs = list(project["dependencies"]) + [r for r in project["optional-dependencies"]["rl"] if canon(re.split(r"[<>=!~\[ ;]", r)[0]) == "trl"]
target = ["--only-binary=:all:", "--implementation", "cp"] + [x for p in platforms for x in ("--platform", p)]
pins = [] if a.no_pins else ["-c", a.pins]
dest = Path(a.dest)
dest.mkdir(parents=True, exist_ok=True)
wanted: dict[str, set[str]] = {}
for py in pythons:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report),
               "--target", str(Path(tmp) / "t"), "--python-version", py, *target, *pins, *reqs, *stack]
        if subprocess.run(cmd).returncode:
            sys.exit(f"gpu_wheelhouse: pip could not resolve {' '.join(reqs)} with {' '.join(stack)} for CPython {py} "
                     f"(pins {a.pins if pins else 'none'}); see pip's message above")
        items = {canon(i["metadata"]["name"]): i for i in json.loads(report.read_text())["install"]}
    def deps(n, extras=()):  # (name, extras) pip acted on: unconditional, or under an extra n was asked for with
        out = []
        for r in items[n]["metadata"].get("requires_dist") or []:
            extra = re.search(r"extra\s*==\s*[\"']([^\"']+)[\"']", r)
            if not extra or canon(extra.group(1)) in extras:
                m = re.match(r"\s*([A-Za-z0-9._-]+)\s*(?:\[([^\]]*)\])?", r)
                out.append((canon(m.group(1)), frozenset(canon(e) for e in (m.group(2) or "").split(",") if e.strip())))
        return [(d, e) for d, e in out if d in items]
    # on the machine already: torch with all it pulls in (the CUDA libraries), transformers and peft, and what
    # those two require directly; a package further down (hf-hub's, typer's) may be missing there or another version
    have, todo = set(stack), [("torch", frozenset())] if "torch" in items else []
    while todo:
        n, extras = todo.pop()
        have.add(n)
        todo += [(d, e) for d, e in deps(n, extras) if d not in have]
    have |= {d for n in stack if n in items for d, _ in deps(n)}
    asked = {d for n in items if n not in have for d, _ in deps(n)}  # what the packages we bring require directly
    for n, i in items.items():  # and of those the machine has, the pure-Python wheels (small): pip can then meet a
        pure = i["download_info"]["url"].endswith("-none-any.whl")  # cap like datasets' fsspec<= without the internet
        if n not in skip and n not in stack and (n not in have or (pure and n in asked)):
            wanted.setdefault(f"{i['metadata']['name']}=={i['metadata']['version']}", set()).add(py)
for py in pythons:
    specs = sorted(spec for spec, pys in wanted.items() if py in pys)
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(dest), "--python-version", py, *target, *specs]
    if subprocess.run(cmd).returncode:
        sys.exit(f"gpu_wheelhouse: could not download the wheels for CPython {py}; see pip's message above")
build = tomllib.loads(Path("pyproject.toml").read_text())["build-system"]["requires"]  # to pip install -e . there
if subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", "-d", str(dest), *build]).returncode:
    sys.exit(f"gpu_wheelhouse: could not download the build requirements {' '.join(build)}")
(dest / "requirements.txt").write_text("\n".join(reqs) + "\n")
(dest / "skipped.txt").write_text("\n".join(sorted(skip)) + "\n")
wheels = sorted(dest.glob("*.whl"))
mb = sum(w.stat().st_size for w in wheels) / 2**20
print(f"{dest}: {len(wheels)} wheels, {mb:.1f} MiB for CPython {', '.join(pythons)}; left out (the machine has them): "
      f"{', '.join(stack)} and their requirements" + (f", {', '.join(sorted(skip))}" if skip else ""))
if a.max_mb > 0 and mb > a.max_mb:
    print(f"gpu_wheelhouse: warning: {mb:.1f} MiB is over --max-mb {a.max_mb:g}; where the copy to the GPU machine has a size "
          "limit, --skip what that machine has already", file=sys.stderr)
PYEOF
