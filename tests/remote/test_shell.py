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
    powershell_script,
    quote_windows_arg,
)
from tests.remote import winparse
from tests.remote.helpers import WIN_ENV
from tests.windows import openssh_cmdline

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
        (Shell.CMD, ["python", "-V"], None, '@"python" -V'),
        (
            Shell.CMD,
            [PROGRAM, "--out", r"C:\r 1\GET.csv", "100%"],
            CWD,
            'cd /d ^"C:\\Users\\Jane Doe\\httplab-client\\src^" && '
            '"C:\\Users\\Jane Doe\\httplab-client\\venv\\Scripts\\python.exe" '
            '--out C:\\r^" ^"1\\GET.csv 100^%^"^"',
        ),
        (Shell.CMD, ["python", "-c", 'print("a&b")'], None, '@"python" -c print^(\\^"a^&b\\^"^)'),
        (Shell.CMD, ["python", "%PATH:~0,4%"], None, '@"python" ^%^"^"PATH:~0,4^%^"^"'),
        (Shell.CMD, [r"C:\Users\R&D\python.exe", "-V"], None, '@"C:\\Users\\R&D\\python.exe" -V'),
    ],
    ids=["posix", "posix-cwd", "cmd", "cmd-cwd-spaces-percent", "cmd-quotes", "cmd-substring",
         "cmd-ampersand-program"],
)  # fmt: skip
def test_build_command_exact(shell: Shell, argv: list[str], cwd: str | None, expected: str) -> None:
    assert build_command(shell, argv, cwd=cwd) == expected


def test_powershell_script_exact() -> None:
    argv = [PROGRAM, "--payload", '{"key": "value"}', "it's $x", ""]
    assert powershell_script(argv, CWD) == (
        "$start = New-Object System.Diagnostics.ProcessStartInfo\n"
        "$start.FileName = 'C:\\Users\\Jane Doe\\httplab-client\\venv\\Scripts\\python.exe'\n"
        '$start.Arguments = \'--payload "{\\"key\\": \\"value\\"}" "it\'\'s $x" ""\'\n'
        "$start.UseShellExecute = $false\n"
        "$start.WorkingDirectory = 'C:\\Users\\Jane Doe\\httplab-client\\src'\n"
        "try { $child = [System.Diagnostics.Process]::Start($start) } "
        "catch { [Console]::Error.WriteLine($_.Exception.Message); exit 255 }\n"
        "$child.WaitForExit()\n"
        "exit $child.ExitCode\n"
    )


def test_powershell_command_has_no_quote_or_space() -> None:
    command = build_command(Shell.POWERSHELL, [PROGRAM, 'say "hi"', "", "a b"], cwd=CWD)
    assert not set(command) & set(' \t"')
    assert winparse.ps_decode_command(command) == powershell_script(
        [PROGRAM, 'say "hi"', "", "a b"], CWD
    )


# --- round trips through the parsers ----------------------------------------


@pytest.mark.parametrize("arg", TRICKY_ARGS)
def test_posix_round_trip_through_real_sh(arg: str) -> None:
    argv = [sys.executable, "-c", "import json, sys; print(json.dumps(sys.argv[1:]))", arg, "x"]
    line = build_command(Shell.POSIX, argv, cwd="/")
    out = subprocess.run(["/bin/sh", "-c", line], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [arg, "x"]


@pytest.mark.parametrize("version", openssh_cmdline.VERSIONS)
@pytest.mark.parametrize("arg", TRICKY_ARGS)
def test_cmd_round_trip(arg: str, version: str) -> None:
    line = build_command(Shell.CMD, [PROGRAM, arg, "--end"], cwd=CWD)
    commands = winparse.cmd_commands(winparse.cmd_slash_c(line, version), WIN_ENV)
    assert len(commands) == 2, commands
    cd, call = commands
    assert winparse.split_msvcrt(cd) == ["cd", "/d", CWD]
    assert winparse.split_msvcrt(call) == [PROGRAM, arg, "--end"]


@pytest.mark.parametrize("version", openssh_cmdline.VERSIONS)
@pytest.mark.parametrize("arg", TRICKY_ARGS)
def test_powershell_round_trip(arg: str, version: str) -> None:
    line = build_command(Shell.POWERSHELL, [PROGRAM, arg, "--end"], cwd=CWD)
    assert winparse.sshd_powershell_argument(line, version) == line  # arrives intact
    start = winparse.ps_process_start(winparse.ps_decode_command(line))
    assert (start["FileName"], start["WorkingDirectory"]) == (PROGRAM, CWD)
    command_line = winparse.net_command_line(start["FileName"], start["Arguments"])
    assert winparse.split_msvcrt(command_line) == [PROGRAM, arg, "--end"]


@pytest.mark.parametrize("shell", list(Shell))
def test_program_path_with_spaces_is_one_word(shell: Shell) -> None:
    line = build_command(shell, [r"C:\Program Files\Python 3.11\python.exe", "-V"])
    if shell is Shell.CMD:
        (call,) = winparse.cmd_commands(winparse.cmd_slash_c(line, "8.1"), WIN_ENV)
        words = winparse.split_msvcrt(call.removeprefix("@"))
    elif shell is Shell.POWERSHELL:
        start = winparse.ps_process_start(winparse.ps_decode_command(line))
        words = winparse.split_msvcrt(winparse.net_command_line(start["FileName"], "-V"))
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
    # A caret after the name does not stop a substring (the old escaping).
    assert winparse.cmd_expand("^%PATH:~0,4^%", WIN_ENV) == "^C:\\W"
    assert winparse.cmd_slash_c('"a b" "c"', "7.7.1") == 'a b" "c'
    assert winparse.split_msvcrt('"C:\\dir\\" x') == ['C:\\dir" x']
    # 7.7.x hands PowerShell a quoted argument with its quotes removed (7.7.2 adds a pair of
    # its own, unescaped): why httplab's PowerShell command holds no quote.
    for version in ("7.7.1", "7.7.2"):
        argument = winparse.sshd_powershell_argument("print('a b' \"c\")", version)
        assert argument == "print('a b' c)"


# --- what cannot be carried is refused, not mangled -------------------------


@pytest.mark.parametrize(
    ("shell", "argv", "why"),
    [
        (Shell.CMD, ["python", "line\nbreak"], "line break"),
        (Shell.CMD, [r"C:\100%\python.exe", "-V"], "cannot quote"),
        (Shell.CMD, ['C:\\a"b\\python.exe', "-V"], "cannot quote"),
    ],
)
def test_unportable_arguments_are_refused(shell: Shell, argv: list[str], why: str) -> None:
    with pytest.raises(UnportableArgumentError, match=why):
        build_command(shell, argv)


def test_bang_is_refused_under_delayed_expansion() -> None:
    argv = ["python", "-c", "print('hi!')"]
    assert build_command(Shell.CMD, argv) == "@\"python\" -c print^('hi^!'^)"
    with pytest.raises(UnportableArgumentError, match=r"DelayedExpansion is on.*refused"):
        build_command(Shell.CMD, argv, delayed_expansion=True)


def test_percent_in_cmd_work_directory_is_refused() -> None:
    with pytest.raises(UnportableArgumentError, match=r"work directory.*cd cannot"):
        build_command(Shell.CMD, ["python", "-V"], cwd=r"C:\100%")


def test_empty_argv_is_refused() -> None:
    with pytest.raises(ValueError, match="program"):
        build_command(Shell.POSIX, [])
