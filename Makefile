# Set-up is automatic: the first `make demo` or `make test` creates .venv and installs losslab into it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-torch golden dist docs docs-serve lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,plot,progress,download,fast,array,dask,distributed,judge,classroom,serve,browser]'
	touch $(STAMP)

demo: $(STAMP)  ## the main job: train a 784-100-10 network on the embedded MNIST subset
	$(BIN)/losslab train

test: $(STAMP)  ## the test suite (PyTorch parity through committed golden values)
	$(BIN)/python -m pytest

test-torch: $(STAMP)  ## the suite again with a live PyTorch oracle (the pinned CPU wheel)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,plot,progress,download,fast,array,dask,distributed,judge,classroom,serve,browser,torch]'
	$(BIN)/python -m pytest

golden: $(STAMP)  ## regenerate the committed reference values in tests/golden/ (needs PyTorch)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,plot,progress,download,fast,array,dask,distributed,judge,classroom,serve,browser,torch]'
	$(BIN)/python tools/make_golden.py
	$(BIN)/python tools/make_golden_optim.py
	$(BIN)/python tools/make_golden_metric.py
	$(BIN)/python tools/make_golden_extra.py
	$(BIN)/python tools/make_golden_projection.py

# Tools beyond the test suite: each extra installed into .venv on first use.
$(VENV)/.release: pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[release]'
	touch $@

$(VENV)/.docs: pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[docs]'
	touch $@

$(VENV)/.lint: pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[lint]'
	touch $@

dist: $(VENV)/.release  ## build the sdist and wheel, twine-check them, smoke-test the wheel in a fresh venv
	bash tools/check_dist.sh $(BIN)/python

docs: $(VENV)/.docs  ## the documentation site, strict (a warning fails), into site/
	$(BIN)/python docs/gen_pages.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict  # not --quiet: it hides the warnings strict counts

docs-serve: docs  ## the site on http://127.0.0.1:8000 while you edit
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs serve

lint: $(VENV)/.lint  ## ruff (lint and format) and mypy, as configured in pyproject.toml
	$(BIN)/ruff check src tests tools docs benchmarks
	$(BIN)/ruff format --check src tests tools docs benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis site build dist
