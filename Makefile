# Async Requests in Python: every task a learner, an instructor or CI needs.
# `make lab` and `make test` create .venv on first use (and again when requirements change).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
# OFFLINE=1 installs from wheelhouse/ (made by `make wheelhouse`) without touching the network.
OFFLINE ?=
PIP_FROM := $(if $(OFFLINE),--no-index --find-links wheelhouse)
PLATFORMS ?=
SITE_STAMP := $(VENV)/.installed-site
PORT   ?= 8000
LAB_ARGS ?=
HOST   ?= 127.0.0.1
LATENCY ?= 0.05
JITTER ?= 0
NBVAL  := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout=120

.PHONY: help lab test test-remote student student-check wheelhouse wheelhouse-check site site-check screenshots unit notebooks-test lint serve bench run-notebooks freeze clean

help:
	@echo "make lab        set up .venv and open JupyterLab on the course"
	@echo "make test       set up .venv, then unit tests and every notebook (nbval, strict)"
	@echo "make test-remote LATENCY=0.4 JITTER=0.1  every notebook against a second server (nbval-lax)"
	@echo "make student    the student edition in student/: solutions stubbed, checks kept"
	@echo "make student-check  execute the student edition: every check must fail until solved"
	@echo "make wheelhouse [PLATFORMS=\"windows macos-arm64\"]  every wheel for an offline room"
	@echo "make wheelhouse-check  build it, then install a fresh venv from it with --no-index"
	@echo "make lab OFFLINE=1  install from wheelhouse/ only (no network)"
	@echo "make site       the course as a website in build/site/ (offline; nothing is executed)"
	@echo "make site-check build it, then check every link and anchor and open it in Chromium"
	@echo "make lint       ruff over helpers, tests and notebooks"
	@echo "make serve      the local API and its live dashboard in the foreground (HOST=0.0.0.0 PORT=8000 LATENCY=0.05)"
	@echo "make bench      every client strategy side by side against theory"
	@echo "make run-notebooks  re-execute every notebook in place (Restart & Run All)"
	@echo "make screenshots    every notebook in JupyterLab, light and dark, as PNG in results/screenshots/"

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed; run: make PYTHON=python3.11 ...")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(if $(OFFLINE),test -d wheelhouse || (echo "OFFLINE=1 needs wheelhouse/: run make wheelhouse where there is internet" && exit 1))
	$(if $(OFFLINE),,$(BIN)/python -m pip install --quiet --upgrade pip)
	$(BIN)/python -m pip install --quiet $(PIP_FROM) -r requirements.txt
	touch $(STAMP)

# What only the tests and instructors need (Playwright, uv), on top of the course.
$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(BIN)/python -m pip install --quiet $(PIP_FROM) -r requirements-dev.txt
	touch $(DEV_STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks --ServerApp.ip=127.0.0.1 --no-browser \
		$(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

test: $(DEV_STAMP)
	$(BIN)/python -m pytest tests notebooks $(NBVAL) -p no:cacheprovider -q

# The notebooks as a classroom meets them: POKEAPI_BASE_URL points at another server whose
# latency is not the one the notebooks start locally. Every assert must still hold.
test-remote: $(STAMP)
	$(BIN)/python -m helpers.notebooks remote notebooks --latency $(LATENCY) --jitter $(JITTER)

# The edition for the room: each exercise's solution replaced by a stub, its check kept.
student: $(STAMP)
	rm -rf student
	$(BIN)/python -m helpers.student notebooks student

# Execute the edition: every check must fail with "not solved yet", nothing else may fail.
student-check: student
	STUDENT_EDITION_DIR=student $(BIN)/python -m pytest tests/test_student.py -q -p no:cacheprovider

wheelhouse: $(DEV_STAMP)
	$(BIN)/python -m helpers.wheelhouse --dest wheelhouse $(if $(PLATFORMS),--platforms $(PLATFORMS))

wheelhouse-check: $(DEV_STAMP)
	$(BIN)/python -m helpers.wheelhouse --dest wheelhouse --verify $(if $(PLATFORMS),--platforms $(PLATFORMS))

$(SITE_STAMP): $(STAMP) requirements-site.txt
	$(BIN)/python -m pip install --quiet $(PIP_FROM) -r requirements-site.txt
	touch $(SITE_STAMP)

# The course as a book: the stored notebooks (not re-executed), the README and the guides.
site: $(SITE_STAMP)
	$(BIN)/python -m helpers.book build --out build/site

# Every internal link and anchor resolves, nothing loads from another host, and a real browser
# shows a notebook page (title, plot) and finds a word with the site's search.
site-check: site $(DEV_STAMP)
	$(BIN)/python -m helpers.book check build/site
	SITE_DIR=build/site $(BIN)/python -m pytest tests/test_site.py -q -p no:cacheprovider

unit: $(DEV_STAMP)
	$(BIN)/python -m pytest tests -q

notebooks-test: $(DEV_STAMP)
	$(BIN)/python -m pytest notebooks $(NBVAL) -p no:cacheprovider -q

lint: $(STAMP)
	$(BIN)/ruff check helpers tests notebooks

serve: $(STAMP)
	$(BIN)/python -m helpers.server --host $(HOST) --port $(PORT) --latency $(LATENCY)

bench: $(STAMP)
	$(BIN)/python -m helpers.bench

run-notebooks: $(STAMP)
	$(BIN)/python -m helpers.notebooks run notebooks

# Tools for building the course (requirements-dev.txt), installed only when a target needs them.
DEV_STAMP := $(VENV)/.installed-dev
$(DEV_STAMP): $(STAMP) requirements-dev.txt constraints.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(DEV_STAMP)

# Headless Chromium pictures JupyterLab: Debian's package, installed here where it is missing.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
screenshots: $(DEV_STAMP)
	@command -v chromium >/dev/null 2>&1 || test -x /usr/bin/chromium || { \
	  echo "chromium is missing: installing Debian's package 'chromium' with apt-get"; \
	  $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium; }
	$(BIN)/python -m helpers.screenshots

freeze: $(STAMP)
	( echo "# Every package of the course environment, pinned (the lock that requirements.txt applies)."; \
	  echo "# Regenerate: make freeze"; \
	  $(BIN)/python -m pip freeze --exclude-editable ) > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache results student wheelhouse
