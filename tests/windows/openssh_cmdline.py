"""The command line Win32-OpenSSH's sshd gives CreateProcessW for an "exec" request.

Written for httplab from a reading of PowerShell/openssh-portable
(contrib/win32/win32compat): ``build_session_commandline`` in 7.7p1, and
``do_exec_no_pty`` with ``build_commandline_string`` from 8.1 on. In short:

7.7p1 (the OpenSSH that Windows 10 and Server 2019 ship)
    ``"<shell>" /c <command>`` for cmd.exe and ``"<shell>" -c <command>`` for
    PowerShell: the command is appended as it came, with no quotes and no
    escaping.

8.1 and later
    cmd.exe: ``"<shell>" /c "<command>"``: quotes added, nothing escaped.
    PowerShell: ``"<shell>" -c <command>`` where the command is escaped for the
    C runtime: a run of backslashes before a double quote is doubled, each
    double quote gets a backslash, and the whole is put in double quotes when
    it holds a space, unless it starts with a single quote. (Backslashes at
    the very end are not doubled before that closing quote.)

A command that starts like ``sftp-server``, ``internal-sftp`` or ``scp`` is
rewritten by sshd; httplab never sends one, so this model refuses them.
"""

from __future__ import annotations

import re

CMD = r"C:\Windows\system32\cmd.exe"  # sshd: GetSystemDirectory + \cmd.exe
POWERSHELL = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
VERSIONS = ("7.7", "8.1")
_REWRITTEN = re.compile(r"(internal-sftp|sftp-server|scp)", re.IGNORECASE)


def _is_cmd(shell: str) -> bool:
    return "system32\\cmd" in shell  # sshd's own test, case and all


def _escape_for_crt(arg: str) -> str:
    """build_commandline_string's escaping of one argument after the program."""
    escaped = re.sub(r'(\\+)(?=")', lambda m: m.group(1) * 2, arg).replace('"', '\\"')
    if " " in arg and not arg.startswith("'"):
        return f'"{escaped}"'
    return escaped


def session_command_line(shell: str, command: str, version: str) -> str:
    """What sshd ``version`` passes to CreateProcessW to run ``command`` in ``shell``."""
    if version not in VERSIONS:
        raise ValueError(f"version must be one of {VERSIONS}, not {version!r}")
    if _REWRITTEN.match(command):
        raise ValueError(f"sshd rewrites commands that start like {command[:14]!r}")
    option = "/c" if _is_cmd(shell) else "-c"
    if version == "7.7":
        return f'"{shell}" {option} {command}'
    if _is_cmd(shell):
        return f'"{shell}" {option} "{command}"'
    return f'"{shell}" {option} {_escape_for_crt(command)}'
