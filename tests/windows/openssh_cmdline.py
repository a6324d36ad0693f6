"""The command line Win32-OpenSSH's sshd gives CreateProcessW for an "exec" request.

Written for httplab from PowerShell/openssh-portable (contrib/win32/win32compat) at
the release tags: ``build_session_commandline`` (misc.c) in v7.7.1.0 and v7.7.2.0,
``do_exec_no_pty`` (w32-doexec.c) with ``build_commandline_string`` (misc.c) in v8.1.0.0
and v9.5.0.0. Those C functions, compiled once outside this repository, gave the same
command lines as this model for the 192 commands of tests/windows (both shells). Three forms:

v7.7.1.0 (a beta, "7.7.1")
    ``"<shell>" /c <command>`` for cmd.exe and ``"<shell>" -c <command>`` for
    PowerShell: the command appended as it came, no quotes and no escaping.

v7.7.2.x ("7.7.2": the OpenSSH Windows 10 1809+ and Server 2019 ship; its
banner says OpenSSH_for_Windows_7.7)
    ``"<shell>" /c "<command>"`` and ``"<shell>" -c "<command>"``: the command
    in double quotes for every shell ("Add double quotes around command"),
    nothing escaped inside them.

v8.1 to v9.5 ("8.1", "9.5": Windows 11 24H2 and Server 2025 ship 9.5)
    cmd.exe: ``"<shell>" /c "<command>"``: quotes added, nothing escaped.
    PowerShell: ``"<shell>" -c <command>`` where the command is escaped for the
    C runtime: a run of backslashes before a double quote is doubled, each
    double quote gets a backslash, and the whole is put in double quotes when
    it holds a space, unless it starts with a single quote. (Backslashes at
    the very end are not doubled before that closing quote.) v9.5.0.0's
    ``build_commandline_string`` and ``build_exec_command`` are v8.1.0.0's, line for line.

A command that starts like ``sftp-server``, ``internal-sftp`` or ``scp`` is
rewritten by sshd; httplab never sends one, so this model refuses them.
"""

from __future__ import annotations

import re

CMD = r"C:\Windows\system32\cmd.exe"  # sshd: GetSystemDirectory + \cmd.exe
POWERSHELL = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
# Release -> the form its sshd builds (the first release of that form).
FORM_OF = {"7.7.1": "7.7.1", "7.7.2": "7.7.2", "8.1": "8.1", "9.5": "8.1"}
VERSIONS = tuple(FORM_OF)
FORMS = tuple(dict.fromkeys(FORM_OF.values()))  # one release of each form, for Wine
_REWRITTEN = re.compile(r"(internal-sftp|sftp-server|scp)", re.IGNORECASE)


def _is_cmd(shell: str) -> bool:
    return "system32\\cmd" in shell  # sshd's own test, case and all


def _escape_for_crt(arg: str) -> str:
    """build_commandline_string's escaping of one argument after the program."""
    escaped = re.sub(r'(\\+)(?=")', lambda m: m.group(1) * 2, arg).replace('"', '\\"')
    if " " in arg and not arg.startswith("'"):
        return f'"{escaped}"'
    return escaped


def quotes_command(version: str) -> bool:
    """Whether sshd ``version`` puts the command for cmd.exe in double quotes."""
    return FORM_OF[version] != "7.7.1"


def session_command_line(shell: str, command: str, version: str) -> str:
    """What sshd ``version`` passes to CreateProcessW to run ``command`` in ``shell``."""
    if version not in FORM_OF:
        raise ValueError(f"version must be one of {VERSIONS}, not {version!r}")
    if _REWRITTEN.match(command):
        raise ValueError(f"sshd rewrites commands that start like {command[:14]!r}")
    option = "/c" if _is_cmd(shell) else "-c"
    form = FORM_OF[version]
    if form == "7.7.1":
        return f'"{shell}" {option} {command}'
    if form == "7.7.2" or _is_cmd(shell):
        return f'"{shell}" {option} "{command}"'
    return f'"{shell}" {option} {_escape_for_crt(command)}'
