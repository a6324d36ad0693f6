"""The role with a default-deny firewall of the server's own active: ufw, then nftables.

On the embedded lab's server (real systemd, real ufw and nftables): with ufw active
(default deny, SSH allowed, and a rule of the administrator's own for one stack's port and
the client), provisioning opens each stack port in ufw to the clients only, the stacks
answer the client, an outsider on the lab's bridge is refused on every stack port, and the
study's end (`finish`) leaves ufw as provisioning found it, the administrator's rule
included. The same with an nftables ruleset of the administrator's own (nftables.service,
an `inet filter` table whose input chain drops by default).

ufw is not in the lab image (it stays small): the test fetches Debian 12's ufw, and what
the image lacks of its dependencies, from Debian's archive into a cache on this machine,
then installs them on the server with dpkg; afterwards it purges them again.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.roles.test_server_roles import STACKS, _active, finish, run_playbook
from tests.roles.test_stack_security import _facts, _get

pytestmark = pytest.mark.roles

SUDO = ("sudo", "-n")
# ufw and the packages of its dependencies the lab image lacks (dpkg -i names any missing).
UFW_PACKAGES = ("ufw", "iptables", "libip6tc2", "libnetfilter-conntrack3", "libnfnetlink0")
DEB_CACHE = Path("/var/cache/httplab/debs")
# The administrator's own ruleset: everything to the server dropped but SSH, loopback and
# the replies to its own connections (Debian's /etc/nftables.conf with policy drop).
NFTABLES_CONF = """\
#!/usr/sbin/nft -f
flush ruleset
table inet filter {
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		iif "lo" accept
		tcp dport 22 accept
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
	}
	chain output {
		type filter hook output priority filter; policy accept;
	}
}
"""


def _sudo(lab: Any, *argv: str) -> str:
    return lab.server.run(*SUDO, *argv).stdout


def _fetch_debs() -> list[Path]:
    """Debian 12's ufw and the dependencies the image lacks, from the archive (cached)."""
    DEB_CACHE.mkdir(parents=True, exist_ok=True)
    download = ["apt-get", "download", *UFW_PACKAGES]
    if subprocess.run(download, cwd=DEB_CACHE, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True)
        subprocess.run(download, cwd=DEB_CACHE, check=True, capture_output=True)
    debs = sorted(DEB_CACHE.glob("*.deb"))
    assert {deb.name.split("_")[0] for deb in debs} >= set(UFW_PACKAGES), debs
    return debs


def _install(lab: Any, debs: list[Path]) -> None:
    """Copy the packages to the server over SSH (a tar on stdin) and install them with dpkg."""
    tar = subprocess.run(
        ["tar", "-c", "-C", str(DEB_CACHE), *(deb.name for deb in debs)],
        check=True,
        capture_output=True,
    ).stdout
    script = (
        "rm -rf /tmp/httplab-debs && mkdir /tmp/httplab-debs && tar -x -C /tmp/httplab-debs"
        " && sudo -n env DEBIAN_FRONTEND=noninteractive dpkg -i /tmp/httplab-debs/*.deb"
    )
    subprocess.run([*lab.server.ssh_command, script], input=tar, check=True, capture_output=True)


def _provision(lab: Any, venv_bin: Path, workdir: Path) -> None:
    run = run_playbook(lab, venv_bin, workdir, "provision.yml")
    assert run.status == "successful", run.failure_messages


def _reload_port_filter(lab: Any) -> None:
    """Flushing a whole ruleset takes the role's table too: load it again."""
    _sudo(lab, "systemctl", "restart", "httplab-port-filter.service")


def _refused_everywhere_but_the_client(lab: Any, outsider: list[str]) -> None:
    for stack in STACKS:
        get = _get(lab.server.address, stack["port"])
        answer = lab.client.run(*get, check=False)
        assert answer.returncode == 0, f"{stack['name']}: the client got no 200"
        run = subprocess.run([*outsider, *get], capture_output=True, text=True)
        assert run.returncode == 3, f"{stack['name']}: the outsider was not refused: {run}"


@pytest.fixture(scope="class")
def ufw(embedded_lab, venv_bin, tmp_path_factory) -> Iterator[dict[str, str]]:
    """ufw active on the provisioned server; yields `ufw status verbose` and `ufw show
    added` as they were before provisioning. Afterwards ufw is purged again."""
    lab = embedded_lab
    _install(lab, _fetch_debs())
    own = f"allow from {lab.client.address} to any port {STACKS[0]['port']} proto tcp"
    try:
        _sudo(lab, "ufw", "default", "deny", "incoming")
        _sudo(lab, "ufw", "allow", "22/tcp")
        _sudo(lab, "ufw", *own.split())
        _sudo(lab, "ufw", "--force", "enable")
        before = {
            "status": _sudo(lab, "ufw", "status", "verbose"),
            "added": _sudo(lab, "ufw", "show", "added"),
            "own": f"ufw {own}",
        }
        _provision(lab, venv_bin, tmp_path_factory.mktemp("ufw"))
        yield before
    finally:
        lab.server.run(*SUDO, "ufw", "--force", "reset", check=False)
        lab.server.run(*SUDO, "ufw", "disable", check=False)
        lab.server.run(*SUDO, "dpkg", "--purge", *UFW_PACKAGES, check=False)
        # iptables-nft's tables, left empty by `ufw disable`.
        for family in ("ip", "ip6"):
            lab.server.run(*SUDO, "nft", "delete", "table", family, "filter", check=False)
        _reload_port_filter(lab)


class TestUfw:
    """ufw active: its fixture is the class's, so it is gone before nftables' tests."""

    def test_ufw_opens_each_stack_port_to_the_clients_only(self, embedded_lab, ufw):
        added = _sudo(embedded_lab, "ufw", "show", "added").splitlines()
        client = embedded_lab.client.address
        # The administrator's own rule for the first stack stays theirs (no httplab comment).
        assert ufw["own"] in added
        for stack in STACKS[1:]:
            rule = f"ufw allow from {client} to any port {stack['port']} proto tcp"
            assert f"{rule} comment 'httplab {stack['name']}'" in added, added
        for line in added:
            for stack in STACKS:
                if f" port {stack['port']} " in line:
                    assert f" from {client} " in line, (
                        f"a stack port opened beyond the client: {line}"
                    )
        facts = _facts(embedded_lab, STACKS[0])
        assert facts["firewall"] == {
            "active": "ufw",
            "opened_to": [client],
            "note": "each port opened to the clients only",
        }

    def test_with_ufw_the_client_reaches_every_stack_and_an_outsider_none(
        self, embedded_lab, ufw, outsider
    ):
        _refused_everywhere_but_the_client(embedded_lab, outsider)

    def test_with_ufw_a_second_provision_changes_nothing(
        self, embedded_lab, venv_bin, ufw, tmp_path
    ):
        run = run_playbook(embedded_lab, venv_bin, tmp_path, "provision.yml")
        assert run.status == "successful", run.failure_messages
        assert run.changed() == 0, run.stats

    def test_finish_leaves_ufw_as_it_found_it(self, embedded_lab, venv_bin, ufw, tmp_path):
        finish(embedded_lab, venv_bin, tmp_path, "httplab", {"httplab_stack_keep_running": False})
        assert set(_active(embedded_lab).values()) == {"inactive"}
        assert _sudo(embedded_lab, "ufw", "show", "added") == ufw["added"]
        assert _sudo(embedded_lab, "ufw", "status", "verbose") == ufw["status"]


def _write_nftables_conf(lab: Any, text: str) -> None:
    subprocess.run(
        [*lab.server.ssh_command, "sudo -n sh -c 'cat > /etc/nftables.conf'"],
        input=text,
        text=True,
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="class")
def nftables(embedded_lab, venv_bin, tmp_path_factory) -> Iterator[str]:
    """nftables.service active with the administrator's own default-drop ruleset on the
    provisioned server; yields its input chain as it was before provisioning. Afterwards
    /etc/nftables.conf is the image's again and nftables.service stopped, as the image has it."""
    lab = embedded_lab
    original = _sudo(lab, "cat", "/etc/nftables.conf")
    try:
        _write_nftables_conf(lab, NFTABLES_CONF)
        _sudo(lab, "systemctl", "restart", "nftables.service")
        _reload_port_filter(lab)
        before = _sudo(lab, "nft", "list", "chain", "inet", "filter", "input")
        _provision(lab, venv_bin, tmp_path_factory.mktemp("nftables"))
        yield before
    finally:
        _write_nftables_conf(lab, original)
        lab.server.run(*SUDO, "systemctl", "stop", "nftables.service", check=False)
        _reload_port_filter(lab)


class TestNftables:
    """nftables.service active with the administrator's own ruleset."""

    def test_nftables_opens_each_stack_port_to_the_clients_only(self, embedded_lab, nftables):
        chain = _sudo(embedded_lab, "nft", "list", "chain", "inet", "filter", "input")
        client = embedded_lab.client.address
        for stack in STACKS:
            assert (
                f"ip saddr {client} tcp dport {stack['port']} accept "
                f'comment "httplab {stack["name"]} {client}"'
            ) in chain, chain
        assert chain.count('comment "httplab ') == len(STACKS)
        facts = _facts(embedded_lab, STACKS[0])
        assert facts["firewall"]["active"] == "nftables"
        assert facts["firewall"]["opened_to"] == [client]

    def test_with_nftables_the_client_reaches_every_stack_and_an_outsider_none(
        self, embedded_lab, nftables, outsider
    ):
        _refused_everywhere_but_the_client(embedded_lab, outsider)

    def test_finish_leaves_nftables_as_it_found_it(
        self, embedded_lab, venv_bin, nftables, tmp_path
    ):
        finish(embedded_lab, venv_bin, tmp_path, "httplab", {"httplab_stack_keep_running": False})
        assert set(_active(embedded_lab).values()) == {"inactive"}
        assert _sudo(embedded_lab, "nft", "list", "chain", "inet", "filter", "input") == nftables
