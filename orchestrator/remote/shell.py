"""Build one remote command line for the shell that an SSH server runs it in.

An SSH "exec" request carries a single string, and the server hands it to the
login shell: ``sh -c`` on Linux; on Windows, Win32-OpenSSH starts the
DefaultShell with a command line of its own making (docs/traps.md and
tests/windows/openssh_cmdline.py have the details):

* cmd.exe: ``"cmd.exe" /c "<string>"`` (7.7.2.x, which Windows 10 and Server
  2019 ship, and every later release) or ``"cmd.exe" /c <string>`` (the v7.7.1.0
  beta). cmd.exe then
  expands ``%VAR%`` (and ``!VAR!`` when DelayedExpansion is on), acts on
  ``& | < > ( )``, and the program splits what is left with the C runtime's
  rules (CommandLineToArgvW).
* PowerShell: ``powershell.exe -c "<string, quotes backslash-escaped>"``
  (8.1 to 9.5), ``powershell.exe -c "<string>"`` (7.7.2.x) or
  ``powershell.exe -c <string>`` (7.7.1.0): in 7.7.x nothing is escaped, every
  double quote toggles quoting and empty arguments vanish.

`build_command` is the one place that turns an argv list into a string that
survives these layers, so that the program receives exactly the argv it was
given, or refuses, naming the character and the reason.
"""

from __future__ import annotations

import base64
import enum
import re
import shlex
from collections.abc import Sequence


class Shell(enum.Enum):
    """The shell that runs a command on the remote host."""

    POSIX = "posix"
    CMD = "cmd"
    POWERSHELL = "powershell"

    @property
    def is_windows(self) -> bool:
        return self is not Shell.POSIX


class UnportableArgumentError(ValueError):
    """An argument that the target shell cannot pass through unchanged."""


# cmd.exe's metacharacters. Escaping every one of them with ^ (the double
# quote too) keeps cmd out of "quoted" state, so none is ever special and the
# caret is removed before the program sees its command line.
_CMD_META = re.compile(r'([()%!^"<>&|])')
# What _crt_text_for_cmd handles one at a time: whitespace runs, a backslash,
# a quote, a percent sign, and runs of anything else.
_CRT_PIECES = re.compile(r'[ \t]+|\\|"|%|[^ \t\\"%]+')
# PowerShell ends a single-quoted string at any of these; doubling one escapes it.
_PS_SINGLE_QUOTES = re.compile("(['\u2018\u2019\u201a\u201b])")
# Args that CommandLineToArgvW would split or drop unless they are quoted.
_NEEDS_QUOTES = re.compile(r'[\s"]')
_LINE_BREAK = re.compile(r"[\r\n]")

DELAYED_EXPANSION_FIX = (
    r'reg add "HKCU\Software\Microsoft\Command Processor" /v DelayedExpansion '
    "/t REG_DWORD /d 0 /f"
)


def quote_windows_arg(arg: str) -> str:
    """Quote one argument for CommandLineToArgvW (the MS C runtime rules).

    Backslashes are literal unless they precede a double quote; then they are
    doubled, and the quote itself gets one more backslash.
    """
    if arg and not _NEEDS_QUOTES.search(arg):
        return arg
    out = ['"']
    backslashes = 0
    for char in arg:
        if char == "\\":
            backslashes += 1
            continue
        if char == '"':
            out.append("\\" * (2 * backslashes + 1) + '"')
        else:
            out.append("\\" * backslashes + char)
        backslashes = 0
    # Backslashes before the closing quote must not escape it.
    out.append("\\" * (2 * backslashes) + '"')
    return "".join(out)


def windows_command_line(args: Sequence[str]) -> str:
    """The arguments as one C-runtime command line (what follows the program's name)."""
    return " ".join(map(quote_windows_arg, args))


def _cmd_checked(what: str, text: str, delayed_expansion: bool) -> str:
    if _LINE_BREAK.search(text):
        raise UnportableArgumentError(
            f"{what} {text!r} has a line break: cmd.exe ends the command there (refused)"
        )
    if "!" in text and delayed_expansion:
        raise UnportableArgumentError(
            f"{what} {text!r} contains '!', which cmd.exe expands as !VAR! because "
            "DelayedExpansion is on for this client (refused); turn it off "
            f"({DELAYED_EXPANSION_FIX}) or use PowerShell as the DefaultShell"
        )
    return text


def _cmd_program(program: str, delayed_expansion: bool) -> str:
    # The program name is the one token cmd.exe must see inside real quotes
    # (to find "C:\Program Files\...\python.exe", or C:\Users\R&D\...: quoted
    # always, since & ( ) ^ are legal in paths); inside quotes cmd cannot
    # escape % or another quote, so such names are refused.
    _cmd_checked("program path", program, delayed_expansion)
    if re.search(r'["%]', program):
        raise UnportableArgumentError(
            f"program path {program!r} contains a character cmd.exe cannot quote "
            '(" or %) (refused); install Python or the work directory elsewhere'
        )
    return f'"{program}"'


def _crt_text_for_cmd(arg: str) -> str:
    """``arg`` for CommandLineToArgvW, with a double quote right after every %.

    cmd.exe expands %NAME%, %NAME:~n,m% and %NAME:a=b% before anything else
    and no escape stops it (Wine's cmd.exe even drops carets first). A quote
    after the % gives a name no variable has, in both, and the C runtime then
    drops the quote: ``""`` outside quotes is empty. So that the rest stays
    outside quotes, only whitespace runs are quoted (``a" "b``); literal
    quotes are ``\\"``; backslashes are doubled only before a quote.
    """
    if not arg:
        return '""'
    pieces = _CRT_PIECES.findall(arg)
    out: list[str] = []
    backslashes = 0
    for index, piece in enumerate(pieces):
        if piece == "\\":
            backslashes += 1
            continue
        if piece == '"':
            out.append("\\" * (2 * backslashes + 1) + '"')
        elif piece[0] in " \t":
            out.append("\\" * (2 * backslashes) + f'"{piece}"')
        elif piece == "%":
            following = pieces[index + 1] if index + 1 < len(pieces) else ""
            # Whitespace next brings its own opening quote; "" before it would
            # make the C runtime read a literal quote.
            out.append("\\" * backslashes + ("%" if following[:1] in (" ", "\t") else '%""'))
        else:
            out.append("\\" * backslashes + piece)
        backslashes = 0
    out.append("\\" * backslashes)  # trailing: before no quote, so literal
    return "".join(out)


def _cmd_arg(arg: str, delayed_expansion: bool) -> str:
    text = _crt_text_for_cmd(_cmd_checked("argument", arg, delayed_expansion))
    return _CMD_META.sub(r"^\1", text)


def _cmd_cwd(cwd: str, delayed_expansion: bool) -> str:
    # cd is cmd.exe's own command: it takes the path in quotes, with no C
    # runtime after it to remove a quote, so a % cannot be carried.
    _cmd_checked("work directory", cwd, delayed_expansion)
    if "%" in cwd or '"' in cwd:
        raise UnportableArgumentError(
            f"work directory {cwd!r} contains a character cmd.exe's cd cannot take "
            '(" or %) (refused); set bench_client_workdir to a plain path'
        )
    return _CMD_META.sub(r"^\1", f'"{cwd}"')


def _cmd_command(argv: Sequence[str], cwd: str | None, delayed_expansion: bool) -> str:
    program, *args = argv
    call = " ".join(
        [_cmd_program(program, delayed_expansion), *(_cmd_arg(a, delayed_expansion) for a in args)]
    )
    if cwd is None:
        # Never start with a quote: OpenSSH v7.7.1.0 passes the string to /c
        # unwrapped, and cmd.exe would strip the first and the last quote of
        # the line. "@" (no echo) is a no-op that keeps the line quote-free.
        return f"@{call}"
    # cd /d also switches the drive; && skips the program if cd failed.
    return f"cd /d {_cmd_cwd(cwd, delayed_expansion)} && {call}"


def _ps_literal(text: str) -> str:
    return "'" + _PS_SINGLE_QUOTES.sub(r"\1\1", text) + "'"


def powershell_script(argv: Sequence[str], cwd: str | None = None) -> str:
    """The PowerShell script that starts ``argv`` (in ``cwd``) and exits with its code.

    The program is started with System.Diagnostics.Process, not PowerShell's
    own call operator: its output then goes straight to the SSH channel
    (Windows PowerShell 5.1 would wrap each stderr line in a NativeCommandError
    record), and its command line is exactly `windows_command_line` (no
    PowerShell version re-quotes it or drops an empty argument).
    """
    program, *args = argv
    lines = [
        "$start = New-Object System.Diagnostics.ProcessStartInfo",
        f"$start.FileName = {_ps_literal(program)}",
        f"$start.Arguments = {_ps_literal(windows_command_line(args))}",
        "$start.UseShellExecute = $false",
    ]
    if cwd is not None:
        lines.append(f"$start.WorkingDirectory = {_ps_literal(cwd)}")
    lines += [
        "try { $child = [System.Diagnostics.Process]::Start($start) } "
        "catch { [Console]::Error.WriteLine($_.Exception.Message); exit 255 }",
        "$child.WaitForExit()",
        "exit $child.ExitCode",
    ]
    return "\n".join(lines) + "\n"


def powershell_command(script: str) -> str:
    """A PowerShell command that runs ``script``, with no double quote and no space.

    Every Win32-OpenSSH version passes it to ``powershell.exe -c`` intact:
    nothing in it is a quote to toggle or escape, or a space to split at.
    The script travels as base64 of its UTF-8 text.
    """
    encoded = base64.b64encode(script.encode()).decode()
    return f"iex([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('{encoded}')))"


def build_command(
    shell: Shell,
    argv: Sequence[str],
    cwd: str | None = None,
    *,
    delayed_expansion: bool = False,
) -> str:
    """Return the command line that runs ``argv`` (in ``cwd``, if given) under ``shell``.

    The exit status of the command line is that of the program.
    ``delayed_expansion``: cmd.exe's DelayedExpansion is on for the client
    (then a '!' is refused). Raises UnportableArgumentError, naming the
    character and why, for the few strings a shell cannot carry: a line
    break or a '!' under DelayedExpansion for cmd.exe, a quote or % in a
    cmd.exe program path.
    """
    if not argv:
        raise ValueError("argv must name a program")
    if shell is Shell.POSIX:
        line = " ".join(shlex.quote(part) for part in argv)
        return f"cd {shlex.quote(cwd)} && {line}" if cwd is not None else line
    if shell is Shell.CMD:
        return _cmd_command(argv, cwd, delayed_expansion)
    return powershell_command(powershell_script(argv, cwd))
