# Two entry points (see README): `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-fast lint lcbench-env

# (setuptools' notice about editable installs is advice for another layout: not printed)
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.14.1 torchvision==0.29.1
	PYTHONWARNINGS="ignore::UserWarning" $(BIN)/pip install --quiet -e ".[dev]"
	touch $@

demo: $(BIN)/.installed
	$(BIN)/harness search --space loss_weights

test: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

# for development: everything but the slow tests and the multi-node cluster (under 3 minutes)
test-fast: $(BIN)/.installed
	$(BIN)/python -m pytest -m "not slow and not cluster" --durations=10

# the type checker covers the public API (harness's front door and its API modules) and the
# base vocabulary (complexity and the CLI's imports are tests: tests/test_code_shape.py)
lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy search_spaces harness/__init__.py $(wildcard harness/_*_api.py)

# benchmarks/lcbench.py: the LCBench surrogate needs yahpo-gym with numpy<2 (and a pyarrow built
# for it), so it gets an environment of its own with the project installed too (Ray's workers
# import the objective from it)
.venv-lcbench/.installed: pyproject.toml
	$(PYTHON) -m venv .venv-lcbench
	.venv-lcbench/bin/pip install --quiet --upgrade pip
	printf 'numpy<2\npyarrow<22\n' > .venv-lcbench/constraints.txt
	.venv-lcbench/bin/pip install --quiet torch==2.14.1 torchvision==0.29.1 -c .venv-lcbench/constraints.txt
	.venv-lcbench/bin/pip install --quiet -e . "yahpo-gym==1.0.2" "configspace==0.6.1" -c .venv-lcbench/constraints.txt
	touch $@

lcbench-env: .venv-lcbench/.installed
