"""The one function that builds remote command lines: posix sh, cmd.exe, PowerShell."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from orchestrator.remote.shell import (
    Shell,
    UnportableArgumentError,
    build_command,
    quote_windows_arg,
)
from tests.remote import winparse

# Arguments that break naive quoting, each for a reason named beside it.
TRICKY_ARGS = [
    pytest.param("plain", id="plain"),
    pytest.param("two words", id="space"),
    pytest.param("", id="empty"),
    pytest.param('say "hi"', id="double-quotes"),
    pytest.param("it's", id="single-quote"),
    pytest.param("100%", id="percent"),
    pytest.param("%PATH%", id="percent-variable"),
    pytest.param("%%OS%%", id="doubled-percent"),
    pytest.param("$HOME $env:USERPROFILE", id="dollar"),
    pytest.param("`backtick` $(whoami)", id="ps-subexpression"),
    pytest.param(r"C:\Users\Jane Doe\httplab-client\venv\Scripts\python.exe", id="win-path-space"),
    pytest.param("C:\\dir with space\\", id="trailing-backslash-space"),
    pytest.param("C:\\nospace\\", id="trailing-backslash"),
    pytest.param(r"D:\results\run 1\constant\flask-dev\GET.csv", id="drive-letter"),
    pytest.param('back\\"slash', id="backslash-quote"),
    pytest.param('a\\\\"b c', id="backslashes-quote-space"),
    pytest.param("a&b|c<d>e^f(g)h!", id="cmd-operators"),
    pytest.param("a;b", id="semicolon"),
    pytest.param('{"key": "value"}', id="json"),
    pytest.param("tab\there", id="tab"),
    pytest.param("ünïcödé ‘curly’ ’", id="unicode-curly-quotes"),
    pytest.param("http://127.0.0.1:5001/get?a=1&b=2", id="url-query"),
]

WIN_ENV = {
    "PATH": r"C:\Windows\system32",
    "OS": "Windows_NT",
    "USERPROFILE": r"C:\Users\Jane Doe",
    "=C:": "C:\\",
}
PROGRAM = r"C:\Users\Jane Doe\httplab-client\venv\Scripts\python.exe"
CWD = r"C:\Users\Jane Doe\httplab-client\src"


# --- exact expected strings -------------------------------------------------


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("plain", "plain"),
        ("", '""'),
        ("two words", '"two words"'),
        ('say "hi"', r'"say \"hi\""'),
        ("C:\\dir with space\\", '"C:\\dir with space\\\\"'),
        ("C:\\nospace\\", "C:\\nospace\\"),
        ('a\\\\"b', '"a\\\\\\\\\\"b"'),
        ("tab\there", '"tab\there"'),
    ],
)
def test_quote_windows_arg(arg: str, expected: str) -> None:
    assert quote_windows_arg(arg) == expected


@pytest.mark.parametrize(
    ("shell", "argv", "cwd", "expected"),
    [
        (Shell.POSIX, ["python3", "-V"], None, "python3 -V"),
        (
            Shell.POSIX,
            ["venv/bin/python", "-c", "print('$HOME')"],
            "/home/jane doe/x",
            "cd '/home/jane doe/x' && venv/bin/python -c 'print('\"'\"'$HOME'\"'\"')'",
        ),
        (Shell.CMD, ["python", "-V"], None, "python -V"),
        (
            Shell.CMD,
            [PROGRAM, "--out", r"C:\r 1\GET.csv", "100%"],
            CWD,
            'cd /d ^"C:\\Users\\Jane Doe\\httplab-client\\src^" && '
            '"C:\\Users\\Jane Doe\\httplab-client\\venv\\Scripts\\python.exe" '
            '--out ^"C:\\r 1\\GET.csv^" 100^%',
        ),
        (Shell.CMD, ["python", "-c", 'print("a&b")'], None, 'python -c ^"print^(\\^"a^&b\\^"^)^"'),
        (
            Shell.POWERSHELL,
            ["python", "-V"],
            None,
            "$PSNativeCommandArgumentPassing = 'Legacy'; "
            "try { & 'python' '-V' } catch { [Console]::Error.WriteLine($_); exit 255 }; "
            "exit $LASTEXITCODE",
        ),
        (
            Shell.POWERSHELL,
            [PROGRAM, "--payload", '{"key": "value"}', "it's $x"],
            CWD,
            "$PSNativeCommandArgumentPassing = 'Legacy'; "
            "Set-Location -LiteralPath 'C:\\Users\\Jane Doe\\httplab-client\\src' "
            "-ErrorAction Stop; "
            "try { & 'C:\\Users\\Jane Doe\\httplab-client\\venv\\Scripts\\python.exe' '--payload' "
            '\'"{\\"key\\": \\"value\\"}"\' \'"it\'\'s $x"\' } '
            "catch { [Console]::Error.WriteLine($_); exit 255 }; exit $LASTEXITCODE",
        ),
    ],
    ids=["posix", "posix-cwd", "cmd", "cmd-cwd-spaces-percent", "cmd-quotes", "ps", "ps-cwd"],
)
def test_build_command_exact(shell: Shell, argv: list[str], cwd: str | None, expected: str) -> None:
    assert build_command(shell, argv, cwd=cwd) == expected


# --- round trips through the parsers ----------------------------------------


@pytest.mark.parametrize("arg", TRICKY_ARGS)
def test_posix_round_trip_through_real_sh(arg: str) -> None:
    argv = [sys.executable, "-c", "import json, sys; print(json.dumps(sys.argv[1:]))", arg, "x"]
    line = build_command(Shell.POSIX, argv, cwd="/")
    out = subprocess.run(["/bin/sh", "-c", line], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [arg, "x"]


@pytest.mark.parametrize("arg", TRICKY_ARGS)
def test_cmd_round_trip(arg: str) -> None:
    if "\n" in arg:
        pytest.skip("cmd.exe cannot carry a line break")
    line = build_command(Shell.CMD, [PROGRAM, arg, "--end"], cwd=CWD)
    commands = winparse.cmd_commands(winparse.cmd_slash_c(line), WIN_ENV)
    assert len(commands) == 2, commands
    cd, call = commands
    assert winparse.split_msvcrt(cd) == ["cd", "/d", CWD]
    assert winparse.split_msvcrt(call) == [PROGRAM, arg, "--end"]


@pytest.mark.parametrize("version", [5, 7])
@pytest.mark.parametrize("arg", TRICKY_ARGS)
def test_powershell_round_trip(arg: str, version: int) -> None:
    line = build_command(Shell.POWERSHELL, [PROGRAM, arg, "--end"], cwd=CWD)
    script = winparse.sshd_powershell_argument(line)
    assert script == line  # sshd + powershell.exe hand the script over intact
    program, args, cwd = winparse.ps_call_arguments(script)
    assert (program, cwd) == (PROGRAM, CWD)
    command_line = winparse.ps_legacy_command_line(program, args, version=version)
    assert winparse.split_msvcrt(command_line) == [PROGRAM, arg, "--end"]


@pytest.mark.parametrize("shell", list(Shell))
def test_program_path_with_spaces_is_one_word(shell: Shell) -> None:
    line = build_command(shell, [r"C:\Program Files\Python 3.11\python.exe", "-V"])
    if shell is Shell.CMD:
        (call,) = winparse.cmd_commands(winparse.cmd_slash_c(line), WIN_ENV)
        words = winparse.split_msvcrt(call)
    elif shell is Shell.POWERSHELL:
        program, args, _ = winparse.ps_call_arguments(line)
        words = [program, *args]
    else:
        import shlex

        words = shlex.split(line)
    assert words == [r"C:\Program Files\Python 3.11\python.exe", "-V"]


# --- the model itself can fail (so the round trips above mean something) ----


def test_models_reject_naive_quoting() -> None:
    naive = f'"{PROGRAM}" "100%PATH%" a&b'
    with pytest.raises(winparse.CmdSyntaxError):
        winparse.cmd_commands(naive, WIN_ENV)
    assert winparse.cmd_commands(f'"{PROGRAM}" "%PATH%"', WIN_ENV) == [
        f'"{PROGRAM}" "C:\\Windows\\system32"'
    ]
    assert winparse.split_msvcrt('"C:\\dir\\" x') == ['C:\\dir" x']
    assert winparse.ps_legacy_command_line("p", ["a b", ""], version=5) == 'p "a b"'


# --- what cannot be carried is refused, not mangled -------------------------


@pytest.mark.parametrize(
    ("shell", "argv"),
    [
        (Shell.CMD, ["python", "line\nbreak"]),
        (Shell.CMD, [r"C:\100%\python.exe", "-V"]),
        (Shell.CMD, ['C:\\a"b\\python.exe', "-V"]),
    ],
)
def test_unportable_arguments_are_refused(shell: Shell, argv: list[str]) -> None:
    with pytest.raises(UnportableArgumentError):
        build_command(shell, argv)


def test_empty_argv_is_refused() -> None:
    with pytest.raises(ValueError, match="program"):
        build_command(Shell.POSIX, [])
