"""The server roles on the embedded lab's server (real systemd): bad input to
the role fails cleanly, provision converges and is idempotent, verify passes,
stacks_state starts only the stack under test (as does `httplab measure`'s
switch), and stack facts are recorded.

The tests share one lab and run in file order: bad input first (it must leave
the server as it was), then converge, verify and the rest."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ansible_runner
import pytest
import yaml

from orchestrator.server_noise import ServerWatch, lab_hosts
from orchestrator.stack_switch import StackSwitch, StackSwitchError, run_only
from tests.apps.conftest import load_stacks
from tests.foundation.pins import read_pins

pytestmark = pytest.mark.roles

REPO = Path(__file__).resolve().parents[2]
STACKS: list[dict[str, Any]] = yaml.safe_load(
    (REPO / "inventory" / "group_vars" / "all" / "stacks.yml").read_text()
)["httplab_stacks"]
PINS = read_pins(REPO / "requirements" / "server.txt")
FRAMEWORK_PACKAGES = {"flask": "flask", "django": "django", "fastapi": "fastapi"}


@dataclass
class Run:
    status: str
    stats: dict[str, dict[str, int]]
    seconds: float
    failure_messages: list[str]
    ok_messages: list[str]

    def changed(self) -> int:
        return sum(self.stats.get("changed", {}).values())


def run_playbook(
    lab: Any, venv_bin: Path, workdir: Path, playbook: str, extravars: dict[str, Any] | None = None
) -> Run:
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    result = ansible_runner.run(
        private_data_dir=str(workdir),
        project_dir=str(REPO),
        playbook=str(REPO / "playbooks" / playbook),
        inventory=str(lab.inventory_path),
        extravars=extravars or {},
        envvars={
            "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        },
        quiet=True,
    )
    seconds = time.monotonic() - started
    failures, oks = [], []
    for event in result.events:
        data = event.get("event_data", {})
        message = str(data.get("res", {}).get("msg", ""))
        # A looped task reports each failed item, then "One or more items failed".
        if event.get("event") in ("runner_on_failed", "runner_item_on_failed") and not data.get(
            "ignore_errors"
        ):
            failures.append(message)
        elif event.get("event") in ("runner_on_ok", "runner_item_on_ok") and message:
            oks.append(message)
    return Run(result.status, result.stats or {}, seconds, failures, oks)


def finish(lab: Any, venv_bin: Path, workdir: Path, role: str, extravars: dict[str, Any]) -> None:
    """The study's end (benchmark.yml): a role's `finish` entry point, on the server."""
    playbook = workdir / "finish.yml"
    workdir.mkdir(parents=True, exist_ok=True)
    playbook.write_text(
        "- name: Finish\n  hosts: servers\n  gather_facts: false\n  tasks:\n"
        "    - name: After the study\n      ansible.builtin.include_role:\n"
        f"        name: {role}\n        tasks_from: finish\n"
    )
    run = run_playbook(lab, venv_bin, workdir / "runner", str(playbook), extravars)
    assert run.status == "successful", run.failure_messages


def server_state(lab: Any) -> str:
    """What the roles could have installed: files, units, the service user."""
    script = (
        "find /opt/httplab /var/lib/httplab /etc/systemd/system -path '*httplab*'"
        " -printf '%p %s\\n' 2>/dev/null | sort; getent passwd httplab-svc;"
        " systemctl list-units 'httplab-*' --no-legend --plain"
    )
    return lab.server.run("sudo", "-n", "sh", "-c", script, check=False).stdout


@pytest.fixture
def runner_dir(tmp_path: Path) -> Path:
    return tmp_path / "runner"


def _fails_cleanly(
    lab: Any, venv_bin: Path, workdir: Path, extravars: dict[str, Any], expected: list[str]
) -> None:
    before = server_state(lab)
    run = run_playbook(lab, venv_bin, workdir, "provision.yml", extravars)
    assert run.status == "failed", run
    print(f"failure messages: {run.failure_messages}")
    assert any(all(text in message for text in expected) for message in run.failure_messages), (
        f"no failure message says {expected}: {run.failure_messages}"
    )
    assert server_state(lab) == before, "a failed validation must not change the server"


def test_unknown_stack_name_fails_before_install(embedded_lab, venv_bin, runner_dir):
    _fails_cleanly(
        embedded_lab,
        venv_bin,
        runner_dir,
        {"httplab_only_stack": "flask-tornado"},
        ['unknown stack "flask-tornado"', "flask-gunicorn"],
    )


def test_port_clash_fails_before_install(embedded_lab, venv_bin, runner_dir):
    clashing = [dict(stack) for stack in STACKS]
    clashing[1]["port"] = clashing[0]["port"]
    port = clashing[0]["port"]
    names = f"stacks {clashing[0]['name']} and {clashing[1]['name']}"
    _fails_cleanly(
        embedded_lab,
        venv_bin,
        runner_dir,
        {"httplab_stacks": clashing},
        [f"{names} have the same port {port}"],
    )


def test_unknown_server_kind_fails_before_install(embedded_lab, venv_bin, runner_dir):
    broken = [dict(stack) for stack in STACKS]
    broken[0]["server"] = "tornado"
    _fails_cleanly(
        embedded_lab, venv_bin, runner_dir, {"httplab_stacks": broken}, ["server", "tornado"]
    )


def test_missing_wheel_fails_before_install(embedded_lab, venv_bin, runner_dir, tmp_path):
    source = REPO / "wheelhouse" / "server"
    partial = tmp_path / "wheelhouse"
    for python_dir in source.iterdir():
        if python_dir.is_dir():
            shutil.copytree(
                python_dir, partial / python_dir.name, ignore=shutil.ignore_patterns("flask-*")
            )
    _fails_cleanly(
        embedded_lab,
        venv_bin,
        runner_dir,
        {"httplab_wheelhouse_dir": str(partial)},
        ["lacks 1 wheel(s)", f"flask=={PINS['flask']}", "make wheelhouse"],
    )


@pytest.fixture(scope="module")
def converged(embedded_lab, venv_bin, tmp_path_factory) -> tuple[Run, Run]:
    """provision.yml twice: the converge, then the re-run that must change nothing."""
    first = run_playbook(
        embedded_lab, venv_bin, tmp_path_factory.mktemp("converge"), "provision.yml"
    )
    second = run_playbook(embedded_lab, venv_bin, tmp_path_factory.mktemp("rerun"), "provision.yml")
    print(f"\nprovision: converge {first.seconds:.1f} s, re-run {second.seconds:.1f} s")
    return first, second


def test_provision_converges(converged):
    first, _ = converged
    assert first.status == "successful", first.failure_messages
    assert not first.stats.get("failures")


def test_second_provision_changes_nothing(converged):
    _, second = converged
    assert second.status == "successful", second.failure_messages
    assert second.changed() == 0, second.stats


def test_the_servers_wheel_hashes_check(embedded_lab, converged):
    """The stamp the role judges the wheelhouse by lists every wheel, one per line, and checks:
    an unchanged wheelhouse is not copied again on the next run."""
    listed = embedded_lab.server.run(
        "sh", "-c", "cd /opt/httplab/wheelhouse && sha256sum --check --strict WHEELS.sha256"
    )
    local = (REPO / "wheelhouse" / "server" / f"py{_server_python(embedded_lab)}").glob("*.whl")
    assert sorted(line.removesuffix(": OK") for line in listed.stdout.splitlines()) == sorted(
        wheel.name for wheel in local
    )


def test_a_changed_wheel_on_the_server_is_copied_again(
    embedded_lab, venv_bin, converged, runner_dir
):
    """A wheel swapped on the server under its own name is judged by its hash, not its name."""
    (local,) = (REPO / "wheelhouse" / "server" / f"py{_server_python(embedded_lab)}").glob(
        "flask-*.whl"
    )
    remote = f"/opt/httplab/wheelhouse/{local.name}"
    server = embedded_lab.server
    server.run("sudo", "sh", "-c", f"printf tampered >> {remote}")
    run = run_playbook(embedded_lab, venv_bin, runner_dir, "provision.yml")
    assert run.status == "successful", run.failure_messages
    copied = server.run("sha256sum", remote).stdout.split()[0]
    assert copied == hashlib.sha256(local.read_bytes()).hexdigest()


def _server_python(lab: Any) -> str:
    version = "import sys; print('{}.{}'.format(*sys.version_info))"
    return lab.server.run("/usr/bin/python3", "-c", version).stdout.strip()


def test_verify_passes(embedded_lab, venv_bin, converged, runner_dir):
    run = run_playbook(embedded_lab, venv_bin, runner_dir, "verify.yml")
    assert run.status == "successful", run.failure_messages
    exposures = {
        match.group(1): float(match.group(2))
        for message in run.ok_messages
        if (match := re.fullmatch(r"(\S+): exposure ([0-9.]+)", message))
    }
    print(f"\nverify: {run.seconds:.1f} s; exposure per unit: {exposures}")
    assert set(exposures) == {stack["name"] for stack in STACKS}
    assert all(score <= 2.0 for score in exposures.values()), exposures
    probes = [message for message in run.ok_messages if "probes passed" in message]
    assert len(probes) == len(STACKS), probes


def _verify_fails(
    lab: Any, venv_bin: Path, workdir: Path, stack: str, expected: list[str], **extravars: Any
) -> None:
    """verify.yml on one stack fails, and a failure message names the stack and the cause."""
    run = run_playbook(
        lab, venv_bin, workdir, "verify.yml", {"httplab_only_stack": stack, **extravars}
    )
    assert run.status == "failed", run
    print(f"failure messages: {run.failure_messages}")
    assert any(
        message.startswith(stack) and all(text in message for text in expected)
        for message in run.failure_messages
    ), f"no failure message names {stack} and {expected}: {run.failure_messages}"


def test_verify_names_a_stack_that_breaks_the_contract(
    embedded_lab, venv_bin, converged, runner_dir
):
    # The unit accepts bodies up to the provisioned 1 MiB; the probe is told the limit is
    # 1 KiB, so it expects 413 where the stack answers 200, for a body of a declared length
    # and for a chunked one, before or after it is complete.
    stack = STACKS[0]["name"]
    expected = ["failed 3 check(s)", "oversized body -> 413", "oversized chunked body -> 413"]
    _verify_fails(embedded_lab, venv_bin, runner_dir, stack, expected, httplab_max_body_bytes=1024)


def test_verify_names_a_stack_that_is_not_running(embedded_lab, venv_bin, converged, runner_dir):
    stack = STACKS[0]["name"]
    unit = f"httplab-{stack}.service"
    embedded_lab.server.run("sudo", "-n", "systemctl", "stop", unit)
    try:
        _verify_fails(embedded_lab, venv_bin, runner_dir, stack, ["(main PID 0)"])
    finally:
        embedded_lab.server.run("sudo", "-n", "systemctl", "start", unit)


def _active(lab: Any) -> dict[str, str]:
    units = [f"httplab-{stack['name']}.service" for stack in STACKS]
    states = lab.server.run("systemctl", "is-active", *units, check=False).stdout.split()
    return {stack["name"]: state for stack, state in zip(STACKS, states, strict=True)}


def test_stacks_state_runs_only_the_stack_under_test(embedded_lab, venv_bin, converged, tmp_path):
    only = STACKS[1]["name"]
    run = run_playbook(
        embedded_lab, venv_bin, tmp_path / "only", "stacks_state.yml", {"httplab_only_stack": only}
    )
    assert run.status == "successful", run.failure_messages
    states = _active(embedded_lab)
    assert states[only] == "active", states
    assert all(state == "inactive" for name, state in states.items() if name != only), states

    again = run_playbook(
        embedded_lab, venv_bin, tmp_path / "again", "stacks_state.yml", {"httplab_only_stack": only}
    )
    assert again.status == "successful" and again.changed() == 0, again.stats
    print(f"\nstacks_state: {run.seconds:.1f} s, unchanged re-run {again.seconds:.1f} s")

    everything = run_playbook(embedded_lab, venv_bin, tmp_path / "all", "stacks_state.yml")
    assert everything.status == "successful", everything.failure_messages
    assert set(_active(embedded_lab).values()) == {"active"}


def test_httplab_measure_switches_stacks_over_its_server_connection(embedded_lab, converged):
    """The per-group switch benchmark.yml uses: one command, same end state as the role's."""
    first, second = STACKS[0], STACKS[2]
    others = tuple(stack["name"] for stack in STACKS if stack is not second)
    health = f"http://127.0.0.1:{second['port']}/health"  # httplab_bind_address 0.0.0.0
    _, server = lab_hosts(str(embedded_lab.inventory_path))
    with ServerWatch(server) as watch:
        run_only(watch, StackSwitch(stop=others, start=(second["name"],), health_urls=(health,)))
        states = _active(embedded_lab)
        assert states[second["name"]] == "active", states
        assert all(state == "inactive" for name, state in states.items() if name in others)

        # A stack that never answers /health is an error naming the URL, after the timeout.
        silent = f"http://127.0.0.1:{second['port'] + 1000}/health"
        with pytest.raises(StackSwitchError, match=re.escape(silent)):
            run_only(watch, StackSwitch((), (first["name"],), (silent,), timeout_s=2))
        # The stop runs beside the start: a stop that fails fails the switch, the start done.
        with pytest.raises(StackSwitchError, match=re.escape("httplab-no-such-stack.service")):
            run_only(watch, StackSwitch(("no-such-stack",), (second["name"],), (health,)))
    assert _active(embedded_lab)[first["name"]] == "active"


@pytest.mark.parametrize("stack", load_stacks(), ids=lambda stack: stack["name"])
def test_stack_facts_are_recorded(embedded_lab, converged, stack):
    path = f"/opt/httplab/{stack['name']}/stack.json"
    facts = json.loads(embedded_lab.server.run("cat", path).stdout)
    nproc = int(embedded_lab.server.run("nproc").stdout)
    recorded = ("name", "app", "framework", "server", "protocol", "port")
    assert {key: facts[key] for key in recorded} == {key: stack[key] for key in recorded}
    assert facts["lock"] == "requirements/server.txt" and facts["own_app"] is False
    assert facts["url"] == f"http://{embedded_lab.server.address}:{stack['port']}"
    assert facts["workers"] == (1 if stack["server"] == "werkzeug" else nproc)
    package = FRAMEWORK_PACKAGES[stack["framework"]]
    assert facts["versions"][package] == PINS[package]
    # The server kind's own packages, so a report can give the server's version.
    assert facts["server_packages"]
    assert all(package in facts["versions"] for package in facts["server_packages"])
    assert facts["access_log"] is False
    assert 0 < facts["unit_exposure"] <= 2.0


def _tuning_facts(host: Any) -> dict[str, Any]:
    return json.loads(host.run("cat", "/var/lib/httplab/tuning.json").stdout)


def test_tuning_is_applied_recorded_and_removed(embedded_lab, venv_bin, converged, tmp_path):
    on = run_playbook(
        embedded_lab, venv_bin, tmp_path / "on", "provision.yml", {"httplab_tuning_enabled": True}
    )
    assert on.status == "successful", on.failure_messages
    for host in (embedded_lab.server, embedded_lab.client):
        facts = _tuning_facts(host)
        assert facts["enabled"] is True
        assert facts["sysctl"]["net.core.somaxconn"] == "65535"
        assert host.run("cat", "/proc/sys/net/core/somaxconn").stdout.strip() == "65535"
    drop_in = "/etc/systemd/system/httplab-.service.d/90-tuning.conf"
    assert embedded_lab.server.run("test", "-f", drop_in, check=False).returncode == 0

    off = run_playbook(embedded_lab, venv_bin, tmp_path / "off", "provision.yml")
    assert off.status == "successful", off.failure_messages
    for host in (embedded_lab.server, embedded_lab.client):
        assert _tuning_facts(host)["enabled"] is False
    assert embedded_lab.server.run("test", "-e", drop_in, check=False).returncode == 1
    print(f"\ntuning: on {on.seconds:.1f} s, off again {off.seconds:.1f} s")
