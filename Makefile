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
# Another stack matrix: a preset of inventory/matrices/ (MATRIX=modern, MATRIX=full) or a
# file of your own (MATRIX=examples/bookshelf/httplab.yml). Empty = the paper's six stacks.
MATRIX      ?=
MATRIX_FILE := $(if $(MATRIX),$(if $(findstring /,$(MATRIX)),$(MATRIX),inventory/matrices/$(MATRIX).yml))
LAB_NAME    ?= embedded
LAB_CLIENTS ?=
# The embedded lab's server OS: debian12 (empty: the default, or what runs) or debian13
# (lab/README.md, "A Debian 13 server"); its clients stay on Debian 12.
LAB_SERVER_OS ?=

# Offline wheelhouse targets: the server's Python (Ubuntu 22.04 = 3.10, Debian 12 = 3.11,
# Ubuntu 24.04 = 3.12, Debian 13 = 3.13, Ubuntu 26.04 = 3.14: roles/httplab/vars/main.yml,
# httplab_server_releases) and the client's Python and OS.
WHEELHOUSE       ?= wheelhouse
# The locks whose wheels the server's wheelhouse holds: the lab's apps', the installer of
# the stacks' venvs (uv), the stacks' own (requirements/stacks/), the example apps';
# APP_LOCKS adds those of apps of yours.
APP_LOCKS        ?=
SERVER_LOCKS     := requirements/server.txt requirements/installer.txt \
  $(wildcard requirements/stacks/*.txt) \
  $(wildcard examples/*/requirements.txt) $(APP_LOCKS)
SERVER_PYTHONS   ?= 3.10 3.11 3.12 3.13 3.14
CLIENT_PYTHONS   ?= 3.11 3.12
CLIENT_PLATFORMS ?= linux win_amd64
LINUX_PLATFORMS  := --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 --platform linux_x86_64
# Fetched only on request (make wheelhouse-extra): Python 3.13 clients and Windows on
# ARM64. The pinned client set has wheels for both (checked with pip download).
EXTRA_CLIENT_PYTHONS   ?= $(CLIENT_PYTHONS) 3.13
EXTRA_CLIENT_PLATFORMS ?= $(CLIENT_PLATFORMS) win_arm64

# Debian packages the tests need on this machine: the embedded lab (debootstrap
# with Debian's archive keyring, systemd-nspawn, ip, nft for its firewall), real
# SSH for the Fabric tests (sshd), wrk for the client-overhead benchmark, Wine and
# MinGW for the Windows command-line tests, PostgreSQL (the distribution's supported
# version: 15 on Debian 12) for the apps' database test types (a private cluster of the
# tests' own: tests/apps/postgres.py).
# `make test` installs the missing ones as root, or names the command to run.
HOST_PACKAGES := debootstrap debian-archive-keyring systemd-container nftables openssh-client \
  openssh-server iproute2 procps wrk wine64 gcc-mingw-w64-x86-64 postgresql

# `make lock`: uv resolves each set for one target and checks every other target
# of the wheelhouse can install it with --require-hashes (a missing pin fails) from
# wheels alone (--no-build: a pin with no wheel for a target fails, as `make wheelhouse`
# would). The servers' check takes manylinux_2_28 wheels (glibc 2.28; Ubuntu 22.04 has
# 2.35), as `make wheelhouse` does: gevent publishes no older ones.
UV_COMPILE   := $(BIN)/uv pip compile --quiet --generate-hashes --custom-compile-command "make lock"
UV_CHECK     := $(BIN)/uv pip install --quiet --dry-run --require-hashes --no-build
LOCK_LINUX   := x86_64-manylinux_2_17
SERVER_LOCK_LINUX := x86_64-manylinux_2_28
LOCK_WINDOWS := x86_64-pc-windows-msvc
CONTROL_PYTHON := 3.11

# Only the lab's own commands (lab up, down, status) need root. A user's `make run`
# asks sudo for `lab up` alone. Under `sudo make run` every other step runs as the
# user sudo was called by (runuser); as root without sudo (CI) everything runs as root.
AS_ROOT  := $(if $(filter 0,$(shell id -u)),,sudo)
RUN_USER := $(if $(AS_ROOT),,$(filter-out root,$(SUDO_USER)))
AS_USER  := $(if $(RUN_USER),runuser -u $(RUN_USER) -- env "PATH=$(PATH)")
# Who gets the lab's inventory, key and known_hosts (lab up --owner).
OWNER    := $(or $(RUN_USER),$(shell id -un))
# Root runs the lab with the system Python, isolated (-I -S: no venv, site packages or
# PYTHON* variables), from a root-owned copy of lab/ that lab/snapshot.py makes: nothing
# the checkout's owner can change (lab/README.md, "Who runs what"). So it needs no venv.
LAB_PYTHON ?= /usr/bin/python3
LAB      := $(LAB_PYTHON) -I -S lab/snapshot.py

# `make run`'s breakdown by phase (orchestrator/phases.py): each step before the playbook
# (lab up, venv, wheelhouse) and each playbook phase (plugins/callback/httplab_phases.py)
# appends NAME START END here; the run's last step records them in its manifest and prints them.
PHASES := $(abspath .run-phases)
# A recipe's shell function: `timed NAME COMMAND...` runs COMMAND and, when it succeeds,
# appends NAME's start and end (seconds since the epoch) to $(PHASES).
TIMED := timed() { local name=$$1 start; shift; start=$$(date +%s.%N); "$$@" || return; \
  echo "$$name $$start $$(date +%s.%N)" >> "$(PHASES)"; };

.PHONY: help venv host-packages run test test-fast lint unit wheelhouse wheelhouse-targets wheelhouse-extra lock lab-up lab-down lab-status clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# uv installs the locked set into the venv: every package must match a hash in the lock and
# only wheels are installed, as pip would, but its downloads run side by side (seconds where
# pip took most of a minute). uv itself comes first, from its pin and hashes in the same lock,
# with the venv's own pip (from the Python installation, used as it is: an upgrade would
# fetch an unpinned pip). --compile-bytecode writes every module's bytecode once, as pip
# does by default: where Python may not write it (PYTHONDONTWRITEBYTECODE), each start
# compiled Ansible, pandas and the rest again (an `httplab report` 7.7 s instead of 5.0 s).
UV_INSTALL := $(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode
$(BIN)/.installed: requirements.txt requirements/dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	sed -n '/^uv==/,/[^\\]$$/p' requirements/dev.txt > $(VENV)/uv-requirement.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes --only-binary=:all: \
	  --no-deps -r $(VENV)/uv-requirement.txt
	$(UV_INSTALL) --require-hashes --only-binary=:all: -r requirements/dev.txt
	# The `httplab` command, editable: it runs this checkout's code. Built with the
	# locked setuptools, not one fetched unpinned into an isolated build env.
	$(UV_INSTALL) --no-deps --no-build-isolation --editable .
	touch $@

venv: $(BIN)/.installed ## create .venv with the pinned control-node and dev tools
	@# httplab's own modules too (a tenth of a second when nothing changed); the code sent to
	@# the hosts leaves bytecode out.
	@$(BIN)/python -m compileall -q -j 0 analysis bench_client orchestrator httplab

# Under sudo, outputs an earlier run left as root's become the user's, who writes them now.
run: ## provision, benchmark and analyse (embedded lab unless INVENTORY=path); root only for lab up
	@set -e; \
	if [ -n "$(AS_ROOT)" ] && ! command -v sudo >/dev/null; then \
	  echo "make: lab up needs root: install sudo, or run make run as root"; exit 1; \
	fi; \
	if [ -n "$(INVENTORY)" ] && [ ! -f "$(INVENTORY)" ]; then \
	  echo "make: the inventory $(INVENTORY) does not exist (cp inventory/lab.example.yml $(INVENTORY))"; \
	  exit 2; \
	fi; \
	if [ -n "$(MATRIX_FILE)" ] && [ ! -f "$(MATRIX_FILE)" ]; then \
	  echo "make: no matrix $(MATRIX_FILE) (presets: $$(ls inventory/matrices/*.yml | xargs -n1 basename | sed 's/.yml$$//' | tr '\n' ' '))"; \
	  exit 2; \
	fi; \
	if [ -n "$(RUN_USER)" ]; then \
	  for built in $(VENV) $(WHEELHOUSE) results; do \
	    if [ -e "$$built" ]; then chown -R --from=root "$(RUN_USER):" "$$built"; fi; \
	  done; \
	fi
	@rm -f $(PHASES); $(AS_USER) touch $(PHASES)
	@# The embedded lab comes up (root: sudo asks first, alone) while the venv and the
	@# wheelhouse targets the lab needs are made beside it; its lines are marked [lab up].
	@set -eo pipefail; $(TIMED) \
	if [ -z "$(INVENTORY)" ]; then \
	  $(if $(AS_ROOT),sudo -v;) \
	  ( timed lab-up $(MAKE) --no-print-directory lab-up 2>&1 | sed -u 's/^/[lab up] /' ) & lab=$$!; \
	fi; \
	status=0; \
	{ timed venv $(AS_USER) $(MAKE) --no-print-directory venv \
	  && timed wheelhouse $(AS_USER) $(MAKE) --no-print-directory wheelhouse-targets; } || status=$$?; \
	if [ -n "$${lab:-}" ]; then wait $$lab || status=$$?; fi; \
	exit $$status
	@set -e; \
	$(AS_USER) env HTTPLAB_PHASES=$(PHASES) $(BIN)/ansible-playbook \
	  -i "$(or $(INVENTORY),inventory/$(LAB_NAME).yml)" run_all.yml \
	  $(if $(MATRIX_FILE),-e @$(MATRIX_FILE)) $(if $(EXTRA_VARS),-e '$(EXTRA_VARS)'); \
	$(AS_USER) $(BIN)/httplab phases results/latest $(PHASES); \
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

# ansible-lint's syntax check parses ansible.cfg's default inventory, the embedded lab's,
# which a fresh checkout has not made yet: a missing one is a failure for a run
# (ansible.cfg), not for the lint.
ANSIBLE_LINT := ANSIBLE_INVENTORY_UNPARSED_FAILED=False $(BIN)/ansible-lint

# Two workers (pytest-xdist): the tests of one shared thing (the session's lab, the sshd,
# the Wine prefix, the stack servers) run in one worker, in order (tests/conftest.py).
PYTEST_WORKERS := -n 2 --dist loadgroup

test: venv wheelhouse host-packages ## ruff, ansible-lint (production profile) and pytest
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(ANSIBLE_LINT)
	$(BIN)/pytest $(PYTEST_WORKERS)

test-fast: venv wheelhouse ## the inner loop: ruff and the tests that need no root, lab, sshd, Wine or stack servers
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest --fast $(PYTEST_WORKERS)

lint: venv ## ruff and ansible-lint only
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(ANSIBLE_LINT)

wheelhouse: $(WHEELHOUSE)/.complete ## download server and client wheels for offline labs (every target)

# Each target of the wheelhouse (a server's Python; a client's Python and OS) is fetched on
# its own, into its own directory, with its own stamp: `make run` fetches only those its lab
# needs (RUN_WHEELHOUSE), `make wheelhouse` all of them, side by side (-j).
SERVER_TARGETS := $(foreach py,$(SERVER_PYTHONS),$(WHEELHOUSE)/server/py$(py)/.complete)
CLIENT_TARGETS := $(foreach py,$(CLIENT_PYTHONS),$(foreach plat,$(CLIENT_PLATFORMS),\
  $(WHEELHOUSE)/client/py$(py)-$(plat)/.complete))
# The embedded lab's hosts are Debian 12 (Python 3.11; a Debian 13 server: 3.13), its
# clients Linux. A real lab's (INVENTORY) Pythons and client OS (Windows…) are known only
# once Ansible reaches them: `make run` fetches every target for it.
LAB_SERVER_PYTHON := $(if $(filter debian13,$(LAB_SERVER_OS)),3.13,3.11)
LAB_WHEELHOUSE := $(WHEELHOUSE)/server/py$(LAB_SERVER_PYTHON)/.complete \
  $(WHEELHOUSE)/client/py3.11-linux/.complete
RUN_WHEELHOUSE ?= $(if $(INVENTORY),$(SERVER_TARGETS) $(CLIENT_TARGETS),$(LAB_WHEELHOUSE))
WHEELHOUSE_JOBS ?= 4

$(WHEELHOUSE)/.complete: requirements/client.txt $(SERVER_LOCKS) | venv
	@$(MAKE) --no-print-directory -j$(WHEELHOUSE_JOBS) $(SERVER_TARGETS) $(CLIENT_TARGETS)
	touch $@

wheelhouse-targets: venv ## only the wheelhouse targets `make run` needs (RUN_WHEELHOUSE)
	@$(MAKE) --no-print-directory -j$(WHEELHOUSE_JOBS) $(RUN_WHEELHOUSE)

$(WHEELHOUSE)/server/py%/.complete: $(SERVER_LOCKS) | venv
	@set -e; for lock in $(SERVER_LOCKS); do \
	  echo "wheelhouse: server, Python $*, Linux: $$lock"; \
	  $(BIN)/pip download --quiet --disable-pip-version-check --only-binary=:all: --require-hashes \
	    --python-version $* $(LINUX_PLATFORMS) -r $$lock -d $(@D); \
	done
	@touch $@

# The stem is PYTHON-PLATFORM (3.11-linux, 3.12-win_amd64).
$(WHEELHOUSE)/client/py%/.complete: requirements/client.txt | venv
	@set -e; $(call client_wheels,$(word 1,$(subst -, ,$*)),$(word 2,$(subst -, ,$*)))
	@touch $@

wheelhouse-extra: $(WHEELHOUSE)/.complete ## also the client wheels for Python 3.13 and Windows on ARM64
	@set -e; $(call client_wheels,$(EXTRA_CLIENT_PYTHONS),$(EXTRA_CLIENT_PLATFORMS))

# The client set for each Python in $(1) and platform in $(2), each into its own directory.
define client_wheels
for py in $(1); do for plat in $(2); do \
  echo "wheelhouse: client, Python $$py, $$plat"; \
  if [ $$plat = linux ]; then platflags="$(LINUX_PLATFORMS)"; else platflags="--platform $$plat"; fi; \
  $(BIN)/pip download --quiet --disable-pip-version-check --only-binary=:all: --require-hashes \
    --python-version $$py $$platflags \
    -r requirements/client.txt -d $(WHEELHOUSE)/client/py$$py-$$plat; \
done; done
endef

lock: venv ## re-pin requirements*.txt (with hashes) from requirements*.in; needs the index
	$(UV_COMPILE) --python-version $(CONTROL_PYTHON) --python-platform $(LOCK_LINUX) \
	  requirements.in -o requirements.txt
	$(UV_COMPILE) --python-version $(CONTROL_PYTHON) --python-platform $(LOCK_LINUX) \
	  requirements/dev.in -o requirements/dev.txt
	@set -e; for spec in requirements/server.in requirements/installer.in \
	  $(wildcard requirements/stacks/*.in) \
	  $(wildcard examples/*/requirements.in); do \
	  $(UV_COMPILE) --python-version $(firstword $(SERVER_PYTHONS)) --python-platform $(LOCK_LINUX) \
	    $$spec -o $${spec%.in}.txt; \
	done
	$(UV_COMPILE) --python-version $(firstword $(CLIENT_PYTHONS)) --python-platform $(LOCK_WINDOWS) \
	  requirements/client.in -o requirements/client.txt
	@set -e; scratch=$$(mktemp -d); trap 'rm -rf "$$scratch"' EXIT; \
	for py in $(SERVER_PYTHONS); do for lock in $(SERVER_LOCKS); do \
	  echo "lock: $$lock installs on Python $$py, Linux"; \
	  $(UV_CHECK) --target $$scratch --python-version $$py --python-platform $(SERVER_LOCK_LINUX) \
	    -r $$lock; \
	done; done; \
	for py in $(CLIENT_PYTHONS); do for plat in $(LOCK_LINUX) $(LOCK_WINDOWS); do \
	  echo "lock: client set installs on Python $$py, $$plat"; \
	  $(UV_CHECK) --target $$scratch --python-version $$py --python-platform $$plat \
	    -r requirements/client.txt; \
	done; done

lab-up: ## bring up the embedded lab for you (idempotent; LAB_CLIENTS=N for N client hosts)
	$(AS_ROOT) $(LAB) up --name $(LAB_NAME) --owner "$(OWNER)" \
	  $(if $(LAB_CLIENTS),--clients $(LAB_CLIENTS)) $(if $(LAB_SERVER_OS),--server-os $(LAB_SERVER_OS))

lab-down: ## stop the embedded lab; the cached image stays
	$(AS_ROOT) $(LAB) down --name $(LAB_NAME)

lab-status: ## what runs in the embedded lab, and where
	$(AS_ROOT) $(LAB) status --name $(LAB_NAME)

clean: ## remove the venv, wheelhouse and caches (results/ and the lab image stay)
	-$(LAB) down --name $(LAB_NAME) 2>/dev/null
	rm -rf $(VENV) $(WHEELHOUSE) .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
