# Async Requests in Python: every task a learner, an instructor or CI needs.
# `make lab` and `make test` create .venv on first use (and again when requirements change).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8000
LAB_ARGS ?=
HOST   ?= 127.0.0.1
LATENCY ?= 0.05
JITTER ?= 0
NBVAL  := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout=120

.PHONY: help lab test test-remote unit notebooks-test lint serve bench run-notebooks freeze clean \
	mutation planted-bugs

help:
	@echo "make lab        set up .venv and open JupyterLab on the course"
	@echo "make test       set up .venv, then unit tests and every notebook (nbval, strict)"
	@echo "make test-remote LATENCY=0.4 JITTER=0.1  every notebook against a second server (nbval-lax)"
	@echo "make lint       ruff over helpers, tests and notebooks"
	@echo "make serve      the local API in the foreground (HOST=0.0.0.0 PORT=8000 LATENCY=0.05)"
	@echo "make bench      every client strategy side by side against theory"
	@echo "make run-notebooks  re-execute every notebook in place (Restart & Run All)"
	@echo "make mutation   mutation testing of the server, launcher, concurrency (MODULES=..., slow)"
	@echo "make planted-bugs   the nine bugs of issue 14, each planted in a copy: each must fail a test"

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed; run: make PYTHON=python3.11 ...")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks --ServerApp.ip=127.0.0.1 --no-browser \
		$(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest tests notebooks $(NBVAL) -p no:cacheprovider -q

# The notebooks as a classroom meets them: POKEAPI_BASE_URL points at another server whose
# latency is not the one the notebooks start locally. Every assert must still hold.
test-remote: $(STAMP)
	$(BIN)/python -m helpers.notebooks remote notebooks --latency $(LATENCY) --jitter $(JITTER)

unit: $(STAMP)
	$(BIN)/python -m pytest tests -q

notebooks-test: $(STAMP)
	$(BIN)/python -m pytest notebooks $(NBVAL) -p no:cacheprovider -q

lint: $(STAMP)
	$(BIN)/ruff check helpers tests notebooks

serve: $(STAMP)
	$(BIN)/python -m helpers.server --host $(HOST) --port $(PORT) --latency $(LATENCY)

bench: $(STAMP)
	$(BIN)/python -m helpers.bench

run-notebooks: $(STAMP)
	$(BIN)/python -m helpers.notebooks run notebooks

# Contributors only, not CI (about half an hour): cosmic-ray mutates a scratch copy, module by
# module, running only the tests of that module; prints the survivors and the score.
MUTATION_STAMP := $(VENV)/.mutation-installed
MODULES ?=
MUTATION_JOBS ?= 2
$(MUTATION_STAMP): $(STAMP) requirements-mutation.txt constraints.txt
	$(BIN)/python -m pip install --quiet -r requirements-mutation.txt
	touch $@

mutation: $(MUTATION_STAMP)
	$(BIN)/python mutation/run.py --jobs $(MUTATION_JOBS) $(MODULES)

planted-bugs: $(STAMP)
	$(BIN)/python mutation/planted.py

freeze: $(STAMP)
	( echo "# Every package of the course environment, pinned (the lock that requirements.txt applies)."; \
	  echo "# Regenerate: make freeze"; \
	  $(BIN)/python -m pip freeze --exclude-editable ) > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache results
