"""The roles' OS selection against the facts of the releases they support, and of some others.

Ubuntu's archive is out of reach here, so no Ubuntu server is ever converged: this runs the
roles' own selection (roles/httplab/tasks/os.yml, roles/httplab_postgres/tasks/os.yml) in a
real ansible-playbook, one inventory host per release, each given the facts Ansible gathers
on that release, and checks what the roles choose there: the OS packages, the Python (the
one the release ships, Ansible's interpreter there), the wheelhouse's target for it and the
PostgreSQL package; and that a release outside README.md's support table is refused with
the supported ones named. No module runs on a host (set_fact, include_vars, assert and debug
are actions of the control node), so the hosts need not exist.

Where each fact comes from (the distribution's package index, its release's python3-defaults
and postgresql-<N> source packages, read 2026-12-07):
  Ubuntu 22.04 jammy:    python3-defaults 3.10.6-1~22.04, postgresql-14
      https://packages.ubuntu.com/source/jammy/python3-defaults
      https://packages.ubuntu.com/jammy/postgresql-14
  Ubuntu 24.04 noble:    python3-defaults 3.12.3-0ubuntu2.1, postgresql-16
      https://packages.ubuntu.com/source/noble/python3-defaults
      https://packages.ubuntu.com/noble/postgresql-16
  Ubuntu 26.04 resolute: python3-defaults 3.14.3-0ubuntu2, postgresql-18 (18.3-1)
      https://packages.ubuntu.com/source/resolute/python3-defaults
      https://packages.ubuntu.com/resolute/postgresql-18
  Debian 12 bookworm:    python3-defaults 3.11.2-1, postgresql-15
  Debian 13 trixie:      python3-defaults 3.13.5-1, postgresql-17
      https://packages.debian.org/src:python3-defaults
      https://packages.debian.org/bookworm/postgresql-15
      https://packages.debian.org/trixie/postgresql-17
  Refused: Debian 11 bullseye (python3-defaults 3.9.2-3, the same page), Ubuntu 25.10
  questing (an interim release, python3-defaults 3.13), Fedora.
Ansible's own facts: `distribution` and `distribution_version` from /etc/os-release (Ubuntu:
NAME and VERSION_ID "26.04"), Debian's `distribution_version` from /etc/debian_version
("13.2"), `distribution_major_version` its first field, `os_family` Debian for both.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import ansible_runner
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ["python3", "python3-venv", "acl", "nftables"]


def _facts(distribution: str, version: str, python: str, codename: str) -> dict[str, Any]:
    major, minor = python.split(".")[:2]
    return {
        "distribution": distribution,
        "distribution_version": version,
        "distribution_major_version": version.split(".")[0],
        "distribution_release": codename,
        "os_family": "Debian" if distribution in ("Debian", "Ubuntu") else "RedHat",
        "python_version": python,
        "python": {"version": {"major": int(major), "minor": int(minor)}},
    }


# host name -> (facts, what the roles choose: Python, wheelhouse target, PostgreSQL package)
SUPPORTED = {
    "ubuntu2204": (_facts("Ubuntu", "22.04", "3.10.12", "jammy"), "3.10", "postgresql-14"),
    "ubuntu2404": (_facts("Ubuntu", "24.04", "3.12.3", "noble"), "3.12", "postgresql-16"),
    "ubuntu2604": (_facts("Ubuntu", "26.04", "3.14.3", "resolute"), "3.14", "postgresql-18"),
    "debian12": (_facts("Debian", "12.12", "3.11.2", "bookworm"), "3.11", "postgresql-15"),
    "debian13": (_facts("Debian", "13.2", "3.13.5", "trixie"), "3.13", "postgresql-17"),
}
REFUSED = {
    "debian11": _facts("Debian", "11.11", "3.9.2", "bullseye"),
    "ubuntu2510": _facts("Ubuntu", "25.10", "3.13.7", "questing"),
    # A supported release with another Python as Ansible's interpreter (a deadsnakes one).
    "ubuntu2404-py313": _facts("Ubuntu", "24.04", "3.13.1", "noble"),
    "fedora41": _facts("Fedora", "41", "3.13.0", "") | {"distribution_major_version": "41"},
}

PLAY = """\
- name: The roles' OS selection on recorded facts
  hosts: all
  gather_facts: false
  tasks:
    - name: Take this release's recorded facts as gathered
      ansible.builtin.set_fact:
        ansible_distribution: "{{ recorded.distribution }}"
        ansible_distribution_version: "{{ recorded.distribution_version }}"
        ansible_distribution_major_version: "{{ recorded.distribution_major_version }}"
        ansible_distribution_release: "{{ recorded.distribution_release }}"
        ansible_os_family: "{{ recorded.os_family }}"
        ansible_python_version: "{{ recorded.python_version }}"
        ansible_python: "{{ recorded.python }}"
        cacheable: true
    - name: The web server role's selection
      ansible.builtin.include_role:
        name: httplab
        tasks_from: os
        public: true
    - name: The database role's selection
      ansible.builtin.include_role:
        name: httplab_postgres
        tasks_from: os
        public: true
    - name: Say what was chosen
      ansible.builtin.debug:
        msg:
          chosen:
            packages: "{{ httplab_server_packages }}"
            python: "{{ httplab_server_python }}"
            wheel_dir: "{{ httplab_server_wheel_dir }}"
            postgres: "{{ httplab_postgres_package }}"
"""


@pytest.fixture(scope="module")
def selection(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Per host: `chosen` (what the roles chose), `failed` (failure messages), `said` (debug)."""
    workdir = tmp_path_factory.mktemp("os")
    playbook = workdir / "os.yml"
    playbook.write_text(PLAY)
    hosts = {name: facts for name, (facts, _, _) in SUPPORTED.items()} | REFUSED
    inventory = workdir / "hosts.yml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "hosts": {name: {"recorded": facts} for name, facts in hosts.items()},
                    "vars": {"ansible_connection": "local", "httplab_wheelhouse_dir": "/wh"},
                }
            }
        )
    )
    result = ansible_runner.run(
        private_data_dir=str(workdir),
        project_dir=str(REPO),
        playbook=str(playbook),
        inventory=str(inventory),
        envvars={
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        },
        quiet=True,
    )
    seen: dict[str, dict[str, Any]] = {name: {"failed": [], "said": []} for name in hosts}
    for event in result.events:
        data = event.get("event_data", {})
        host, res = data.get("host"), data.get("res", {})
        if host not in seen:
            continue
        if event["event"] == "runner_on_failed":
            seen[host]["failed"].append(str(res.get("msg", "")))
        elif event["event"] == "runner_on_ok" and isinstance(res.get("msg"), dict):
            seen[host].update(res["msg"])
        elif event["event"] == "runner_on_ok" and res.get("msg"):
            seen[host]["said"].append(str(res["msg"]))
    return seen


@pytest.mark.parametrize("host", SUPPORTED)
def test_a_supported_release_gets_its_packages_python_and_wheels(
    selection: dict[str, dict[str, Any]], host: str
) -> None:
    _, python, postgres = SUPPORTED[host]
    assert selection[host]["failed"] == []
    assert selection[host]["chosen"] == {
        "packages": PACKAGES,
        "python": python,
        "wheel_dir": f"/wh/py{python}",
        "postgres": postgres,
    }


@pytest.mark.parametrize("host", REFUSED)
def test_a_release_outside_the_table_is_refused_naming_the_supported_ones(
    selection: dict[str, dict[str, Any]], host: str
) -> None:
    assert "chosen" not in selection[host], "a refused release must get nothing chosen"
    (message,) = selection[host]["failed"]
    assert "is not a supported server" in message
    for name in ('"12": "3.11"', '"13": "3.13"', '"22.04": "3.10"', '"26.04": "3.14"'):
        assert name in message, f"{name} not named in: {message}"


def test_ansible_says_when_it_does_not_support_the_server_python_officially(
    selection: dict[str, dict[str, Any]],
) -> None:
    """ansible-core 2.19 (the control node's) supports target Pythons up to 3.13: Ubuntu
    26.04's 3.14 is said to be outside that, and no other release is."""
    warned = {
        host for host, seen in selection.items() if any("officially" in s for s in seen["said"])
    }
    assert warned == {"ubuntu2604"}


def test_every_supported_python_is_a_wheelhouse_target_and_a_lock_target() -> None:
    """The Makefile downloads wheels for, and `make lock` checks every lock on, each Python
    the roles choose (tests/foundation/test_wheelhouse.py checks the wheels themselves)."""
    makefile = (REPO / "Makefile").read_text()
    targets = re.search(r"^SERVER_PYTHONS\s*\?=\s*(.*)$", makefile, re.MULTILINE)
    assert targets is not None
    chosen = {python for _, python, _ in SUPPORTED.values()}
    assert set(targets.group(1).split()) == chosen


def test_the_readme_support_table_lists_each_release() -> None:
    readme = (REPO / "README.md").read_text()
    table = readme.split("### Supported servers", 1)[1].split("\n\n", 2)[1]
    for label in ("Ubuntu 22.04", "Ubuntu 24.04", "Ubuntu 26.04", "Debian 12", "Debian 13"):
        assert re.search(rf"^\| {label}( \(\w+\))? \|", table, re.MULTILINE), (
            f"{label} not in the table"
        )
