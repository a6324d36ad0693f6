"""Every Windows command line the project builds, through Wine's cmd.exe and C runtime.

For each case, orchestrator.remote.shell.build_command makes the string an
SSH exec request carries; tests/windows/openssh_cmdline.py turns it into the
command line each form of Win32-OpenSSH gives CreateProcessW (the v7.7.1.0 beta,
7.7.2.x, 8.1 to 9.5); Wine's cmd.exe runs it, and argv_echo.exe, standing in
for python.exe, reports the argv and working directory it received. PowerShell
is not in Wine: for it the transport (powershell.exe's own argv after -c) and the
Process.Start command line inside the base64 script are checked here; PowerShell's parsing of the
decoded script is not (tests/remote/winparse.py models it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from orchestrator.remote.deploy import _RMTREE_CODE, client_layout, pip_install_argv
from orchestrator.remote.guard import guard_command
from orchestrator.remote.session import _FACTS_CODE, UTF8_MODE, python_snippet
from orchestrator.remote.shell import Shell, UnportableArgumentError, build_command
from tests.remote import winparse
from tests.windows import openssh_cmdline
from tests.windows.wine import Ran, Wine

# A stand-in for powershell.exe: sshd only looks for "powershell" in the path.
POWERSHELL = r"C:\Tools\WindowsPowerShell\powershell.exe"

# Profiles of the kind real accounts have: a space, &, (), non-ASCII, an apostrophe.
PROFILES = [r"C:\Users\Jane Doe", r"C:\Users\R&D (Zoë's)"]

# Arguments that break naive quoting; each is sent between two plain ones.
TRICKY_ARGS = [
    "plain", "two words", "", " ", "  two  spaces  ", "tab\there",
    'say "hi"', '"', '""', "it's", "a&b", "a&&b", "a|b", "a<b>c", "(paren)", "^", "^^",
    "caret^&amp", "100%", "%", "%%", "%OS%", "%%OS%%", "%USERPROFILE%", "%PATH:~0,4%",
    "%PATH:~-3%", "%PATH:C=Q%", "%OS:W=w%", "a%OS%b%OS%c", "% OS%", "%NOPE%", "!OS!",
    "hi!", "$HOME $env:USERPROFILE", "`backtick` $(whoami)", "a;b", "a,b=c",
    r"C:\dir with space" + "\\", "C:\\nospace\\", 'back\\"slash', 'a\\\\"b c', "\\\\server\\share",
    r"D:\results\run 1\constant\flask-dev\GET.csv", '{"key": "value"}',
    '{"name": "Jane Doe", "pct": "100%", "cost": "$5"}', "http://127.0.0.1:5001/get?a=1&b=2",
    "ünïcödé", "日本語", "emoji 😀", "‘curly’ “quotes”", "@at", "-X", "--flag=a b",
]  # fmt: skip


def project_commands(profile: str) -> list[tuple[str, list[str], str | None]]:
    """(label, argv, cwd) of every command the Fabric driver sends to a Windows client."""
    layout = client_layout(profile, "httplab-client", is_windows=True)
    base = ["py", "-3.11", *UTF8_MODE]
    wheels = ["--isolated", "--no-index", "--find-links", str(layout.wheelhouse)]
    return [
        ("facts", [*base, *python_snippet(_FACTS_CODE)], None),
        ("rmtree", [*base, *python_snippet(_RMTREE_CODE), str(layout.package)], None),
        ("venv check", layout.python("-c", "pass"), None),
        ("venv", [*base, "-m", "venv", str(layout.venv)], None),
        ("pip", pip_install_argv(layout, wheels), None),
        ("help", layout.python("-m", "bench_client", "--help"), str(layout.src)),
        ("guard", guard_command(layout), str(layout.src)),
    ]


def all_cases() -> list[tuple[str, list[str], str | None]]:
    cases = []
    for index, profile in enumerate(PROFILES):
        cases += [
            (f"p{index}-{label}", argv, cwd) for label, argv, cwd in project_commands(profile)
        ]
    layout = client_layout(PROFILES[0], "httplab-client", is_windows=True)
    program, src = str(layout.venv_python), str(layout.src)
    for index, arg in enumerate(TRICKY_ARGS):
        cases.append((f"arg{index}-{arg[:12]}", [program, "-X", "utf8", "a", arg, "z"], src))
    cases.append(("all-args-at-once", [program, *TRICKY_ARGS], src))
    return cases


CASES = all_cases()
CASE_IDS = [label for label, _, _ in CASES]


def install_programs(wine: Wine) -> None:
    for profile in PROFILES:
        layout = client_layout(profile, "httplab-client", is_windows=True)
        wine.install_echo(str(layout.venv_python))
        wine.make_dir(str(layout.src))
    wine.install_echo(r"C:\windows\py.exe")  # the Python launcher, on PATH
    wine.install_echo(POWERSHELL)


Lines = Callable[[list[str], str | None], Iterator[tuple[str, str]]]


def run_cases(wine: Wine, lines_for: Lines) -> dict[tuple[str, str], Ran]:
    """Every case's (key, command line) pairs from ``lines_for``, run in one Wine batch."""
    install_programs(wine)
    keyed = [
        ((label, key), line)
        for label, argv, cwd in CASES
        for key, line in lines_for(argv, cwd)
    ]  # fmt: skip
    ran = wine.run([line for _, line in keyed])
    return dict(zip([key for key, _ in keyed], ran, strict=True))


def cmd_lines(argv: list[str], cwd: str | None) -> Iterator[tuple[str, str]]:
    """cmd.exe as each form of sshd starts it."""
    command = build_command(Shell.CMD, argv, cwd=cwd)
    for version in openssh_cmdline.FORMS:
        yield version, openssh_cmdline.session_command_line(openssh_cmdline.CMD, command, version)


def powershell_lines(argv: list[str], cwd: str | None) -> Iterator[tuple[str, str]]:
    """powershell.exe as each form of sshd starts it, and the script's Process.Start line."""
    command = build_command(Shell.POWERSHELL, argv, cwd=cwd)
    for version in openssh_cmdline.FORMS:
        yield version, openssh_cmdline.session_command_line(POWERSHELL, command, version)
    start = winparse.ps_process_start(winparse.ps_decode_command(command))
    yield "Process.Start", winparse.net_command_line(start["FileName"], start["Arguments"])


@pytest.fixture(scope="module")
def cmd_results(wine: Wine) -> dict[tuple[str, str], Ran]:
    return run_cases(wine, cmd_lines)


@pytest.fixture(scope="module")
def powershell_results(wine: Wine) -> dict[tuple[str, str], Ran]:
    return run_cases(wine, powershell_lines)


def test_enough_cases() -> None:
    assert len(CASES) >= 50
    assert any("" in argv for _, argv, _ in CASES)  # an empty argument


def test_9_5_builds_the_lines_8_1_does() -> None:
    """So Wine runs each form once: 9.5's command lines are 8.1's for every case."""
    for _, argv, cwd in CASES:
        for shell, program in ((Shell.CMD, openssh_cmdline.CMD), (Shell.POWERSHELL, POWERSHELL)):
            command = build_command(shell, argv, cwd=cwd)
            line = openssh_cmdline.session_command_line(program, command, "8.1")
            assert openssh_cmdline.session_command_line(program, command, "9.5") == line


@pytest.mark.parametrize("version", openssh_cmdline.FORMS)
@pytest.mark.parametrize(("label", "argv", "cwd"), CASES, ids=CASE_IDS)
def test_cmd_delivers_argv_intact(
    cmd_results: dict, label: str, argv: list[str], cwd: str | None, version: str
) -> None:
    ran = cmd_results[(label, version)]
    assert ran.exit_code == 0, ran.stdout
    assert ran.echoed is not None, f"argv_echo did not run: {ran.stdout!r}"
    assert ran.echoed["argv"] == argv[1:]
    if cwd is not None:
        assert ran.echoed["cwd"].lower() == cwd.lower()


@pytest.mark.parametrize(("label", "argv", "cwd"), CASES, ids=CASE_IDS)
def test_powershell_command_and_program_line_arrive_intact(
    powershell_results: dict, label: str, argv: list[str], cwd: str | None
) -> None:
    command = build_command(Shell.POWERSHELL, argv, cwd=cwd)
    for version in openssh_cmdline.FORMS:
        ran = powershell_results[(label, version)]
        assert ran.echoed is not None, ran.stdout
        assert ran.echoed["argv"][0] == "-c"
        assert " ".join(ran.echoed["argv"][1:]) == command  # what powershell.exe runs
    start = winparse.ps_process_start(winparse.ps_decode_command(command))
    assert start["FileName"] == argv[0]
    assert start.get("WorkingDirectory") == cwd
    assert powershell_results[(label, "Process.Start")].echoed["argv"] == argv[1:]


@pytest.mark.parametrize(("label", "argv", "cwd"), CASES, ids=CASE_IDS)
def test_model_agrees_with_wine(
    cmd_results: dict, label: str, argv: list[str], cwd: str | None
) -> None:
    """tests/remote/winparse.py predicts what Wine delivered (on every case here)."""
    command = build_command(Shell.CMD, argv, cwd=cwd)
    env = {"OS": "Windows_NT", "PATH": r"C:\windows\system32", "USERPROFILE": r"C:\users\root"}
    for version in openssh_cmdline.FORMS:
        *_, call = winparse.cmd_commands(winparse.cmd_slash_c(command, version), env)
        predicted = winparse.split_msvcrt(call.removeprefix("@"))[1:]
        assert predicted == cmd_results[(label, version)].echoed["argv"]


def test_old_caret_escaping_is_expanded_by_wine(wine: Wine) -> None:
    """Why % is followed by a quote now: ^% (the old escaping) does not stop expansion.

    On Windows cmd.exe expands %PATH:~0,4^% (the caret is read after the
    numbers); Wine's cmd.exe drops carets before expanding, so even %^OS% expands.
    """
    install_programs(wine)
    program = client_layout(PROFILES[0], "httplab-client", True).venv_python
    old = f'@"{program}" ^%PATH:~0,4^% ^%^OS^%'
    (ran,) = wine.run([openssh_cmdline.session_command_line(openssh_cmdline.CMD, old, "8.1")])
    assert ran.echoed["argv"] == ["C:\\w", "Windows_NT"]


def test_delayed_expansion_would_expand_bang(wine: Wine) -> None:
    """Why '!' is refused when DelayedExpansion is on: ^! is expanded all the same."""
    install_programs(wine)
    program = str(client_layout(PROFILES[0], "httplab-client", True).venv_python)
    command = build_command(Shell.CMD, [program, "!OS!"])
    delayed = f'"{openssh_cmdline.CMD}" /V:ON /c "{command}"'
    (ran,) = wine.run([delayed])
    assert ran.echoed["argv"] == ["Windows_NT"]
    with pytest.raises(UnportableArgumentError, match="DelayedExpansion"):
        build_command(Shell.CMD, [program, "!OS!"], delayed_expansion=True)


@pytest.mark.parametrize("version", openssh_cmdline.FORMS)
def test_shell_probes_answer_in_cmd(wine: Wine, version: str) -> None:
    """The probes session.detect_shell sends: cmd.exe says Windows_NT, DelayedExpansion off."""
    lines = [
        openssh_cmdline.session_command_line(openssh_cmdline.CMD, probe, version)
        for probe in ("echo %OS%", "echo !OS!", "uname -s")
    ]
    os_name, bang, uname = wine.run(lines)
    assert os_name.stdout.strip() == "Windows_NT"
    assert bang.stdout.strip() == "!OS!"
    assert uname.exit_code != 0
