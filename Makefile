# Two commands from a fresh clone: `make demo` and `make test`.
# Both create .venv in the repo root when it is missing and reuse it afterwards.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.gankit-installed
TEST_STAMP := $(VENV)/.gankit-test-installed

.PHONY: demo test test-slow lint clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP) $@

# The main job: train the DCGAN on the bundled digits (offline, CPU-friendly) into runs/.
demo: $(STAMP)
	$(BIN)/gankit train

# The quick suite (about 10 minutes on 2 cores at most); slow checks carry @pytest.mark.slow.
test: $(TEST_STAMP)
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

test-slow: $(TEST_STAMP)
	$(BIN)/python -m pytest -q -m slow $(PYTEST_ARGS)

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests benchmarks

clean-venv:
	rm -rf $(VENV)
