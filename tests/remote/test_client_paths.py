"""Client layout, SFTP paths, the client's command line and the Python helpers, per OS.

The Windows cases cannot run here (no Windows host in CI); they are checked
against exact strings and through the parser models of tests/remote/winparse.py.
The Python helpers that the client runs are executed for real, locally.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path, PurePosixPath, PureWindowsPath

import pytest

from bench_client.guard import sha256_of
from bench_client.request import BUILTIN, Request
from bench_client.results_format import Measurement
from orchestrator.remote.deploy import client_layout, package_files, wheelhouse_subdir
from orchestrator.remote.guard import guard_command
from orchestrator.remote.measure import MeasurementSpec, bench_client_args
from orchestrator.remote.session import ClientPython, python_snippet, sftp_path
from orchestrator.remote.shell import Shell, build_command
from tests.remote import winparse
from tests.remote.helpers import WIN_ENV
from tests.windows import openssh_cmdline


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (PureWindowsPath(r"C:\Users\Jane Doe\httplab-client"), "/C:/Users/Jane Doe/httplab-client"),
        (
            PureWindowsPath(r"D:\bench\venv\httplab-client.stamp"),
            "/D:/bench/venv/httplab-client.stamp",
        ),
        (PureWindowsPath(r"httplab-client\src"), "httplab-client/src"),
        (PurePosixPath("/home/jane doe/httplab-client"), "/home/jane doe/httplab-client"),
    ],
)
def test_sftp_path(path, expected: str) -> None:
    assert sftp_path(path) == expected


@pytest.mark.parametrize(
    ("home", "workdir", "windows", "workdir_expected", "python_expected"),
    [
        ("/home/httplab", "httplab-client", False, "/home/httplab/httplab-client",
         "/home/httplab/httplab-client/venv/bin/python"),
        ("/home/httplab", "/srv/bench", False, "/srv/bench", "/srv/bench/venv/bin/python"),
        (r"C:\Users\Jane Doe", "httplab-client", True, r"C:\Users\Jane Doe\httplab-client",
         r"C:\Users\Jane Doe\httplab-client\venv\Scripts\python.exe"),
        (r"C:\Users\Jane Doe", r"D:\bench dir", True, r"D:\bench dir",
         r"D:\bench dir\venv\Scripts\python.exe"),
    ],
)  # fmt: skip
def test_client_layout(home, workdir, windows, workdir_expected, python_expected) -> None:
    layout = client_layout(home, workdir, windows)
    assert str(layout.workdir) == workdir_expected
    assert str(layout.venv_python) == python_expected
    assert str(layout.package).endswith(("src/bench_client", r"src\bench_client"))


@pytest.mark.parametrize(
    ("version", "platform", "machine", "windows", "expected"),
    [
        ("3.11", "linux", "x86_64", False, "client/py3.11-linux"),
        ("3.12", "win32", "AMD64", True, "client/py3.12-win_amd64"),
        ("3.13", "win32", "ARM64", True, "client/py3.13-win_arm64"),  # make wheelhouse-extra
    ],
)
def test_wheelhouse_subdir(version, platform, machine, windows, expected) -> None:
    python = ClientPython(["python"], version, "/h", platform, machine, code_pages={})
    assert wheelhouse_subdir(python, windows) == expected


@pytest.mark.parametrize(
    ("platform", "machine", "windows", "refused"),
    [("darwin", "x86_64", False, "darwin"), ("linux", "aarch64", False, "aarch64")],
)
def test_wheelhouse_subdir_refuses_other_systems(platform, machine, windows, refused) -> None:
    with pytest.raises(ValueError, match=refused):
        wheelhouse_subdir(ClientPython(["python"], "3.12", "/h", platform, machine, {}), windows)


def test_package_files_leave_out_the_control_node_modules() -> None:
    names = [name for name, _ in package_files()]
    assert "__main__.py" in names and "cli.py" in names
    assert not [name for name in names if name.startswith("remote")]
    assert names == sorted(names)


BODY = '{"name": "Jane Doe", "pct": "100%", "cost": "$5"}'
WINDOWS_SPEC = MeasurementSpec(
    Measurement("constant", "flask-gunicorn", "POST", 3),
    url="http://192.0.2.10:5001",
    out_dir=Path("results/run-1"),
    request=Request.from_json({**BUILTIN["POST"].as_json(), "body": BODY}),
    settings={"iterations": 200},
)


@pytest.mark.parametrize("version", openssh_cmdline.VERSIONS)
@pytest.mark.parametrize("shell", [Shell.CMD, Shell.POWERSHELL])
def test_windows_client_command_survives_the_shell(shell: Shell, version: str) -> None:
    layout = client_layout(r"C:\Users\Jane Doe", "httplab-client", True)
    out = layout.results / "run-1" / "constant" / "flask-gunicorn" / "POST.rep3.csv"
    argv = guard_command(layout)
    line = build_command(shell, argv, cwd=str(layout.src))
    if shell is Shell.CMD:
        cd, call = winparse.cmd_commands(winparse.cmd_slash_c(line, version), WIN_ENV)
        assert winparse.split_msvcrt(cd)[2] == str(layout.src)
        received = winparse.split_msvcrt(call)
    else:
        script = winparse.ps_decode_command(winparse.sshd_powershell_argument(line, version))
        start = winparse.ps_process_start(script)
        assert start["WorkingDirectory"] == str(layout.src)
        received = winparse.split_msvcrt(
            winparse.net_command_line(start["FileName"], start["Arguments"])
        )
    assert received == argv
    assert received[1:3] == ["-X", "utf8"]
    assert received[-2:] == [
        "bench_client.guard",
        r"C:\Users\Jane Doe\httplab-client\bench_client.lock",
    ]
    # bench_client's own arguments go as JSON over the channel, past every shell.
    args = bench_client_args(layout, WINDOWS_SPEC, out)
    assert json.loads(args[args.index("--request") + 1])["body"] == BODY
    assert args[-3:] == [
        "--out",
        r"C:\Users\Jane Doe\httplab-client\results\run-1\constant\flask-gunicorn\POST.rep3.csv",
        "--quiet",
    ]


def test_python_snippet_runs_code_with_quotes_and_newlines(tmp_path: Path) -> None:
    code = 'import sys\nprint("100% \\"quoted\\" $HOME", sys.argv[1:])\n'
    done = subprocess.run(
        [sys.executable, *python_snippet(code), "a b"], capture_output=True, text=True, check=True
    )
    assert done.stdout == "100% \"quoted\" $HOME ['a b']\n"
    # The snippet itself is shell-safe: one base64 word, no quotes to escape.
    assert python_snippet(code)[1].count("'") == 2 and '"' not in python_snippet(code)[1]


def test_the_guard_hashes_what_exists(tmp_path: Path) -> None:
    present = tmp_path / "GET.csv"
    present.write_bytes(b"Iteration,Execution Time (seconds)\n1,0.1\n")
    missing = tmp_path / "GET.meta.json"
    assert sha256_of([str(present), str(missing)]) == {
        str(present): hashlib.sha256(present.read_bytes()).hexdigest()
    }


def test_the_quick_calibration_is_saved_for_reuse_per_mode_and_request() -> None:
    layout = client_layout("/home/jane", "httplab-client", False)
    argv = bench_client_args(layout, WINDOWS_SPEC, layout.results / "run-1" / "GET.csv")
    saved = argv[argv.index("--calibration-file") + 1]
    assert saved.endswith("run-1/calibration/constant.POST.json")
