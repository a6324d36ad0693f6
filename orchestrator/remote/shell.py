"""Build one remote command line for the shell that an SSH server runs it in.

An SSH "exec" request carries a single string, and the server hands it to the
login shell: ``sh -c`` on Linux; on Windows OpenSSH either
``"cmd.exe" /c "<string>"`` or ``powershell.exe -c <string>`` (the DefaultShell).
Each shell re-parses the string its own way, and on Windows the program then
splits its command line again with the C runtime's rules
(CommandLineToArgvW). `build_command` is the one place that turns an argv
list into a string that survives both layers, so that the program receives
exactly the argv it was given: spaces, quotes, ``%``, ``$``, drive letters
and backslashes included.
"""

from __future__ import annotations

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
# PowerShell ends a single-quoted string at any of these; doubling one escapes it.
_PS_SINGLE_QUOTES = re.compile("(['\u2018\u2019\u201a\u201b])")
# Args that CommandLineToArgvW would split or drop unless they are quoted.
_NEEDS_QUOTES = re.compile(r'[\s"]')


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


def _cmd_program(program: str) -> str:
    # The program name is the one token cmd.exe must see inside real quotes
    # (to find "C:\Program Files\...\python.exe"); inside quotes cmd cannot
    # escape % or another quote, so such names are refused.
    if re.search(r'["%!\r\n]', program):
        raise UnportableArgumentError(
            f'program path {program!r} contains a character cmd.exe cannot quote (" % !)'
        )
    return f'"{program}"' if _NEEDS_QUOTES.search(program) else program


def _cmd_arg(arg: str) -> str:
    if "\n" in arg or "\r" in arg:
        raise UnportableArgumentError(f"argument {arg!r} has a line break; cmd.exe ends there")
    return _CMD_META.sub(r"^\1", quote_windows_arg(arg))


def _ps_literal(text: str) -> str:
    return "'" + _PS_SINGLE_QUOTES.sub(r"\1\1", text) + "'"


def _ps_native_arg(arg: str) -> str:
    # Windows PowerShell 5.1 and PowerShell 7 in 'Legacy' argument passing
    # copy an argument verbatim unless it holds whitespace outside double
    # quotes, and add quotes only then. quote_windows_arg's result never has
    # such whitespace (it is either quote-free or fully quoted, inner quotes
    # backslash-escaped), so PowerShell passes it on untouched.
    return _ps_literal(quote_windows_arg(arg))


def build_command(shell: Shell, argv: Sequence[str], cwd: str | None = None) -> str:
    """Return the command line that runs ``argv`` (in ``cwd``, if given) under ``shell``.

    The exit status of the command line is that of the program. Raises
    UnportableArgumentError for the few strings a shell cannot carry (a line
    break for cmd.exe, a quote or % in a cmd.exe program path).
    """
    if not argv:
        raise ValueError("argv must name a program")
    program, *args = argv
    if shell is Shell.POSIX:
        line = " ".join(shlex.quote(part) for part in argv)
        return f"cd {shlex.quote(cwd)} && {line}" if cwd is not None else line
    if shell is Shell.CMD:
        line = " ".join([_cmd_program(program), *map(_cmd_arg, args)])
        # cd /d also switches the drive; && skips the program if cd failed.
        return f"cd /d {_cmd_arg(cwd)} && {line}" if cwd is not None else line
    # PowerShell: pin the argument-passing mode (PowerShell >= 7.3 would
    # otherwise re-quote our quoting; older versions ignore the variable).
    # No global ErrorActionPreference=Stop: Windows PowerShell 5.1 turns a
    # program's stderr lines into error records, and Stop would end the script
    # at the first one. A missing program is caught and exits 255.
    steps = ["$PSNativeCommandArgumentPassing = 'Legacy'"]
    if cwd is not None:
        steps.append(f"Set-Location -LiteralPath {_ps_literal(cwd)} -ErrorAction Stop")
    call = " ".join(["&", _ps_literal(program), *map(_ps_native_arg, args)])
    steps.append(f"try {{ {call} }} catch {{ [Console]::Error.WriteLine($_); exit 255 }}")
    steps.append("exit $LASTEXITCODE")
    return "; ".join(steps)
