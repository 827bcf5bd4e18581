#!/usr/bin/env bash
# The training demo on one GPU: run ON the GPU machine, from the repository root, with the wheelhouse
# that scripts/gpu_wheelhouse.sh filled (.wheels/) carried along. That machine has torch,
# transformers and peft but no internet, so what else benchmarks/train.py needs (trl, datasets,
# pydantic, gymnasium, ...) is installed from .wheels alone, and the installed torch, transformers,
# peft (and the libraries they are built on) are pinned so that pip can never replace them.
#
#   scripts/gpu_train_demo.sh                  # install, check the GPU, train.py --preset gpu --device cuda
#   scripts/gpu_train_demo.sh --seeds 0        # extra flags go to benchmarks/train.py (they win over the preset)
#   scripts/gpu_train_demo.sh --install-only   # only the install step (any machine with the stack)
#
# Leaves in $OUT (default runs/gpu-demo): summary.json, reward.svg, train-gpu.log, env.txt (versions,
# GPU), pip.log. The models stay in a /tmp/train-gpu.* folder (too many files to bring back).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${OUT:-runs/gpu-demo}
WHEELS=${WHEELS:-.wheels}
install_only=0
if [ "${1:-}" = "--install-only" ]; then install_only=1; shift; fi
if [ ! -f "$WHEELS/requirements.txt" ]; then
    echo "gpu_train_demo: no $WHEELS/requirements.txt: run scripts/gpu_wheelhouse.sh on a machine that reaches PyPI, then carry $WHEELS" >&2
    exit 2
fi
mkdir -p "$OUT"
pins=$(mktemp)
# what must not change: the stack and the compiled libraries it is built on, at the versions installed here
"$PY" -m pip list --format=freeze 2>/dev/null \
    | grep -iE '^(torch|transformers|peft|accelerate|tokenizers|safetensors|numpy|triton|nvidia-[a-z0-9-]+|cuda-[a-z-]+)==' > "$pins" || true
grep -qiE '^torch==' "$pins" || { echo "gpu_train_demo: $PY has no torch; this script runs where torch, transformers and peft are installed" >&2; exit 2; }
echo "gpu_train_demo: installing from $WHEELS (pinned: $(tr '\n' ' ' < "$pins"))"
if ! PIP_BREAK_SYSTEM_PACKAGES=1 "$PY" -m pip install -q --no-index --find-links "$WHEELS" -c "$pins" -r "$WHEELS/requirements.txt" 2>&1 | tee "$OUT/pip.log"; then
    if grep -q . "$WHEELS/skipped.txt" && grep -qiE "requirement ($(paste -sd'|' "$WHEELS/skipped.txt"))[^a-z0-9_-]" "$OUT/pip.log"; then
        echo "gpu_train_demo: this Python lacks what the wheelhouse left out ($(paste -sd' ' "$WHEELS/skipped.txt")): rebuild it with scripts/gpu_wheelhouse.sh --no-skip" >&2
    else
        echo "gpu_train_demo: the install from $WHEELS failed (pip's message above); rebuild it with scripts/gpu_wheelhouse.sh --pins FILE, FILE being this machine's \`$PY -m pip list --format=freeze\`" >&2
    fi
    exit 1
fi
# agentgym itself, editable (envs/ and agents/ import as agentgym.envs / agentgym.agents only through the install)
if ! PIP_BREAK_SYSTEM_PACKAGES=1 "$PY" -m pip install -q --no-index --find-links "$WHEELS" --no-deps -e . 2>&1 | tee -a "$OUT/pip.log"; then
    echo "gpu_train_demo: installing agentgym from this checkout failed (pip's message above); its build needs setuptools and wheel from $WHEELS" >&2
    exit 1
fi
# what the wheelhouse left out because such machines have it (skipped.txt), and what train.py imports
"$PY" - "$WHEELS/skipped.txt" <<'EOF' | tee "$OUT/env.txt"
import importlib, importlib.metadata as md, sys
skipped = [s for s in open(sys.argv[1]).read().split() if s]
missing = []
for mod in ["torch", "transformers", "peft", "trl", "datasets", "pyarrow", "pandas", "pydantic", "gymnasium", "yaml", "rich", "agentgym"]:
    try:
        importlib.import_module(mod)
    except Exception as exc:
        missing.append(f"{mod} ({type(exc).__name__}: {exc})")
if missing:
    sys.exit("gpu_train_demo: cannot import " + "; ".join(missing) + (f"; the wheelhouse left out {', '.join(skipped)}: "
             "rebuild it with scripts/gpu_wheelhouse.sh --no-skip" if skipped else ""))
import torch
print("python", sys.version.split()[0], "|", ", ".join(f"{d} {md.version(d)}" for d in
      ["torch", "transformers", "peft", "trl", "datasets", "accelerate", "pyarrow", "numpy"]))
print("cuda", torch.cuda.is_available(), torch.version.cuda, torch.cuda.get_device_name(0) if torch.cuda.is_available() else "-")
EOF
[ "$install_only" = 1 ] && exit 0
"$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else "gpu_train_demo: torch sees no CUDA GPU here; run this on the GPU machine (or benchmarks/train.py --device cpu here)")'
work=$(mktemp -d /tmp/train-gpu.XXXX)
PYTHONUNBUFFERED=1 TRL_EXPERIMENTAL_SILENCE=1 "$PY" benchmarks/train.py --preset gpu --device cuda --json --out "$work" "$@" 2>&1 | tee "$OUT/train-gpu.log"
cp "$work/summary.json" "$work/reward.svg" "$OUT/"
echo "gpu_train_demo: $OUT/summary.json, $OUT/reward.svg (models in $work)"
