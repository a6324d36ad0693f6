"""Deploy's SFTP paths under Win32-OpenSSH's path rules (tests/remote/win32_sftp.py).

A Linux sftp-server accepts //C:/Users as /C:/Users; Win32-OpenSSH reads it
as the network path \\\\C:\\Users. These tests run the deploy's SFTP steps
against a fake client that applies the Windows rules.
"""

from __future__ import annotations

import hashlib
import json
import ntpath
from pathlib import Path, PureWindowsPath
from types import SimpleNamespace

import pytest

from orchestrator.remote.deploy import client_layout, sftp_makedirs, upload, upload_wheels
from orchestrator.remote.session import sftp_path
from tests.remote.win32_sftp import NetworkPathError, Win32SftpClient, win32_sftp_path

HOME = r"C:\Users\Jane Doe"

# (SFTP path, the Windows path sftp-server uses): the cases checked.
PATH_CASES = [
    ("/C:/Users/Jane Doe", r"C:\Users\Jane Doe"),
    ("//C:/Users", r"\\C:\Users"),  # the old sftp_makedirs bug: a network path
    ("/C:", "C:\\"),
    ("/C:/", "C:\\"),
    ("/", "/"),
    ("/D:/bench dir/venv", r"D:\bench dir\venv"),
    ("/c:/users/jane doe/x", r"c:\users\jane doe\x"),
    ("/Users/Jane Doe", r"C:\Users\Jane Doe"),  # the current drive's root
    ("httplab-client/src", r"C:\Users\Jane Doe\httplab-client\src"),  # relative to home
    ("C:/Users/Jane Doe", r"C:\Users\Jane Doe"),
    ("/C:/Users/x/../Jane Doe/./y", r"C:\Users\Jane Doe\y"),
    ("/C:/Users/Zoë Ünï/日本", r"C:\Users\Zoë Ünï\日本"),
]


@pytest.mark.parametrize(("path", "expected"), PATH_CASES)
def test_win32_sftp_path_rules(path: str, expected: str) -> None:
    assert win32_sftp_path(path, HOME) == expected


def fake_session(client: Win32SftpClient) -> SimpleNamespace:
    def wheel_sums(code: str, directory: str) -> str:
        """What deploy's helper prints: the sha256 of each wheel in ``directory``."""
        folder = directory.lower()
        return json.dumps({
            ntpath.basename(name): hashlib.sha256(data).hexdigest()
            for name, data in client.files.items()
            if ntpath.dirname(name) == folder and name.endswith(".whl")
        })  # fmt: skip

    return SimpleNamespace(
        sftp=client, run_python=wheel_sums, host=SimpleNamespace(label="client (bench@win:22)")
    )


@pytest.mark.parametrize(
    ("workdir", "created"),
    [
        (
            "httplab-client",
            [r"C:\Users\Jane Doe\httplab-client", r"C:\Users\Jane Doe\httplab-client\src"],
        ),
        (r"C:\bench dir", [r"C:\bench dir", r"C:\bench dir\src"]),
    ],
)
def test_makedirs_creates_each_parent_on_the_drive(workdir: str, created: list[str]) -> None:
    client = Win32SftpClient(HOME)
    layout = client_layout(HOME, workdir, is_windows=True)
    sftp_makedirs(fake_session(client), layout.src)
    assert client.created == created
    sftp_makedirs(fake_session(client), layout.src)  # again: nothing to do
    assert client.created == created


def test_deploy_uploads_land_in_the_work_directory(tmp_path: Path) -> None:
    client = Win32SftpClient(HOME)
    session = fake_session(client)
    layout = client_layout(HOME, "httplab-client", is_windows=True)
    module = tmp_path / "cli.py"
    module.write_text("print('hi')\n")
    upload(session, module, layout.package / "cli.py")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "psutil-7.0-cp311-win_amd64.whl").write_bytes(b"wheel")
    assert upload_wheels(session, wheels, layout.wheelhouse) == 1
    assert upload_wheels(session, wheels, layout.wheelhouse) == 0
    assert client.stat(sftp_path(layout.package / "cli.py")).st_size == len("print('hi')\n")
    assert sorted(client.files) == [
        r"c:\users\jane doe\httplab-client\src\bench_client\cli.py",
        r"c:\users\jane doe\httplab-client\wheelhouse\psutil-7.0-cp311-win_amd64.whl",
    ]


def test_the_fake_refuses_a_network_path() -> None:
    """The double slash the old code built is refused, as sftp-server would."""
    client = Win32SftpClient(HOME)
    with pytest.raises(NetworkPathError, match=r"\\\\C:\\Users"):
        client.stat("//C:/Users")
    assert sftp_path(PureWindowsPath(r"C:\Users")) == "/C:/Users"
