"""Reading the client's connection settings through the real ansible-inventory."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orchestrator.remote import inventory
from orchestrator.remote.inventory import (
    InventoryError,
    list_inventory,
    python_command,
    read_client,
    read_clients,
    read_server,
    ssh_options,
)


def write_inventory(directory: Path, data: dict, name: str = "lab.yml") -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def embedded_style(tmp_path: Path) -> dict:
    return {
        "all": {
            "vars": {
                "ansible_user": "httplab",
                "ansible_ssh_private_key_file": str(tmp_path / "key"),
                "ansible_ssh_common_args": (
                    f"-o UserKnownHostsFile={tmp_path / 'known_hosts'} -o StrictHostKeyChecking=yes"
                ),
                "httplab_install_source": "wheelhouse",
            },
            "children": {
                "servers": {"hosts": {"srv": {"ansible_host": "10.0.0.2"}}},
                "clients": {
                    "hosts": {
                        "cli": {
                            "ansible_host": "10.0.0.3",
                            "bench_client_os": "linux",
                            "bench_client_python": "/usr/bin/python3",
                        }
                    }
                },
            },
        }
    }


def test_embedded_style_inventory(tmp_path: Path) -> None:
    client = read_client(write_inventory(tmp_path, embedded_style(tmp_path)))
    assert client.name == "cli"
    assert (client.address, client.user, client.port) == ("10.0.0.3", "httplab", 22)
    assert client.key_file == tmp_path / "key"
    assert client.known_hosts == tmp_path / "known_hosts"
    assert (client.os, client.shell) == ("linux", None)
    assert client.python == ["/usr/bin/python3"]
    assert client.install_source == "wheelhouse"
    assert client.workdir == "httplab-client"
    assert "cli" in client.label and "10.0.0.3:22" in client.label


def test_windows_client_as_in_the_example(tmp_path: Path) -> None:
    data = {
        "all": {
            "vars": {
                "ansible_ssh_private_key_file": "~/.ssh/id_ed25519",
                "ansible_ssh_common_args": (
                    "-o UserKnownHostsFile=~/.ssh/known_hosts -o StrictHostKeyChecking=yes"
                ),
            },
            "children": {
                "clients": {
                    "hosts": {
                        "client": {
                            "ansible_host": "192.0.2.20",
                            "ansible_user": "bench",
                            "ansible_port": 2222,
                            "bench_client_os": "windows",
                            "bench_client_python": "py -3.11",
                            "bench_client_shell": "powershell",
                            "bench_client_workdir": r"D:\bench dir",
                        }
                    }
                }
            },
        }
    }
    client = read_client(write_inventory(tmp_path, data))
    assert client.port == 2222
    assert client.key_file == Path("~/.ssh/id_ed25519").expanduser()
    assert client.known_hosts == Path("~/.ssh/known_hosts").expanduser()
    assert (client.os, client.shell) == ("windows", "powershell")
    assert client.python == ["py", "-3.11"]
    assert client.workdir == r"D:\bench dir"
    assert client.install_source == "index"


def test_group_vars_and_nested_client_group(tmp_path: Path) -> None:
    data = {
        "all": {
            "children": {
                "clients": {"children": {"windows_clients": {"hosts": {"w1": {}}}}},
            }
        }
    }
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "clients.yml").write_text(
        "ansible_user: jane\nbench_client_os: windows\n"
        "bench_client_python: C:\\Program Files\\Python311\\python.exe\n"
    )
    client = read_client(write_inventory(tmp_path, data))
    assert (client.name, client.address, client.user) == ("w1", "w1", "jane")
    assert client.python == [r"C:\Program Files\Python311\python.exe"]
    assert client.known_hosts == Path("~/.ssh/known_hosts").expanduser()


def test_ini_inventory(tmp_path: Path) -> None:
    path = tmp_path / "hosts.ini"
    path.write_text(
        "[clients]\nc1 ansible_host=127.0.0.9 ansible_user=u ansible_port=2200 "
        "ansible_ssh_common_args='-oUserKnownHostsFile=/tmp/kh -oStrictHostKeyChecking=yes'\n"
    )
    client = read_client(path)
    assert (client.address, client.port, client.known_hosts) == ("127.0.0.9", 2200, Path("/tmp/kh"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["all"]["children"].pop("clients"), "no host in group clients"),
        (
            lambda d: d["all"]["children"]["clients"]["hosts"].update({"cli2": {}}),
            "several clients",
        ),
        (
            lambda d: d["all"]["vars"].update(
                ansible_ssh_common_args="-o StrictHostKeyChecking=no"
            ),
            "StrictHostKeyChecking=no",
        ),
        (lambda d: d["all"]["vars"].pop("ansible_user"), "no ansible_user"),
        (
            lambda d: d["all"]["children"]["clients"]["hosts"]["cli"].update(
                bench_client_os="macos"
            ),
            "bench_client_os must be linux or windows",
        ),
        (
            lambda d: d["all"]["children"]["clients"]["hosts"]["cli"].update(
                ansible_host="{{ lookup('env', 'X') }}"
            ),
            "is a template",
        ),
    ],
    ids=["no-client", "two-clients", "no-host-key-check", "no-user", "bad-os", "template"],
)
def test_inventory_errors_say_what_to_fix(tmp_path: Path, change, message: str) -> None:
    data = embedded_style(tmp_path)
    change(data)
    with pytest.raises(InventoryError, match=message):
        read_client(write_inventory(tmp_path, data))


def test_choose_one_of_several_clients(tmp_path: Path) -> None:
    data = embedded_style(tmp_path)
    data["all"]["children"]["clients"]["hosts"]["cli2"] = {"ansible_host": "10.0.0.4"}
    path = write_inventory(tmp_path, data)
    assert read_client(path, host="cli2").address == "10.0.0.4"
    with pytest.raises(InventoryError, match="srv is not in group clients"):
        read_client(path, host="srv")


def test_missing_inventory(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="does not exist"):
        read_client(tmp_path / "nope.yml")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("", {}),
        (
            "-o UserKnownHostsFile=/a/kh -o StrictHostKeyChecking=yes",
            {"userknownhostsfile": "/a/kh", "stricthostkeychecking": "yes"},
        ),
        (
            "-oUserKnownHostsFile=/b -o 'StrictHostKeyChecking yes' -C",
            {"userknownhostsfile": "/b", "stricthostkeychecking": "yes"},
        ),
        (
            "-o UserKnownHostsFile=/first -o UserKnownHostsFile=/second",
            {"userknownhostsfile": "/first"},
        ),
        ('-o "UserKnownHostsFile=/with space/kh"', {"userknownhostsfile": "/with space/kh"}),
    ],
)
def test_ssh_options(args: str, expected: dict[str, str]) -> None:
    assert ssh_options(args) == expected


@pytest.mark.parametrize(
    ("value", "client_os", "expected"),
    [
        (None, "linux", None),
        ("/usr/bin/python3", "linux", ["/usr/bin/python3"]),
        ("py -3.11", "windows", ["py", "-3.11"]),
        (
            r"C:\Program Files\Python311\python.exe",
            "windows",
            [r"C:\Program Files\Python311\python.exe"],
        ),
        (r'"C:\Python 3\python.exe"', None, [r"C:\Python 3\python.exe"]),
        (["py", "-3"], "windows", ["py", "-3"]),
        ("env PYTHONUTF8=1 python3", "linux", ["env", "PYTHONUTF8=1", "python3"]),
    ],
)
def test_python_command(value, client_os, expected) -> None:
    assert python_command(value, client_os) == expected


def test_a_malformed_inventory_is_named_with_ansibles_words_and_where(tmp_path: Path) -> None:
    broken = tmp_path / "lab.yml"
    broken.write_text("all:\n  children:\n    clients:\n      hosts:\n   c: [\n")
    with pytest.raises(InventoryError) as refused:
        read_clients(broken)
    assert str(refused.value).startswith(f"{broken} is not an inventory Ansible can read: YAML")
    assert "(line 5, column 4)" in str(refused.value)


def test_cli_names_a_missing_inventory(tmp_path: Path) -> None:
    from tests.remote.conftest import run_remote_cli

    done = run_remote_cli("deploy", "-i", str(tmp_path / "nope.yml"), "--index")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip() == (
        f"httplab deploy: error: inventory {tmp_path / 'nope.yml'} does not exist"
    )


def test_one_command_reads_the_inventory_once_unless_it_changes(tmp_path: Path, monkeypatch):
    """ansible-inventory takes seconds: the preflight asks for the server and the clients."""
    calls: list[list[str]] = []
    real_run = inventory.subprocess.run

    def counting(argv, **options):
        calls.append(argv)
        return real_run(argv, **options)

    monkeypatch.setattr(inventory.subprocess, "run", counting)
    path = write_inventory(tmp_path, embedded_style(tmp_path))
    assert read_server(path).name == "srv" and [h.name for h in read_clients(path)] == ["cli"]
    assert len(calls) == 1
    list_inventory(path)["_meta"].clear()  # a caller that changes its listing changes no other
    assert read_server(path).address == "10.0.0.2"
    data = embedded_style(tmp_path)
    data["all"]["children"]["clients"]["hosts"]["cli2"] = {"ansible_host": "10.0.0.4"}
    path = write_inventory(tmp_path, data)
    assert [host.name for host in read_clients(path)] == ["cli", "cli2"]
    assert len(calls) == 2
