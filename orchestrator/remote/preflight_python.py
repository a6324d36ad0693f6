"""When the client's Python did not run the preflight's helper: which of four causes it was.

Told from what the host shows in any display language (paths, version numbers, the
py launcher's list), never from an error's words:

* the App Execution Alias: the interpreter found is under ``\\WindowsApps\\``, where
  the Microsoft Store Python and the stub that offers to install it live; neither
  starts in an SSH session ("The file cannot be accessed by the system");
* ``py -X.Y`` asking for a version the launcher does not list;
* no Python at all;
* a Python that starts (``--version`` answers): then it is too old, or the helper
  itself failed, and the report says so rather than "install Python".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from orchestrator.remote.errors import RemoteError
from orchestrator.remote.session import MIN_PYTHON, RemoteSession, printable

WINDOWS_APPS = "\\windowsapps\\"
MINIMUM = ".".join(map(str, MIN_PYTHON))
INSTALL = (
    f"install Python {MINIMUM}+ from python.org (tick 'Add python.exe to PATH', or keep the "
    "py launcher) and set bench_client_python to it"
)
STORE_FIX = (
    "install Python from python.org's installer, set bench_client_python to its python.exe "
    r"(e.g. C:\Program Files\Python312\python.exe) or to py -3.12, and turn off python.exe "
    "and python3.exe under Settings > Apps > Advanced app settings > App execution aliases"
)
_REQUESTED = re.compile(r"^-(?:V:)?(\d+\.\d+)(?:-(?:32|64|arm64))?$")
# `py -0p` rows: " -V:3.12 *  C:\...\python.exe" (3.11+ launcher) or " -3.9-64  C:\..." (older).
_LISTED = re.compile(r"^\s*-(?:V:)?(\d+\.\d+)\b", re.MULTILINE)
_VERSION = re.compile(r"\bPython (\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class PythonProbe:
    """What the client showed about the interpreter the inventory names."""

    command: list[str]  # bench_client_python as argv
    failure: str  # why the helper failed (its exit code and last lines)
    located: list[str]  # where.exe / `command -v`: what the name resolves to, in PATH order
    version: str  # `<command> --version`: stdout and stderr, "" if it printed nothing
    launcher: str  # `py -0p`, when the command is the py launcher


class HelperLost(RemoteError):
    """The connection failed while the helper ran: the host, not its Python, is the question."""


def probe_python(session: RemoteSession, failure: str) -> PythonProbe:
    """Ask the client what its Python command is: where it resolves, its --version, py's list."""
    command = session.python_command()
    name = command[0]
    located: list[str] = []
    if not any(sep in name for sep in "/\\"):
        locate = (
            ["where.exe", name]
            if session.is_windows
            else ["sh", "-c", 'command -v "$1"', "sh", name]
        )
        found = session.run(locate, what=f"locating {name}")
        located = printable(found.stdout).split() if found.exited == 0 else []
    answer = session.run([*command, "--version"], what=f"{name} --version")
    launcher = ""
    if requested_version(command) is not None:
        launcher = printable(session.run([name, "-0p"], what="py -0p").stdout)
    version = printable(answer.stdout + answer.stderr)
    return PythonProbe(command, failure, located, version, launcher)


def requested_version(command: list[str]) -> str | None:
    """The X.Y a ``py -X.Y`` command asks for."""
    launcher = command[0].lower().rsplit("\\", 1)[-1] in ("py", "py.exe")
    for word in command[1:] if launcher else []:
        match = _REQUESTED.match(word)
        if match:
            return match.group(1)
    return None


def listed_versions(launcher: str) -> list[str]:
    """The X.Y versions ``py -0p`` lists, in its order."""
    return list(dict.fromkeys(_LISTED.findall(launcher)))


def store_alias(probe: PythonProbe) -> str | None:
    """The WindowsApps path the command runs, if it runs one (first in PATH order)."""
    first = probe.located[0] if probe.located else probe.command[0]
    return first if WINDOWS_APPS in first.lower() else None


def python_problem(probe: PythonProbe) -> tuple[str, str]:
    """The problem and its fix for a helper that did not run."""
    name = " ".join(probe.command)
    alias = store_alias(probe)
    if alias is not None:
        return (
            f"'{name}' is the App Execution Alias {alias}: the Microsoft Store Python, or the "
            "stub that offers to install it, which cannot start in an SSH session",
            STORE_FIX,
        )
    wanted = requested_version(probe.command)
    listed = listed_versions(probe.launcher)
    if wanted is not None and listed and wanted not in listed:
        best = max(listed, key=lambda v: tuple(map(int, v.split("."))))
        return (
            f"'{name}' asks the py launcher for Python {wanted}; this host has {', '.join(listed)}",
            f"set bench_client_python: py -{best} in the inventory (or install Python {wanted})",
        )
    found = _VERSION.search(probe.version)
    if found is None:
        if not probe.located and not listed:
            return f"no Python as '{name}' on the client ({probe.failure})", INSTALL
        where = ", ".join(probe.located) or "the py launcher"
        return (
            f"'{name}' ({where}) does not start: {probe.version.strip() or probe.failure}",
            f"reinstall that Python, or set bench_client_python to one that starts; {INSTALL}",
        )
    version = tuple(int(part) for part in found.groups())
    if version[:2] < MIN_PYTHON:
        return f"'{name}' is Python {found.group(0)[7:]}, older than {MINIMUM}", INSTALL
    return (
        f"Python {found.group(0)[7:]} ('{name}') starts, but the preflight's helper failed "
        f"on it: {probe.failure}",
        "this is not a missing Python: run the check again with --save FILE and attach FILE "
        "to a bug report",
    )
