"""Before the first real run: what the client and the server are, and what to fix.

    python -m orchestrator.remote check --inventory FILE

`run_check(inventory)` connects to both hosts of the inventory with the
settings the run will use and returns a `Report`: one `Finding` per fact,
and for each problem its cause and the fix. Nothing on either host is changed.
Where a host cannot be logged in to, the problem lists the likely causes in
order (preflight_ssh); a Python that does not run the helper is told apart from
a missing one (preflight_python); a cmd.exe AutoRun that prints is named
(preflight_autorun). Every raw observation is kept in `Report.seen`, which
``--save FILE`` writes out without secrets (preflight_save).
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import fabric
import paramiko

from bench_client import local_ports
from orchestrator.remote import preflight_autorun, preflight_python, preflight_ssh
from orchestrator.remote.errors import RemoteError
from orchestrator.remote.inventory import ClientHost, read_client, read_clients, read_server
from orchestrator.remote.session import (
    ANSWER_TIMEOUT,
    CODE_PAGES_CODE,
    CONNECT_TIMEOUT,
    UTF8_MODE,
    CommandError,
    HostKeyError,
    RemoteSession,
    Shell,
    cmd_delayed_expansion,
    connect,
    detect_shell,
    last_json_line,
    printable,
    python_snippet,
)
from orchestrator.remote.shell import DELAYED_EXPANSION_FIX, build_command

CLOCK_READINGS = 5
# Answers every line it reads with its clock: one reading is bounded by one line's round
# trip, not by the start of an SSH command and a Python (100 ms and more, and lopsided).
_CLOCK_CODE = (
    "import json, sys, time\n"
    "for _ in sys.stdin:\n"
    "    print(json.dumps([time.time()]), flush=True)\n"
)

SAVE_AND_REPORT = "run the check again with --save FILE and attach FILE to a bug report"
MIN_FREE_DISK_GB = 2.0
MAX_CLOCK_OFFSET_S = 1.0
# One tick of Windows' default 15.6 ms timer: coarser than any stock OS.
MAX_SLEEP_OVERSHOOT_S = 0.016

# Run on the client by its own Python (not the venv: it may not exist yet), read from
# stdin: bench_client/local_ports.py's source comes first (its __future__ import must
# lead), and together they are longer than cmd.exe's 8191-character command line.
_CLIENT_CODE = (
    Path(local_ports.__file__).read_text(encoding="utf-8")
    + CODE_PAGES_CODE
    + r"""
import json, os, platform, shutil, time, urllib.request
facts = {"os": platform.platform(), "python": platform.python_version(),
         "executable": sys.executable, "home": os.path.expanduser("~"),
         "code_pages": code_pages, "unreadable": {}}
def attempt(name, read):
    try:
        facts[name] = read()
    except Exception as exc:  # one unreadable fact must not hide the others
        facts[name] = None
        facts["unreadable"][name] = "%s: %s" % (type(exc).__name__, exc)
attempt("free_disk_gb", lambda: round(shutil.disk_usage(facts["home"]).free / 2**30, 1))
attempt("proxies", urllib.request.getproxies)
attempt("port_range", port_range)
attempt("time_wait", time_wait_count)
attempt("time_wait_s", time_wait_seconds)
overshoots = []
for _ in range(40):
    before = time.perf_counter()
    time.sleep(0.001)
    overshoots.append(time.perf_counter() - before - 0.001)
facts["sleep_overshoot_p95_s"] = sorted(overshoots)[37]
if sys.platform == "win32":
    import winreg
    def reg(root, path, name):
        try:
            with winreg.OpenKey(root, path) as key:
                return winreg.QueryValueEx(key, name)[0]
        except OSError:
            return None
    cmd_key = r"Software\Microsoft\Command Processor"
    facts["autorun"] = {"HKCU": reg(winreg.HKEY_CURRENT_USER, cmd_key, "AutoRun"),
                        "HKLM": reg(winreg.HKEY_LOCAL_MACHINE, cmd_key, "AutoRun")}
    inet = r"Software\Microsoft\Windows\CurrentVersion\Internet Settings"
    facts["proxy_registry"] = {name: reg(winreg.HKEY_CURRENT_USER, inet, name) for name in
                               ("ProxyEnable", "ProxyServer", "ProxyOverride", "AutoConfigURL")}
facts["clock"] = time.time()
print(json.dumps(facts))
"""
)
# Runs the code it reads on stdin (a command line carries only this line).
_FROM_STDIN = (
    "import sys\nexec(compile(sys.stdin.buffer.read().decode('utf-8'), 'preflight', 'exec'))\n"
)


@dataclass(frozen=True)
class ClockOffset:
    """A host's clock minus the control node's, read once over SSH.

    The host read its clock somewhere between ``before`` and ``after`` on the control
    node's clock, so the midpoint is the estimate and half the round trip its bound.
    """

    offset_s: float
    uncertainty_s: float

    @classmethod
    def from_reading(cls, host_clock: float, before: float, after: float) -> ClockOffset:
        return cls(host_clock - (before + after) / 2, (after - before) / 2)

    def as_json(self) -> dict[str, float]:
        return {"offset_s": round(self.offset_s, 6), "uncertainty_s": round(self.uncertainty_s, 6)}


def clock_offset(session: RemoteSession, readings: int = CLOCK_READINGS) -> ClockOffset:
    """The host's clock offset to the control node: the tightest of a few readings."""
    argv = [*session.python_command(), *UTF8_MODE, *python_snippet(_CLOCK_CODE)]
    command = build_command(session.shell, argv, delayed_expansion=session.delayed_expansion)
    offsets = []
    try:
        stdin, stdout, _ = session.connection.client.exec_command(command, timeout=ANSWER_TIMEOUT)
        try:
            for _ in range(readings):
                before = time.time()
                stdin.write("\n")
                stdin.flush()
                line = stdout.readline()
                while line and not line.startswith("["):  # a logon script's or profile's output
                    line = stdout.readline()
                offsets.append(ClockOffset.from_reading(json.loads(line)[0], before, time.time()))
        finally:
            stdin.close()  # end of input ends the helper
    except (OSError, paramiko.SSHException, ValueError, IndexError) as exc:
        raise CommandError(f"{session.host.label}: reading its clock failed: {exc}") from None
    return min(offsets, key=lambda reading: reading.uncertainty_s)


@dataclass(frozen=True)
class Finding:
    """One fact about one host; ``problem`` and ``fix`` when it needs attention."""

    host: str
    item: str
    value: str
    problem: str = ""
    fix: str = ""


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    # What the preflight saw, raw: probe outputs, the client's facts, errors (--save).
    seen: list[dict[str, Any]] = field(default_factory=list)

    @property
    def problems(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.problem]

    def add(self, host: str, item: str, value: Any, problem: str = "", fix: str = "") -> None:
        self.findings.append(Finding(host, item, str(value), problem, fix))

    def judge(self, host: str, item: str, value: Any, bad: bool, problem: str, fix: str) -> None:
        """A fact that is a problem, with its fix, only when ``bad``."""
        self.add(host, item, value, problem if bad else "", fix if bad else "")

    def saw(self, host: str, what: str, output: Any) -> None:
        self.seen.append({"host": host, "what": what, "output": output})

    def text(self) -> str:
        """What a person reads: a line per fact, then each problem with its fix."""
        lines = [f"{f.host:<8} {f.item:<18} {f.value}" for f in self.findings]
        if self.problems:
            lines += ["", f"{len(self.problems)} problem(s):"]
            lines += [
                f"- {f.host}: {f.problem}\n  fix: " + f.fix.replace("\n", "\n  ")
                for f in self.problems
            ]
        else:
            lines += ["", "no problems found"]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": not self.problems, "findings": [asdict(f) for f in self.findings]}


def run_check(
    inventory: str | os.PathLike[str], client: str | None = None, timeout: float = CONNECT_TIMEOUT
) -> Report:
    """Check the clients (or ``client``) and the server; never raises for a host's problem.

    ``timeout``: seconds to wait for each host's SSH server.
    """
    report = Report()
    clients = [read_client(inventory, client)] if client else read_clients(inventory)
    server_host = read_server(inventory)
    server_address = str(server_host.hostvars.get("httplab_server_address") or server_host.address)
    for host in clients:  # several clients: each named by its inventory name
        label = "client" if len(clients) == 1 else host.name
        _check_client(report, host, server_address, label, timeout)
    _check_server(report, server_host, timeout)
    return report


def _connect(
    report: Report, host: ClientHost, label: str, timeout: float
) -> fabric.Connection | None:
    try:
        connection = connect(host, timeout)
    except HostKeyError as exc:
        fix = f"compare the host's key fingerprint, then add it to {host.known_hosts}"
        report.add(label, "ssh", "no connection", str(exc), fix)
        return None
    except RemoteError as exc:
        probe = preflight_ssh.probe_tcp(host.address, host.port, timeout)
        report.saw(label, "ssh error", str(exc))
        report.saw(label, "tcp probe", asdict(probe))
        problem, causes = preflight_ssh.ssh_failure(host, str(exc), probe)
        fix = (
            preflight_ssh.causes_text(causes)
            if causes
            else "check ansible_host, ansible_port, ansible_user and the key in the inventory, "
            "and that the host's SSH server runs"
        )
        report.add(label, "ssh", probe.banner or "no connection", problem, fix)
        return None
    report.add(label, "ssh banner", connection.transport.remote_version)
    return connection


def _cmd_autorun_output(
    report: Report, connection: fabric.Connection, host: ClientHost, label: str
) -> list[str] | None:
    """What cmd.exe printed before ``echo %OS%``'s answer; None where cmd.exe did not answer."""
    if host.os == "linux":
        return None
    try:
        result = connection.run(preflight_autorun.CMD_PROBE, hide=True, warn=True, in_stream=False)
    except (OSError, EOFError, paramiko.SSHException):
        return None
    report.saw(label, preflight_autorun.CMD_PROBE, result.stdout)
    return preflight_autorun.lines_before_answer(result.stdout)


def _client_shell(
    report: Report, connection: fabric.Connection, host: ClientHost, label: str
) -> tuple[Shell | None, list[str] | None]:
    """The client's shell (None: unknown, reported) and what an AutoRun printed before."""
    autorun = _cmd_autorun_output(report, connection, host, label)
    try:
        shell = detect_shell(connection, host)
    except RemoteError as exc:
        if autorun:  # cmd.exe answered, behind an AutoRun's lines
            shell = Shell.CMD
        else:
            report.add(label, "shell", "?", str(exc), "set bench_client_shell to the probed "
                       "shell, or remove it")  # fmt: skip
            return None, autorun
    report.add(label, "shell", shell.value)
    return shell, autorun


def _run_client_code(session: RemoteSession, label: str) -> tuple[int, str, str]:
    """Run the preflight's helper, fed on stdin, with the client's Python: exit, out, err."""
    argv = [*session.python_command(), *UTF8_MODE, *python_snippet(_FROM_STDIN)]
    command = build_command(session.shell, argv, delayed_expansion=session.delayed_expansion)
    try:
        stdin, stdout, stderr = session.connection.client.exec_command(
            command, timeout=ANSWER_TIMEOUT
        )
        stdin.write(_CLIENT_CODE.encode())
        stdin.channel.shutdown_write()
        out, err = stdout.read(), stderr.read()
        code = stdout.channel.recv_exit_status()
    except (OSError, paramiko.SSHException) as exc:
        lost = f"{label}: the connection failed while the helper ran: {exc}"
        raise preflight_python.HelperLost(lost) from None
    return code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def _check_client(
    report: Report, host: ClientHost, server_address: str, label: str, timeout: float
) -> None:
    connection = _connect(report, host, label, timeout)
    if connection is None:
        return
    try:
        shell, autorun = _client_shell(report, connection, host, label)
        if shell is None:
            return
        delayed = shell is Shell.CMD and cmd_delayed_expansion(connection, host)
        if shell is Shell.CMD:
            report.add(
                label, "DelayedExpansion", "on" if delayed else "off",
                "cmd.exe DelayedExpansion is on: arguments with '!' are refused" if delayed else "",
                DELAYED_EXPANSION_FIX if delayed else "",
            )  # fmt: skip
        session = RemoteSession(host, connection, shell, delayed_expansion=delayed)
        try:
            read = _client_facts_read(report, session, label)
        finally:
            session.liveness.stop()
        facts, clock = read if read is not None else ({}, None)
        if autorun:
            problem, fix = preflight_autorun.autorun_problem(autorun, facts.get("autorun") or {})
            report.add(label, "cmd.exe AutoRun", "prints text", problem, fix)
        if clock is not None:
            _client_facts(report, facts, clock, server_address, label)
    except preflight_python.HelperLost as exc:
        report.add(label, "ssh", "lost", str(exc), "check the network and run the check again")
    finally:
        connection.close()


def _client_facts_read(
    report: Report, session: RemoteSession, label: str
) -> tuple[dict[str, Any], ClockOffset] | None:
    """The helper's facts and the clock offset they give, or None after reporting why the
    client's Python did not give them."""
    before = time.time()
    code, out, err = _run_client_code(session, label)
    after = time.time()
    report.saw(label, "python helper", {"exit": code, "stdout": out, "stderr": err})
    try:
        facts = last_json_line(out) if code == 0 else None
    except ValueError:
        facts = None
    if isinstance(facts, dict):
        return facts, ClockOffset.from_reading(facts["clock"], before, after)
    tail = printable(err.strip() or out.strip()).splitlines()[-3:]
    probe = preflight_python.probe_python(session, f"exit {code}: {' | '.join(tail)}")
    report.saw(label, "python probe", asdict(probe))
    problem, fix = preflight_python.python_problem(probe)
    report.add(label, "python", " ".join(session.python_command()), problem, fix)
    return None


_CREDENTIALS = re.compile(r"://[^/@\s]+@")


def proxy_text(proxies: dict[str, str], registry: dict[str, Any] | None) -> str:
    """The client's proxy settings for the report (credentials taken out)."""
    shown = [f"{scheme}={_CREDENTIALS.sub('://***@', url)}" for scheme, url in proxies.items()]
    if registry and registry.get("AutoConfigURL"):
        shown.append(f"PAC {registry['AutoConfigURL']}")
    if not shown:
        return "none"
    return (
        ", ".join(shown) + " (not a problem: bench_client's engines connect to the server "
        "directly, ignoring proxies)"
    )


def _client_facts(
    report: Report, facts: dict[str, Any], clock: ClockOffset, server: str, label: str = "client"
) -> None:
    report.add(label, "os", facts["os"])
    old = tuple(int(part) for part in facts["python"].split(".")[:2]) < (3, 10)
    report.judge(
        label, "python", f"{facts['python']} ({facts['executable']})", old,
        "Python is older than 3.10", "install Python 3.10+ and set bench_client_python to it",
    )  # fmt: skip
    pages = " ".join(f"{key}={value}" for key, value in facts["code_pages"].items())
    report.add(label, "code pages", pages)
    unreadable = facts.get("unreadable") or {}
    for name, error in unreadable.items():
        report.add(label, name.replace("_", " "), "unreadable", f"could not read {name}: {error}",
                   SAVE_AND_REPORT)  # fmt: skip
    if facts["port_range"] is not None and facts["time_wait"] is not None:
        low, high = facts["port_range"]
        ports, waiting, hold = high - low + 1, facts["time_wait"], facts["time_wait_s"]
        report.add(
            label, "dynamic ports",
            f"{low}-{high} ({ports}), {waiting} in TIME_WAIT for {hold} s: the constant mode "
            f"fits ~{max(0, ports - waiting)} requests per {hold} s",
        )  # fmt: skip
    elif "port_range" not in unreadable and facts["port_range"] is None:
        report.add(label, "dynamic ports", "netsh gave no range: Windows' default assumed")
    report.add(label, "proxy", proxy_text(facts["proxies"] or {}, facts.get("proxy_registry")))
    if facts.get("free_disk_gb") is not None:
        free, home = facts["free_disk_gb"], facts["home"]
        report.judge(
            label, "free disk", f"{free} GB in {home}", free < MIN_FREE_DISK_GB,
            f"only {free} GB free", f"free at least {MIN_FREE_DISK_GB:g} GB in {home}",
        )  # fmt: skip
    overshoot = facts["sleep_overshoot_p95_s"]
    report.judge(
        label, "timer", f"a 1 ms sleep overshoots by {overshoot * 1e3:.2f} ms (p95)",
        overshoot > MAX_SLEEP_OVERSHOOT_S, "coarse timer: sleeps overshoot",
        "bench_client asks for 1 ms timers and spins the last tick; if times look stepped, "
        "use the High performance power plan",
    )  # fmt: skip
    offset, uncertainty = clock.offset_s, clock.uncertainty_s
    drifted = abs(offset) > MAX_CLOCK_OFFSET_S + uncertainty
    report.judge(
        label, "clock offset", f"{offset:+.3f} s (±{uncertainty:.3f}) to the control node",
        drifted, f"the client's clock is {offset:+.1f} s off",
        "turn on time sync (Windows: w32tm /resync; Linux: timedatectl set-ntp true)",
    )  # fmt: skip


# name -> the command that tells it: (sudo, python, systemd, disk, firewall).
_SERVER_PROBES = {
    "sudo": "sudo -n true",
    "python": "python3 -c 'import platform; print(platform.python_version())'",
    "init": "ps -p 1 -o comm=",
    "free disk": "df -Pk / | tail -1",
    "firewall": "for unit in ufw firewalld nftables; do "
    "printf '%s=%s\\n' $unit $(systemctl is-active $unit 2>/dev/null || true); done",
}


def _check_server(report: Report, host: ClientHost, timeout: float) -> None:
    connection = _connect(report, host, "server", timeout)
    if connection is None:
        return
    out: dict[str, tuple[int, str]] = {}
    try:
        for name, command in _SERVER_PROBES.items():
            result = connection.run(command, hide=True, warn=True, in_stream=False)
            out[name] = (result.exited, result.stdout.strip())
            report.saw("server", command, {"exit": result.exited, "stdout": result.stdout})
    except (OSError, EOFError, paramiko.SSHException) as exc:
        report.add("server", "ssh", "lost", f"connection lost: {exc}", "check the network")
        return
    finally:
        connection.close()
    sudo_ok = out["sudo"][0] == 0 or host.hostvars.get("ansible_become_password") is not None
    report.judge(
        "server", "sudo", "passwordless" if out["sudo"][0] == 0 else "needs a password",
        not sudo_ok, "sudo asks for a password and the inventory has none",
        "give the user passwordless sudo, or run ansible-playbook with --ask-become-pass",
    )  # fmt: skip
    code, version = out["python"]
    report.judge(
        "server", "python", version if code == 0 else "missing", code != 0,
        "no python3 on the server", "apt-get install python3 python3-venv",
    )  # fmt: skip
    init = out["init"][1]
    report.judge(
        "server", "systemd", "PID 1" if init == "systemd" else f"PID 1 is {init!r}",
        init != "systemd", "the stacks run as systemd units, and PID 1 is not systemd",
        "use a host (VM or machine) that boots systemd",
    )  # fmt: skip
    free_gb = round(int(out["free disk"][1].split()[3]) / 2**20, 1)
    report.judge(
        "server", "free disk", f"{free_gb} GB in /", free_gb < MIN_FREE_DISK_GB,
        f"only {free_gb} GB free", f"free at least {MIN_FREE_DISK_GB:g} GB in /",
    )  # fmt: skip
    active = [line.split("=")[0] for line in out["firewall"][1].splitlines()
              if line.endswith("=active")]  # fmt: skip
    report.judge(
        "server", "firewall", ", ".join(active) + " active" if active else "none active",
        bool(active), f"{', '.join(active)} may block the client from the stack ports",
        "allow the client to the stack ports (inventory/group_vars/all/stacks.yml), e.g. "
        "sudo ufw allow from CLIENT to any port 5000:5010 proto tcp",
    )  # fmt: skip
