"""The preflight on the embedded lab (real hosts, real SSH), and its judgement of bad facts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from orchestrator.remote.inventory import read_client
from orchestrator.remote.preflight import (
    ClockOffset,
    Report,
    _client_facts,
    clock_offset,
    run_check,
)
from orchestrator.remote.session import open_session

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
        [sys.executable, "-m", "orchestrator.remote", "check", "-i", str(broken), "--json"],
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
    assert set(problems) == {"python", "proxy", "free disk", "clock offset"}
    assert "192.0.2.10 to NO_PROXY" in problems["proxy"].fix
    assert "+10.0 s off" in problems["clock offset"].problem
    assert "fits ~1384 requests per 120 s" in report.text()


def test_a_host_sharing_our_clock_is_read_within_the_bound(inventory) -> None:
    """The test sshd runs on this machine: its clock is ours, so the offset is 0 ± the bound."""
    with open_session(read_client(inventory)) as session:
        clock = clock_offset(session)
    assert clock.uncertainty_s > 0
    assert abs(clock.offset_s) <= clock.uncertainty_s
