# codesign: set up a virtual environment and run the main job or the tests.
#   make demo   -> venv + torch 2.14.1 and torchvision 0.29.1 + codesign (with the hub extra:
#                  timm), then `codesign demo`
#   make test   -> venv + dev extras, then the test suite
# GPU users: `make demo VENV_FLAGS=--system-site-packages` reuses an existing CUDA torch
# (any torch in >=2.3,<2.15 importable from the system site-packages is kept, not replaced).

PYTHON ?= python3
VENV ?= .venv
VENV_FLAGS ?=
PY := $(VENV)/bin/python
STAMP := $(VENV)/.codesign-installed

.PHONY: setup demo test bench clean

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
	$(PY) -m pytest -q -p no:cacheprovider tests

bench: $(STAMP)
	$(PY) benchmarks/trace_speed.py
	$(PY) benchmarks/simulate_speed.py

clean:
	rm -rf $(VENV) reports/demo
