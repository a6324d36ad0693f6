"""Names, subnets and the inventory of a lab: pure functions, no root needed."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
import time

import pytest
import yaml

from lab import api, containers, image, inventory, network, procs
from lab.config import (
    MAX_CLIENTS,
    REPO_ROOT,
    LabConfig,
    default_subnets,
    parse_subnet,
    validate_clients,
    validate_name,
)
from lab.errors import LabError
from lab.system import require_free_space

NAMES = ["embedded", "pytest", "roles", "a", "e2e-ci-lab-with-a-long-name-x9"]


@pytest.mark.parametrize("clients", [1, MAX_CLIENTS])
@pytest.mark.parametrize("name", NAMES)
def test_interface_names_fit_the_kernel_limit(name, clients):
    config = LabConfig(validate_name(name), default_subnets(name)[0], clients)
    ifnames = [config.bridge, *(host.veth for host in config.hosts)]
    assert all(len(ifname) <= 15 for ifname in ifnames), ifnames
    assert len(set(ifnames)) == len(ifnames)


def test_long_names_get_distinct_tags():
    first = LabConfig("integration-one", default_subnets("integration-one")[0])
    second = LabConfig("integration-two", default_subnets("integration-two")[0])
    assert first.bridge != second.bridge
    assert first.server.veth != second.server.veth


@pytest.mark.parametrize("bad", ["", "Embedded", "-lab", "lab-", "lab_1", "x" * 33, "a b"])
def test_bad_names_are_refused(bad):
    with pytest.raises(ValueError, match="invalid lab name"):
        validate_name(bad)


def test_default_lab_gets_test_net_2():
    assert default_subnets("embedded") == [ipaddress.IPv4Network("198.51.100.0/24")]


def test_other_labs_get_deterministic_slices_of_test_net_3():
    candidates = default_subnets("roles")
    assert candidates == default_subnets("roles")
    assert len(set(candidates)) == 16
    test_net_3 = ipaddress.IPv4Network("203.0.113.0/24")
    assert all(c.subnet_of(test_net_3) and c.prefixlen == 28 for c in candidates)
    assert default_subnets("pytest")[0] != default_subnets("roles")[0]


def test_a_subnet_holding_a_package_source_is_skipped(monkeypatch):
    first, second = default_subnets("labsec")[:2]
    mirror = ("deb.example", first.network_address + 3)
    monkeypatch.setattr(network, "_package_sources", lambda: [mirror])
    monkeypatch.setattr(network, "interface_networks", dict)  # a machine without other labs
    assert network.choose_subnet("labsec", "hl-labsec", None) == second
    with pytest.raises(LabError, match=r"in use by deb.example \(203\.0\.113\.\d+\)"):
        network.choose_subnet("labsec", "hl-labsec", first)


def test_addresses_follow_the_contract():
    config = LabConfig("embedded", ipaddress.IPv4Network("198.51.100.0/24"))
    assert str(config.bridge_address) == "198.51.100.1"
    assert str(config.server.address) == "198.51.100.2"
    assert str(config.client.address) == "198.51.100.3"
    assert config.inventory_path.name == "embedded.yml"


def test_several_clients_follow_the_server():
    config = LabConfig("embedded", ipaddress.IPv4Network("198.51.100.0/24"), clients=3)
    clients = config.client_hosts
    assert [h.role for h in clients] == ["client1", "client2", "client3"]
    assert [str(h.address) for h in clients] == ["198.51.100.3", "198.51.100.4", "198.51.100.5"]
    assert [h.hostname for h in clients] == [f"embedded-client{i}" for i in (1, 2, 3)]
    assert config.client == clients[0]
    assert len({h.state_dir for h in config.hosts}) == 4


@pytest.mark.parametrize(
    ("count", "subnet", "message"),
    [
        (0, None, "use 1 to"),
        (MAX_CLIENTS + 1, None, "use 1 to"),
        (5, "198.51.100.0/29", "at most 4"),
    ],
)
def test_bad_client_counts_are_refused(count, subnet, message):
    with pytest.raises(ValueError, match=message):
        validate_clients(count, ipaddress.IPv4Network(subnet) if subnet else None)


def test_a_28_holds_the_most_clients():
    subnet = default_subnets("pytest")[0]
    assert validate_clients(MAX_CLIENTS, subnet) == MAX_CLIENTS
    config = LabConfig("pytest", subnet, MAX_CLIENTS)
    assert config.client_hosts[-1].address < subnet.broadcast_address


@pytest.mark.parametrize(
    ("text", "message"),
    [("198.51.100.0/30", "too small"), ("198.51.100.1/24", "host bits"), ("nonsense", "invalid")],
)
def test_bad_subnets_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        parse_subnet(text)


def test_inventory_follows_the_contract():
    config = LabConfig("embedded", ipaddress.IPv4Network("198.51.100.0/24"))
    data = yaml.safe_load(inventory.render(config, {"server": [0], "client": [1]}))
    top = data["all"]["vars"]
    assert top["ansible_user"] == "httplab"
    assert top["ansible_ssh_private_key_file"].startswith("/")
    assert f"UserKnownHostsFile={config.access_known_hosts_path}" in top["ansible_ssh_common_args"]
    assert top["ansible_ssh_private_key_file"] == str(config.access_key_path)
    assert "StrictHostKeyChecking=yes" in top["ansible_ssh_common_args"]
    assert top["httplab_install_source"] == "wheelhouse"
    assert top["httplab_lab"] == "embedded"
    assert inventory.CGROUP_NOTE in top["httplab_lab_notes"]
    assert inventory.BPF_NOTE in top["httplab_lab_notes"]
    assert inventory.DATABASE_NOTE in top["httplab_lab_notes"]
    assert "server pinned to CPU 0, client to CPU 1" in top["httplab_lab_notes"]
    servers = data["all"]["children"]["servers"]
    assert servers["vars"]["ansible_become"] is True
    assert servers["hosts"]["embedded-server"]["ansible_host"] == "198.51.100.2"
    client = data["all"]["children"]["clients"]["hosts"]["embedded-client"]
    assert client == {
        "ansible_host": "198.51.100.3",
        "bench_client_os": "linux",
        "bench_client_python": "/usr/bin/python3",
    }


def test_inventory_lists_every_client():
    config = LabConfig("embedded", ipaddress.IPv4Network("198.51.100.0/24"), clients=2)
    cpus = {"server": [0], "client1": [1], "client2": [1]}
    data = yaml.safe_load(inventory.render(config, cpus))
    clients = data["all"]["children"]["clients"]["hosts"]
    assert {name: host["ansible_host"] for name, host in clients.items()} == {
        "embedded-client1": "198.51.100.3",
        "embedded-client2": "198.51.100.4",
    }
    assert (
        "server pinned to CPU 0, 2 clients to CPU 1 (shared)"
        in (data["all"]["vars"]["httplab_lab_notes"])
    )


def test_one_cpu_is_recorded_as_shared():
    config = LabConfig("embedded", ipaddress.IPv4Network("198.51.100.0/24"))
    notes = inventory.lab_notes(config, {"server": [0], "client": [0]})
    assert "server and client share CPU 0 (one CPU on this machine)" in notes


@pytest.mark.parametrize(
    ("cpus", "expected"),
    [
        ([0], {"server": [0], "client": [0], "control": []}),
        ([0, 1], {"server": [0], "client": [1], "control": []}),
        # A CPU to spare: the control node's, off the measured ones (issue 26).
        ([0, 1, 2], {"server": [0], "client": [1], "control": [2]}),
        ([0, 1, 2, 3, 4, 5, 6, 7], {"server": [0, 1, 2, 3], "client": [4, 5, 6], "control": [7]}),
    ],
)
def test_the_cpus_are_split_between_server_client_and_control_node(cpus, expected):
    assert api.split_cpus(cpus, ["client"]) == expected


def test_the_inventory_says_which_cpus_each_host_and_the_control_node_has():
    config = LabConfig("embedded", ipaddress.IPv4Network("198.51.100.0/24"))
    cpus = {"server": [0], "client": [1], "control": [2]}
    top = yaml.safe_load(inventory.render(config, cpus))["all"]["vars"]
    assert top["httplab_lab_cpus"] == {"server": [0], "clients": [1], "control": [2]}
    assert "the control node measures from CPU 2" in top["httplab_lab_notes"]


def test_too_little_space_is_a_clear_error(tmp_path):
    with pytest.raises(LabError, match=r"not enough space for the lab image: \d+ MiB free in"):
        require_free_space(tmp_path / "images", 2**40, "the lab image")


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        (["--name", "Bad_Name"], "invalid lab name 'Bad_Name'"),
        (["--server-os", "ubuntu2604"], "invalid choice: 'ubuntu2604'"),
    ],
    ids=["lab name", "server OS"],
)
def test_bad_up_options_are_refused_by_the_cli(option, expected):
    result = subprocess.run(
        [sys.executable, "-m", "lab", "up", *option],
        capture_output=True, text=True, timeout=60, cwd=REPO_ROOT,
    )  # fmt: skip
    assert result.returncode == 2
    assert expected in result.stderr


def test_image_is_rebuilt_only_when_its_recipe_changes(monkeypatch):
    digest = image.recipe_hash()
    assert image.recipe_hash() == digest
    monkeypatch.setattr(image, "PACKAGES", (*image.PACKAGES, "curl"))
    assert image.recipe_hash() != digest


def test_debootstrap_checks_the_release_signature(tmp_path):
    argv = image.debootstrap_argv(tmp_path / "root")
    assert "--keyring=/usr/share/keyrings/debian-archive-keyring.gpg" in argv
    assert "--force-check-gpg" in argv
    assert argv[-3:] == [image.SUITE, str(tmp_path / "root"), image.MIRROR]


def test_a_debian13_server_has_an_image_of_its_own(tmp_path):
    """Debian 13's recipe: trixie with its own PostgreSQL, everything else Debian 12's; the
    Debian 12 image (every client's, and the default server's) is not another by it."""
    assert image.recipe_hash("debian13") != image.recipe_hash()
    argv = image.debootstrap_argv(tmp_path / "root", "debian13")
    assert argv[-3:] == ["trixie", str(tmp_path / "root"), image.MIRROR]
    included = argv[[a.startswith("--include=") for a in argv].index(True)]
    packages = included.removeprefix("--include=").split(",")
    assert "postgresql-17" in packages and "postgresql-15" not in packages
    assert set(packages) - {"postgresql-17"} == set(image.PACKAGES) - {"postgresql-15"}
    assert "--force-check-gpg" in argv


def test_building_one_os_image_keeps_the_other_os_image(tmp_path):
    """prune_images keeps `also` (the current image of every OS) as it keeps `keep`."""
    debian12, debian13, old = (tmp_path / (c * 16) for c in "abc")
    for image_dir in (debian12, debian13, old):
        image_dir.mkdir()
    assert image.prune_images(tmp_path, keep=debian13, also=[debian12, debian13]) == [old]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a" * 16, "b" * 16]


def test_images_of_other_recipes_are_pruned_unless_in_use(tmp_path):
    names = ("a" * 16, "a" * 16 + ".hosts", "b" * 16, "b" * 16 + ".hosts", "c" * 16 + ".partial")
    keep, keep_hosts, old, old_hosts, crashed = (tmp_path / name for name in names)
    for image_dir in (keep, keep_hosts, old, old_hosts, crashed):
        (image_dir / "etc").mkdir(parents=True)
    (tmp_path / f"{'b' * 16}.json").write_text("{}")
    (tmp_path / "notes").mkdir()  # not an image: left alone
    busy, busy_host = tmp_path / ("d" * 16), tmp_path / ("d" * 16 + ".hosts") / "lab-srv"
    busy.mkdir()
    busy_host.mkdir(parents=True)
    # A process whose command line boots from a host copy of `busy` keeps it.
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)", f"--directory={busy_host}"]
    )
    # Right after exec the kernel may show an empty command line for a moment.
    while f"--directory={busy_host}" not in procs.cmdline(holder.pid):
        time.sleep(0.01)
    try:
        assert image.prune_images(tmp_path, keep=keep) == [old, old_hosts, crashed]
    finally:
        holder.kill()
        holder.wait()
    left = ["a" * 16, "a" * 16 + ".hosts", "d" * 16, "d" * 16 + ".hosts", "notes"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(left)


def test_cgroups_that_vanish_while_listed_hold_no_processes(tmp_path, monkeypatch):
    """A stopping container removes its cgroups while the lab's tree is walked."""
    live, gone = tmp_path / "server" / "payload", tmp_path / "client1" / "payload"
    live.mkdir(parents=True)
    gone.mkdir(parents=True)
    (live / "cgroup.procs").write_text("12\n34\n")
    (gone / "cgroup.procs").symlink_to(tmp_path / "removed")  # listed, then unreadable
    roots = [tmp_path / "server", tmp_path / "client1", tmp_path / "client2"]
    monkeypatch.setattr(containers, "cgroup_dirs", lambda config: roots)
    config = LabConfig("pytest", default_subnets("pytest")[0])
    assert containers.lab_processes(config) == [12, 34]
