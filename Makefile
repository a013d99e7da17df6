# Two entry points (see README): `make demo` and `make test`. Each installs
# what it needs: a Python venv in .venv, node packages from yarn.lock, and
# Debian's Chromium for the browser tests.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
PY := $(BIN)/python
export PATH := $(BIN):$(PATH)
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1
CHROMIUM := /usr/bin/chromium
# Tools the build backend needs in the venv (installs use --no-build-isolation).
BUILD_REQS := 'hatchling>=1.5.0' 'hatch-nodejs-version>=0.3.2' 'hatch-jupyter-builder>=0.5' 'jupyterlab==4.6.6'

.PHONY: help demo test check-release install lint lint-js lint-py jest pytest ui-test sandbox-test soak bench bench-smoke bench-node chromium clean

help:
	@echo "make demo   JupyterLab with the extension against the local CARTO sandbox"
	@echo "make test   every test: lint, jest, sandbox self-test, pytest, Galata UI tests"
	@echo "make soak   10 minutes of 50 kernels calling the CARTO API stand-in, 20 s tokens; writes bench/soak-results.json"
	@echo "make check-release  build the sdist, wheel and npm package from a clean clone of HEAD and check them"
	@echo "make bench  benchmarks against carto-auth (own venv: $(BENCH_VENV)); writes bench/results.json and the README tables"

$(VENV)/.stamp: requirements/lock.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements/lock.txt $(BUILD_REQS)
	touch $@

node_modules/.stamp: package.json yarn.lock $(VENV)/.stamp
	$(BIN)/jlpm install --immutable
	touch $@

# The real package build: TypeScript and the prebuilt labextension in the
# wheel, installed as a user would (`pip install .`).
install: $(VENV)/.stamp node_modules/.stamp
	$(PY) -m pip install --quiet --no-build-isolation -c requirements/lock.txt ".[test]"

chromium:
	@test -x $(CHROMIUM) || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

demo: install
	$(PY) sandbox/launch.py

lint-js: node_modules/.stamp
	$(BIN)/jlpm lint:check

lint-py: install
	$(BIN)/ruff check jupyterlab_carto_auth tests sandbox ui-tests bench .ci
	$(BIN)/ruff format --check jupyterlab_carto_auth tests sandbox ui-tests bench .ci

lint: lint-js lint-py

jest: node_modules/.stamp
	$(BIN)/jlpm test

sandbox-test: node_modules/.stamp
	node --test sandbox/selftest.mjs

# Chromium too: the bench smoke test and the 60-second soak (tests/test_soak.py) drive it.
pytest: install chromium
	cd tests && $(BIN)/pytest -c ../pyproject.toml --rootdir=.. ..

ui-test: install chromium
	$(BIN)/jlpm ui-test
	$(BIN)/jlpm ui-test:hub

test: lint jest sandbox-test pytest ui-test

# The soak of docs/reliability.md ("Load"): 50 consoles, each kernel calling the CARTO API
# stand-in through the package every 2 s, 20-second tokens, 10 minutes after the first
# refresh (bench/soak.py says what it counts; `make test` runs 60 s of it). Exits 1 when
# a check fails.
soak: install chromium
	$(PY) bench/soak.py --seconds 600 --kernels 50 --output $(CURDIR)/bench/soak-results.json

# What would be published, built from a clean clone of HEAD and checked as the
# extension template's check-release does (.ci/check_release.py says what).
check-release: $(VENV)/.stamp
	$(PY) .ci/check_release.py

# Benchmarks run in their own venv, with the comparators (carto-auth) installed there
# only, from requirements/bench.txt, and this checkout built and installed as a wheel.
BENCH_VENV := .venv-bench
BENCH_BIN := $(CURDIR)/$(BENCH_VENV)/bin
BENCH_PY := $(BENCH_BIN)/python
# Whatever the build of the package reads: a change reinstalls it in the bench venv.
BENCH_SOURCES := $(wildcard $(shell git ls-files src schema style scripts jupyterlab_carto_auth jupyter-config package.json pyproject.toml install.json 2>/dev/null))

$(BENCH_VENV)/.stamp: requirements/bench.txt requirements/lock.txt
	rm -rf $(BENCH_VENV)
	python3 -m venv $(BENCH_VENV)
	$(BENCH_PY) -m pip install --quiet --upgrade pip
	$(BENCH_PY) -m pip install --quiet -r requirements/bench.txt
	touch $@

# Node packages from yarn.lock, only when there are none yet (worktrees share them).
bench-node: $(BENCH_VENV)/.stamp
	@test -f node_modules/.stamp || { PATH=$(BENCH_BIN):$$PATH $(BENCH_BIN)/jlpm install --immutable && touch node_modules/.stamp; }

$(BENCH_VENV)/.project: $(BENCH_VENV)/.stamp $(BENCH_SOURCES) | bench-node
	PATH=$(BENCH_BIN):$$PATH $(BENCH_PY) -m pip install --quiet --no-deps --no-build-isolation --force-reinstall .
	touch $@

bench: $(BENCH_VENV)/.project chromium
	PATH=$(BENCH_BIN):$$PATH $(BENCH_PY) bench/bench.py --profile bench/profiles
	$(BENCH_PY) bench/latest.py

# Every figure once, tiny repeat counts, results to a scratch file (pytest runs the
# same from tests/test_bench_smoke.py).
bench-smoke: $(BENCH_VENV)/.project chromium
	PATH=$(BENCH_BIN):$$PATH $(BENCH_PY) bench/bench.py --quick --output $(CURDIR)/$(BENCH_VENV)/smoke-results.json

clean:
	rm -rf $(BENCH_VENV) lib jupyterlab_carto_auth/labextension jupyterlab_carto_auth/_version.py coverage ui-tests/test-results
	rm -f jupyterlab_carto_auth/locale/*/LC_MESSAGES/*.json jupyterlab_carto_auth/locale/*/LC_MESSAGES/*.mo
