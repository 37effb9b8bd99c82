# codesign: set up a virtual environment and run the main job or the tests.
#   make demo   -> venv + torch/torchvision (pinned) + codesign with the hub extra, then `codesign demo`
#   make test   -> the fast tier (unit, property, CLI tests; under 2 minutes)
#   make check  -> the slow tier (browser, reproductions, real timing, zoo-wide and published-data checks)
#   make lint   -> ruff
# CI (.ci/run) runs test, check and lint on a fresh clone.
# torch==2.14.1 + torchvision==0.29.1 are the pair PyPI's torchvision imports with (a CUDA build
# that also runs on the CPU). GPU users: `make demo VENV_FLAGS=--system-site-packages` keeps a
# torch (and torchvision) already importable from the system site-packages.

PYTHON ?= python3
VENV ?= .venv
VENV_FLAGS ?=
PY := $(VENV)/bin/python
STAMP := $(VENV)/.codesign-installed
PYTEST := $(PY) -m pytest -q -p no:cacheprovider

.PHONY: setup demo test check lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV_FLAGS) $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e ".[dev]"
	# hub models (timm:/torchvision:) when torchvision imports beside this torch; never replace
	# a torch the user brought (VENV_FLAGS=--system-site-packages)
	if $(PY) -c "import torchvision" 2>/dev/null; then $(PY) -m pip install -q "timm>=1.0"; \
	else echo "make: torchvision does not import beside this torch: timm:/torchvision: workloads unavailable"; fi
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/codesign demo

test: $(STAMP)
	$(PYTEST) -m "not slow" tests

check: $(STAMP)
	$(PYTEST) -m slow tests

lint: $(STAMP)
	$(VENV)/bin/ruff check codesign tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/trace_speed.py
	$(PY) benchmarks/simulate_speed.py

clean:
	rm -rf $(VENV) reports/demo
