"""Where PostgreSQL listens and whom it lets in, on the server and on a database host of its
own (an inventory `databases` group), as Ansible renders the role's variables and templates
(roles/httplab_postgres) and the stack role's allow list (roles/httplab). No host is
reached: every play runs on this machine (connection local) against a made-up inventory."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
POSTGRES = REPO / "roles" / "httplab_postgres"
STACKS = REPO / "roles" / "httplab"
SERVER, DATABASE, CLIENT = "192.0.2.10", "192.0.2.30", "192.0.2.20"


def render(tmp_path: Path, venv_bin: Path, with_database_host: bool) -> dict[str, Any]:
    """The database host's pg_hba.conf, conf.d file and what the stacks connect to, and the
    server's IPAddressAllow= additions, for an inventory with or without a databases host."""
    hosts: dict[str, Any] = {
        "servers": {"hosts": {"srv": {"ansible_host": SERVER}}},
        "clients": {"hosts": {"cli": {"ansible_host": CLIENT}}},
    }
    if with_database_host:
        hosts["databases"] = {"hosts": {"db": {"ansible_host": DATABASE}}}
    common = {"ansible_connection": "local", "ansible_python_interpreter": str(venv_bin / "python")}
    inventory = {"all": {"vars": common, "children": hosts}}
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    database = "db" if with_database_host else "srv"
    out = tmp_path / "out"
    out.mkdir()
    template = "      ansible.builtin.template: {{src: {src}, dest: {dest}, mode: '0644'}}\n"
    playbook = (
        f"- hosts: {database}\n  gather_facts: false\n"
        f"  vars_files: [{POSTGRES}/defaults/main.yml, {POSTGRES}/vars/main.yml]\n"
        "  tasks:\n"
        "    - name: pg_hba.conf\n"
        + template.format(src=POSTGRES / "templates/pg_hba.conf.j2", dest=out / "pg_hba.conf")
        + "    - name: the settings\n"
        + template.format(src=POSTGRES / "templates/httplab.conf.j2", dest=out / "httplab.conf")
        + "    - name: what the stacks connect to\n"
        "      ansible.builtin.copy:\n"
        f"        dest: {out}/postgres.json\n"
        "        mode: '0644'\n"
        '        content: \'{{ {"stack_host": httplab_postgres_stack_host,'
        ' "on_server": httplab_postgres_on_server | bool} | to_json }}\'\n'
        "- hosts: srv\n  gather_facts: false\n"
        f"  vars_files: [{STACKS}/defaults/main.yml, {STACKS}/vars/main.yml,"
        f" {STACKS}/vars/Debian.yml]\n"
        "  tasks:\n"
        "    - name: the units' allow list and the OS packages\n"
        "      ansible.builtin.copy:\n"
        f"        dest: {out}/server.json\n"
        "        mode: '0644'\n"
        '        content: \'{{ {"allowed": httplab_database_allowed_addresses,'
        ' "packages": httplab_server_required_packages} | to_json }}\'\n'
    )
    (tmp_path / "render.yml").write_text(playbook)
    done = subprocess.run(
        [str(venv_bin / "ansible-playbook"), "-i", str(tmp_path / "inventory.yml"),
         str(tmp_path / "render.yml"), "-e", "httplab_database_enabled=true"],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    hba = [
        line.split()
        for line in (out / "pg_hba.conf").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    settings = dict(
        line.split(" = ", 1)
        for line in (out / "httplab.conf").read_text().splitlines()
        if " = " in line and not line.startswith("#")
    )
    return {
        "hba": hba,
        "settings": settings,
        **json.loads((out / "postgres.json").read_text()),
        **json.loads((out / "server.json").read_text()),
    }


def test_on_the_server_it_listens_on_loopback_and_lets_in_loopback_alone(tmp_path, venv_bin):
    placed = render(tmp_path, venv_bin, with_database_host=False)
    assert placed["settings"]["listen_addresses"] == "'localhost'"
    assert placed["hba"] == [
        ["local", "all", "postgres", "peer"],
        ["host", "httplab", "httplab", "127.0.0.1/32", "scram-sha-256"],
        ["host", "httplab", "httplab", "::1/128", "scram-sha-256"],
    ]
    assert placed["stack_host"] == "127.0.0.1" and placed["on_server"] is True
    assert placed["allowed"] == []  # the units' localhost is enough
    assert "postgresql-client" not in placed["packages"]  # the database brings psql


def test_on_its_own_host_it_lets_in_the_servers_alone(tmp_path, venv_bin):
    placed = render(tmp_path, venv_bin, with_database_host=True)
    assert placed["settings"]["listen_addresses"] == f"'localhost,{DATABASE}'"
    hosts = [line[3] for line in placed["hba"] if line[0] == "host"]
    assert hosts == ["127.0.0.1/32", "::1/128", f"{SERVER}/32"]  # not the client
    assert all(line[1:3] == ["httplab", "httplab"] for line in placed["hba"] if line[0] == "host")
    assert placed["stack_host"] == DATABASE and placed["on_server"] is False
    assert placed["allowed"] == [DATABASE]
    assert "postgresql-client" in placed["packages"], "the reseed runs psql on the server"
    assert placed["settings"]["max_connections"] == "300"
    assert placed["settings"]["ssl"] == "off"
