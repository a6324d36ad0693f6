"""Fixtures for the Fabric tests: a real sshd, a contract server, a deployed client."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.remote.deploy import deploy
from orchestrator.remote.inventory import read_client
from orchestrator.remote.session import LinePrefixer, open_session
from tests.remote import sshd as sshd_tools
from tests.remote.contract_server import serving

REPO = Path(__file__).resolve().parents[2]


def run_remote_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``httplab ARGS`` (deploy, check) as the playbook runs it."""
    return subprocess.run(
        [sys.executable, "-m", "httplab", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout,
        check=False,
    )


def measure_one(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """One measurement on the client, as the benchmark makes each (tests/remote/driver.py)."""
    return subprocess.run(
        [sys.executable, "-m", "tests.remote.driver", "one", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout,
        check=False,
    )


def last_json(stdout: str) -> dict:
    lines = stdout.strip().splitlines()
    assert len(lines) == 1, f"expected one JSON line, got {stdout!r}"
    return json.loads(lines[0])


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sshd_tools.Sshd]:
    reason = sshd_tools.unavailable_reason()
    if reason:
        pytest.skip(reason)
    server = sshd_tools.start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def known_hosts(sshd: sshd_tools.Sshd, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kh") / "known_hosts"
    path.write_text(sshd.known_hosts_line())
    return path


@pytest.fixture(scope="session")
def contract_url() -> Iterator[str]:
    with serving() as url:
        yield url


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repo's wheelhouse (make wheelhouse), else the client wheels downloaded once."""
    version = "{}.{}".format(*sys.version_info[:2])
    subdir = Path("client") / f"py{version}-linux"
    if any((REPO / "wheelhouse" / subdir).glob("*.whl")):
        return REPO / "wheelhouse"
    root = tmp_path_factory.mktemp("wheelhouse")
    download = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:",
         "-r", str(REPO / "requirements" / "client.txt"), "-d", str(root / subdir)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if download.returncode != 0:
        pytest.skip(f"no wheelhouse and pip download failed: {download.stderr.strip()[-200:]}")
    return root


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A space in the client's work directory exercises the quoting for real.
    return tmp_path_factory.mktemp("client") / "httplab client"


@pytest.fixture(scope="session")
def inventory(
    sshd: sshd_tools.Sshd,
    known_hosts: Path,
    workdir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    path = tmp_path_factory.mktemp("inventory") / "lab.yml"
    return sshd_tools.write_inventory(path, sshd, known_hosts=known_hosts, workdir=workdir)


@pytest.fixture(scope="session")
def first_deploy(inventory: Path, wheelhouse: Path) -> dict:
    """The first deploy to a fresh work directory, through the CLI."""
    done = run_remote_cli("deploy", "-i", str(inventory), "--wheelhouse", str(wheelhouse))
    assert done.returncode == 0, done.stderr
    return last_json(done.stdout)


@pytest.fixture
def deployed(first_deploy: dict, inventory: Path, wheelhouse: Path) -> dict:
    """An up-to-date client for each test (a no-op unless bench_client changed meanwhile)."""
    with open_session(read_client(inventory)) as session:
        deploy(session, wheelhouse=wheelhouse, log=LinePrefixer("[deploy] "))
    return first_deploy
