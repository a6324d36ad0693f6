"""The preflight on the embedded lab (real hosts, real SSH), and its judgement of bad facts."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from orchestrator.remote import preflight, preflight_autorun, preflight_python
from orchestrator.remote.inventory import client_from_hostvars, read_client
from orchestrator.remote.preflight import (
    ClockOffset,
    Finding,
    Report,
    _client_facts,
    clock_offset,
    run_check,
)
from orchestrator.remote.preflight_save import redact
from orchestrator.remote.session import open_session
from orchestrator.remote.shell import Shell
from tests.remote import sshd as sshd_tools

REPO = Path(__file__).resolve().parents[2]


def test_check_on_the_embedded_lab(embedded_lab) -> None:
    report = run_check(embedded_lab.inventory_path)
    found = {(f.host, f.item): f for f in report.findings}
    assert found[("client", "shell")].value == "posix"
    assert found[("client", "ssh banner")].value.startswith("SSH-2.0-OpenSSH")
    assert found[("client", "python")].value.startswith("3.")
    assert found[("client", "dynamic ports")].value.split()[0].count("-") == 1
    assert found[("server", "sudo")].value == "passwordless"
    assert found[("server", "systemd")].value == "PID 1"
    expected_items = {"os", "code pages", "proxy", "free disk", "timer", "clock offset"}
    assert expected_items <= {item for host, item in found if host == "client"}
    assert {"python", "free disk", "firewall"} <= {item for host, item in found if host == "server"}
    assert all(f.fix for f in report.problems)


def test_check_cli_names_an_unreachable_client(embedded_lab, tmp_path: Path) -> None:
    inventory = yaml.safe_load(Path(embedded_lab.inventory_path).read_text())
    client = next(iter(inventory["all"]["children"]["clients"]["hosts"].values()))
    client["ansible_port"] = 1  # nothing listens there
    broken = tmp_path / "broken.yml"
    broken.write_text(yaml.safe_dump(inventory))
    done = subprocess.run(
        [sys.executable, "-m", "httplab", "check", "-i", str(broken), "--json"],
        capture_output=True, text=True, cwd=REPO, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    problems = [f for f in result["findings"] if f["problem"]]
    assert [(f["host"], f["item"]) for f in problems] == [("client", "ssh")]
    assert "refused" in problems[0]["problem"].lower() and problems[0]["fix"]
    assert any(f["host"] == "server" and f["item"] == "sudo" for f in result["findings"])


def test_bad_client_facts_come_with_fixes() -> None:
    report = Report()
    facts = {
        "os": "Windows-10-10.0.17763-SP0", "python": "3.8.10", "executable": r"C:\py\python.exe",
        "home": r"C:\Users\Jane Doe", "free_disk_gb": 0.5, "code_pages": {"ansi": 1252},
        "proxies": {"http": "http://proxy:3128", "no": "localhost"}, "port_range": [49152, 65535],
        "time_wait": 15000, "time_wait_s": 120, "sleep_overshoot_p95_s": 0.0156, "clock": 1000.0,
    }  # fmt: skip
    clock = ClockOffset.from_reading(facts["clock"], 989.9, 990.1)
    _client_facts(report, facts, clock, server="192.0.2.10")
    problems = {f.item: f for f in report.problems}
    assert set(problems) == {"python", "free disk", "clock offset"}  # a proxy never is one
    assert "+10.0 s off" in problems["clock offset"].problem
    assert "fits ~1384 requests per 120 s" in report.text()


def test_a_host_sharing_our_clock_is_read_within_the_bound(inventory) -> None:
    """The test sshd runs on this machine: its clock is ours, so the offset is 0 ± the bound."""
    with open_session(read_client(inventory)) as session:
        clock = clock_offset(session)
    assert clock.uncertainty_s > 0
    assert abs(clock.offset_s) <= clock.uncertainty_s


# --- the six first-contact failures, each driven by what the host really printed -------


def _inventory(tmp_path: Path, sshd: sshd_tools.Sshd, known_hosts: Path, **client) -> Path:
    """The throwaway sshd as the client (and as the server: its checks only read)."""
    path = sshd_tools.write_inventory(
        tmp_path / "lab.yml", sshd, known_hosts=known_hosts, workdir=tmp_path / "w", extra=client
    )
    data = yaml.safe_load(path.read_text())
    data["all"]["children"]["servers"] = {
        "hosts": {"srv": {"ansible_host": "127.0.0.1", "ansible_port": sshd.port}}
    }
    path.write_text(yaml.safe_dump(data))
    return path


def _problem(report: Report, item: str) -> Finding:
    (found,) = [f for f in report.problems if (f.host, f.item) == ("client", item)]
    return found


@pytest.fixture
def utf16_sshd(tmp_path: Path) -> Iterator[sshd_tools.Sshd]:
    """An sshd whose authorized_keys is what PowerShell 5.1's `echo KEY > file` writes."""
    reason = sshd_tools.unavailable_reason()
    if reason:
        pytest.skip(reason)
    server = sshd_tools.start_sshd(tmp_path / "sshd")
    keys = server.directory / "authorized_keys"
    keys.write_bytes(keys.read_text().replace("\n", "\r\n").encode("utf-16"))  # LE, with BOM
    yield server
    server.stop()


def test_a_utf16_key_file_is_named_first_and_its_fix_works(utf16_sshd, tmp_path) -> None:
    keys = utf16_sshd.directory / "authorized_keys"
    assert keys.read_bytes()[:2] == b"\xff\xfe"  # UTF-16LE's BOM
    known = tmp_path / "known_hosts"
    known.write_text(utf16_sshd.known_hosts_line())
    inventory = _inventory(tmp_path, utf16_sshd, known, bench_client_os="windows")
    found = _problem(run_check(inventory, timeout=5), "ssh")
    assert "refused the key" in found.problem and "authorized_keys?" not in found.problem
    first, second, *_ = found.fix.split("\n2. ")
    assert "UTF-16" in first and "Set-Content -Encoding ascii" in first
    public = utf16_sshd.client_key.with_suffix(".pub").read_text().strip()
    assert public in first  # the exact line to write
    assert '"*S-1-5-32-544:F"' in second and "administrators_authorized_keys" in second
    # What Set-Content -Encoding ascii writes: the line, ASCII, CRLF. sshd now takes the key.
    keys.write_bytes(public.encode("ascii") + b"\r\n")
    after = run_check(inventory, timeout=5)
    assert ("client", "ssh banner") in {(f.host, f.item) for f in after.findings}
    assert not [f for f in after.problems if (f.host, f.item) == ("client", "ssh")]


def test_a_dropped_connection_names_the_firewall_profile_first(sshd, known_hosts, tmp_path) -> None:
    """A full accept queue drops SYNs, as Windows Firewall drops them on a Public network."""
    with socket.create_server(("127.0.0.1", 0), backlog=0) as silent:
        queued = [socket.socket() for _ in range(3)]
        for each in queued:
            each.setblocking(False)
            each.connect_ex(silent.getsockname())
        inventory = _inventory(
            tmp_path, sshd, known_hosts, bench_client_os="windows",
            ansible_port=silent.getsockname()[1],
        )  # fmt: skip
        report = run_check(inventory, timeout=1.5)
        for each in queued:
            each.close()
    found = _problem(report, "ssh")
    assert "timed out" in found.problem
    assert found.fix.startswith("likely causes, most likely first:\n1. Windows Firewall")
    assert "Set-NetFirewallRule -Name OpenSSH-Server-In-TCP -Profile Any" in found.fix
    assert "Get-NetConnectionProfile" in found.fix


def _script(tmp_path: Path, body: str) -> str:
    script = tmp_path / "python3"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


@pytest.mark.parametrize(
    ("python", "expected", "fix"),
    [
        ("/nonexistent/python3", "no Python as '/nonexistent/python3'", "install Python 3.10+"),
        ('if [ "$1" = --version ]; then echo "Python 3.8.10"; exit 0; fi; exit 1',
         "is Python 3.8.10, older than 3.10", "install Python 3.10+"),
        (f'if [ "$1" = --version ]; then exec {sys.executable} --version; fi; exit 3',
         "starts, but the preflight's helper failed on it: exit 3", "not a missing Python"),
    ],
    ids=["missing", "too-old", "starts-but-fails"],
)  # fmt: skip
def test_python_missing_is_told_from_python_failing(
    sshd, known_hosts, tmp_path, python, expected, fix
) -> None:
    command = python if python.startswith("/") else _script(tmp_path, python)
    inventory = _inventory(tmp_path, sshd, known_hosts, bench_client_python=command)
    found = _problem(run_check(inventory, timeout=5), "python")
    assert expected in found.problem
    assert fix in found.fix


class _Ran:
    def __init__(self, stdout: str = "", stderr: str = "", exited: int = 0) -> None:
        self.stdout, self.stderr, self.exited = stdout, stderr, exited


class _WindowsHost:
    """Answers the preflight's Python probes with a Windows client's recorded output."""

    is_windows = True

    def __init__(self, command: list[str], answers: dict[str, _Ran]) -> None:
        self.command, self.answers = command, answers

    def python_command(self) -> list[str]:
        return self.command

    def run(self, argv: list[str], **_: object) -> _Ran:
        return self.answers.get(" ".join(argv[1:]) if argv[0] == "where.exe" else argv[-1], _Ran())


STORE = r"C:\Users\Jane\AppData\Local\Microsoft\WindowsApps\python.exe"
# What the alias stub prints when no Store Python is installed (exit 9009).
STUB = (
    "Python was not found; run without arguments to install from the Microsoft Store, or "
    "disable this shortcut from Settings > Manage App Execution Aliases.\r\n"
)


@pytest.mark.parametrize(
    ("command", "answers", "expected"),
    [
        (["python"], {"python": _Ran(STORE + "\r\n"), "--version": _Ran("", STUB, 9009)},
         "is the App Execution Alias " + STORE),
        (["python"], {"python": _Ran(STORE + "\r\n"),
                      "--version": _Ran("", "The file cannot be accessed by the system.\r\n", 1)},
         "the Microsoft Store Python"),
        (["py", "-3.11"],
         {"py": _Ran(r"C:\Windows\py.exe" + "\r\n"), "--version": _Ran("", "", 103),
          "-0p": _Ran(" -V:3.13 *        C:\\Users\\Jane\\AppData\\Local\\Programs\\Python"
                      "\\Python313\\python.exe\r\n -V:3.12          C:\\Program Files\\Python312"
                      "\\python.exe\r\n")},
         "asks the py launcher for Python 3.11; this host has 3.13, 3.12"),
    ],
    ids=["store-stub", "store-python", "py-version"],
)  # fmt: skip
def test_windows_python_causes_are_told_by_path_and_version(command, answers, expected) -> None:
    host = _WindowsHost(command, answers)
    probe = preflight_python.probe_python(host, "exit 9009: ...")
    problem, fix = preflight_python.python_problem(probe)
    assert expected in problem
    assert "install Python" not in problem
    if command[0] == "py":
        assert fix.startswith("set bench_client_python: py -3.13")
    else:
        assert "App execution aliases" in fix and "python.org" in fix


def test_a_proxy_is_shown_never_a_problem_and_without_its_password() -> None:
    report = Report()
    facts = {
        "os": "Windows-10-10.0.19045-SP0", "python": "3.12.4", "executable": r"C:\py\python.exe",
        "home": r"C:\Users\Jane", "free_disk_gb": 40.0, "code_pages": {"oem": 850},
        "port_range": [49152, 65535], "time_wait": 3, "time_wait_s": 120,
        "sleep_overshoot_p95_s": 0.0006, "clock": 1000.0, "unreadable": {},
        # urllib.request.getproxies() on Windows reads these Internet Settings values:
        "proxies": {"http": "http://jane:S3cret@proxy.corp:3128", "https": "http://proxy.corp:3128"},
        "proxy_registry": {"ProxyEnable": 1, "ProxyServer": "proxy.corp:3128",
                           "ProxyOverride": "<local>;*.corp", "AutoConfigURL": None},
    }  # fmt: skip
    _client_facts(report, facts, ClockOffset.from_reading(1000.0, 999.9, 1000.1), "192.0.2.10")
    assert report.problems == []
    (proxy,) = [f for f in report.findings if f.item == "proxy"]
    assert "proxy.corp:3128" in proxy.value and "S3cret" not in proxy.value
    assert "bench_client's engines connect to the server directly" in proxy.value


class _Cmd:
    """A Windows sshd whose cmd.exe runs an AutoRun that prints (Clink's, here)."""

    def __init__(self, banner: str) -> None:
        self.banner = banner

    def run(self, command: str, **_: object) -> _Ran:
        if command == "echo %OS%":
            return _Ran(f"{self.banner}\r\nWindows_NT\r\n")
        if command == "echo !OS!":
            return _Ran(f"{self.banner}\r\n!OS!\r\n")
        return _Ran(f"{self.banner}\r\n", "'$PSVersionTable.PSVersion.Major' is not ...", 1)


def test_an_autorun_that_prints_is_found_and_named() -> None:
    report = Report()
    host = client_from_hostvars("client", {"ansible_user": "jane", "bench_client_os": "windows"})
    shell, printed = preflight._client_shell(report, _Cmd("Clink v1.7.19 is ready"), host, "c")
    assert shell is Shell.CMD  # told by the answer after the AutoRun's line
    assert printed == ["Clink v1.7.19 is ready"]
    # The AutoRun value Clink's installer writes (chrisant996/clink issue 762).
    value = r'"C:\Program Files (x86)\clink\clink.bat" inject --autorun --profile ~\clink'
    problem, fix = preflight_autorun.autorun_problem(printed, {"HKCU": value, "HKLM": None})
    assert "Clink v1.7.19 is ready" in problem and value in problem
    assert fix.startswith(
        r'for the benchmark account: reg delete "HKCU\Software\Microsoft\Command Processor" '
        "/v AutoRun /f"
    )
    assert "HKLM\\" not in fix.split(" (")[0]


def test_an_unreadable_fact_is_named_not_python(tmp_path) -> None:
    report = Report()
    facts = {
        "os": "Windows-11", "python": "3.12.4", "executable": r"C:\py\python.exe",
        "home": r"C:\Users\Jane", "free_disk_gb": 40.0, "code_pages": {"oem": 932},
        "proxies": {}, "port_range": None, "time_wait": None, "time_wait_s": 120,
        "unreadable": {"time_wait": "OSError: [Errno 87] GetExtendedTcpTable failed"},
        "sleep_overshoot_p95_s": 0.0006, "clock": 1000.0,
    }  # fmt: skip
    _client_facts(report, facts, ClockOffset.from_reading(1000.0, 999.9, 1000.1), "192.0.2.10")
    (found,) = report.problems
    assert found.item == "time wait" and "GetExtendedTcpTable" in found.problem
    assert "--save FILE" in found.fix


def test_save_writes_what_was_seen_without_secrets(sshd, known_hosts, tmp_path) -> None:
    inventory = _inventory(tmp_path, sshd, known_hosts, ansible_become_password="hunter2secret")
    saved = tmp_path / "check.json"
    done = subprocess.run(
        [sys.executable, "-m", "httplab", "check", "-i", str(inventory), "--json",
         "--save", str(saved)],
        capture_output=True, text=True, cwd=REPO, check=False,
    )  # fmt: skip
    assert f"saved what the check saw to {saved}" in done.stderr
    document = json.loads(saved.read_text())
    assert {f["item"] for f in document["findings"] if f["host"] == "client"} >= {"shell", "os"}
    helper = next(s for s in document["seen"] if s["what"] == "python helper")
    assert '"port_range"' in helper["output"]["stdout"]
    text = saved.read_text()
    assert "hunter2secret" not in text
    assert "PRIVATE KEY" not in text
    assert sshd.client_key.read_text().splitlines()[1] not in text


def test_redaction_takes_out_what_may_be_a_secret() -> None:
    private = (
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA\n"
        "-----END OPENSSH PRIVATE KEY-----"
    )
    cleaned = redact({
        "key": private,
        "proxy": "http://jane:S3cret@proxy.corp:3128",
        "env": "GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789 PATH=C:\\Windows",
        "cmd": "--password hunter2 api_key: 'abc123'",
        "kept": [STORE, 49152],
    })  # fmt: skip
    text = json.dumps(cleaned)
    for secret in ("b3BlbnNzaC1rZXktdjEAAAA", "S3cret", "ghp_abc", "abc123"):
        assert secret not in text
    assert "proxy.corp:3128" in cleaned["proxy"]
    assert cleaned["kept"] == [
        r"C:\Users\Jane\AppData\Local\Microsoft\WindowsApps\python.exe",
        49152,
    ]
