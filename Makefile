# Set-up is automatic: the first `make demo` or `make test` creates .venv and installs losslab into it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-torch golden clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,plot,progress,download,fast,array,dask,distributed,judge,classroom]'
	touch $(STAMP)

demo: $(STAMP)  ## the main job: train a 784-100-10 network on the embedded MNIST subset
	$(BIN)/losslab train

test: $(STAMP)  ## the test suite (PyTorch parity through committed golden values)
	$(BIN)/python -m pytest

test-torch: $(STAMP)  ## the suite again with a live PyTorch oracle (the pinned CPU wheel)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,plot,progress,download,fast,array,dask,distributed,torch]'
	$(BIN)/python -m pytest

golden: $(STAMP)  ## regenerate the committed reference values in tests/golden/ (needs PyTorch)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,plot,progress,download,fast,array,dask,distributed,torch]'
	$(BIN)/python tools/make_golden.py
	$(BIN)/python tools/make_golden_optim.py
	$(BIN)/python tools/make_golden_metric.py
	$(BIN)/python tools/make_golden_extra.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
