# httplab: the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON      ?= python3.11
VENV        ?= .venv
BIN         := $(VENV)/bin
# Tools that ansible-lint and ansible-playbook start (ansible-galaxy, ansible-config…) come from the venv.
export PATH := $(abspath $(BIN)):$(PATH)
# A real lab: make run INVENTORY=inventory/lab.yml. Empty = the embedded lab.
INVENTORY   ?=
EXTRA_VARS  ?=
LAB_NAME    ?= embedded

# Offline wheelhouse targets: the server's Python (Ubuntu 22.04 = 3.10,
# Debian 12 = 3.11, Ubuntu 24.04 = 3.12) and the client's Python and OS.
WHEELHOUSE       ?= wheelhouse
SERVER_PYTHONS   ?= 3.10 3.11 3.12
CLIENT_PYTHONS   ?= 3.11 3.12
CLIENT_PLATFORMS ?= linux win_amd64
LINUX_PLATFORMS  := --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 --platform linux_x86_64

# Debian packages the tests need on this machine: the embedded lab (debootstrap,
# systemd-nspawn, ip), real SSH for the Fabric tests (sshd), wrk for the
# client-overhead benchmark. `make test` installs the missing ones as root, or
# names the command to run.
HOST_PACKAGES := debootstrap systemd-container openssh-client openssh-server iproute2 procps wrk \
  wine64 gcc-mingw-w64-x86-64

.PHONY: help venv host-packages run test lint unit wheelhouse lab-up lab-down lab-status clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/.installed: requirements.txt requirements/dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements/dev.txt
	# The `httplab` command, editable: it runs this checkout's code.
	$(BIN)/pip install --quiet --no-deps --editable .
	touch $@

venv: $(BIN)/.installed ## create .venv with the pinned control-node and dev tools

run: venv wheelhouse ## provision, benchmark and analyse (embedded lab unless INVENTORY=path)
	@set -e; \
	inventory="$(INVENTORY)"; \
	if [ -z "$$inventory" ]; then \
	  $(BIN)/python -m lab up --name $(LAB_NAME); \
	  inventory=inventory/$(LAB_NAME).yml; \
	fi; \
	$(BIN)/ansible-playbook -i "$$inventory" run_all.yml $(if $(EXTRA_VARS),-e '$(EXTRA_VARS)'); \
	echo "Report: $$(readlink -f results/latest)/report/index.html"; \
	if [ -z "$(INVENTORY)" ]; then echo "The lab stays up: make lab-status, make lab-down"; fi

host-packages: ## install the Debian packages the tests need (as root), or say which
	@missing=$$(for package in $(HOST_PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$package 2>/dev/null | grep -q '^install ok installed' \
	    || echo $$package; done | tr '\n' ' '); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "make: missing Debian packages; run: sudo apt-get install --no-install-recommends $$missing"; \
	  exit 1; \
	fi; \
	echo "make: installing $$missing"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -qq --no-install-recommends $$missing >/dev/null

test: venv wheelhouse host-packages ## ruff, ansible-lint (production profile) and pytest
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/ansible-lint
	$(BIN)/pytest

lint: venv ## ruff and ansible-lint only
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/ansible-lint

wheelhouse: $(WHEELHOUSE)/.complete ## download server and client wheels for offline labs

$(WHEELHOUSE)/.complete: requirements/server.txt requirements/client.txt | venv
	@set -e; \
	for py in $(SERVER_PYTHONS); do \
	  echo "wheelhouse: server, Python $$py, Linux"; \
	  $(BIN)/pip download --quiet --disable-pip-version-check --only-binary=:all: \
	    --python-version $$py $(LINUX_PLATFORMS) \
	    -r requirements/server.txt -d $(WHEELHOUSE)/server/py$$py; \
	done; \
	for py in $(CLIENT_PYTHONS); do for plat in $(CLIENT_PLATFORMS); do \
	  echo "wheelhouse: client, Python $$py, $$plat"; \
	  if [ $$plat = linux ]; then platflags="$(LINUX_PLATFORMS)"; else platflags="--platform $$plat"; fi; \
	  $(BIN)/pip download --quiet --disable-pip-version-check --only-binary=:all: \
	    --python-version $$py $$platflags \
	    -r requirements/client.txt -d $(WHEELHOUSE)/client/py$$py-$$plat; \
	done; done
	touch $@

lab-up: venv ## bring up the embedded two-host lab (idempotent)
	$(BIN)/python -m lab up --name $(LAB_NAME)

lab-down: venv ## stop the embedded lab; the cached image stays
	$(BIN)/python -m lab down --name $(LAB_NAME)

lab-status: venv ## what runs in the embedded lab, and where
	$(BIN)/python -m lab status --name $(LAB_NAME)

clean: ## remove the venv, wheelhouse and caches (results/ and the lab image stay)
	-$(BIN)/python -m lab down --name $(LAB_NAME) 2>/dev/null
	rm -rf $(VENV) $(WHEELHOUSE) .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
