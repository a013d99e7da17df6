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

.PHONY: help demo test install lint lint-js lint-py jest pytest ui-test sandbox-test bench chromium clean

help:
	@echo "make demo   JupyterLab with the extension against the local CARTO sandbox"
	@echo "make test   every test: lint, jest, sandbox self-test, pytest, Galata UI tests"

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
	$(BIN)/ruff check jupyterlab_carto_auth tests sandbox ui-tests bench
	$(BIN)/ruff format --check jupyterlab_carto_auth tests sandbox ui-tests bench

lint: lint-js lint-py

jest: node_modules/.stamp
	$(BIN)/jlpm test

sandbox-test: node_modules/.stamp
	node --test sandbox/selftest.mjs

pytest: install
	cd tests && $(BIN)/pytest -c ../pyproject.toml --rootdir=.. ..

ui-test: install chromium
	$(BIN)/jlpm ui-test
	$(BIN)/jlpm ui-test:hub

test: lint jest sandbox-test pytest ui-test

bench: install
	$(PY) bench/bench.py

clean:
	rm -rf lib jupyterlab_carto_auth/labextension jupyterlab_carto_auth/_version.py coverage ui-tests/test-results
