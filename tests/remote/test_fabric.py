"""Deploy and measure through real SSH (a throwaway sshd), real Fabric and the real client."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest

from orchestrator.remote.deploy import upload_wheels
from orchestrator.remote.inventory import read_client
from orchestrator.remote.measure import (
    ChecksumMismatchError,
    fetch_verified,
)
from orchestrator.remote.session import UnreachableError, open_session
from orchestrator.remote.shell import Shell
from tests.remote import sshd as sshd_tools
from tests.remote.conftest import last_json, measure_one, run_remote_cli
from tests.remote.helpers import (
    ITERATIONS,
    PREVIOUS_CSV,
    MidRun,
    measure_cli,
    previous_result,
    sha256,
)


def test_probe_finds_posix_shell_and_python(inventory: Path) -> None:
    with open_session(read_client(inventory)) as session:
        assert session.shell is Shell.POSIX  # probed: the inventory names no OS
        assert session.python is not None
        assert session.python.version == "{}.{}".format(*sys.version_info[:2])
        assert session.python.platform == "linux"


@pytest.mark.parametrize(
    "arg",
    ["two words", 'say "hi"', "it's", "100%", "$HOME", "a;b&&c|d", r"C:\dir with space\\", ""],
)
def test_arguments_survive_real_ssh(inventory: Path, arg: str) -> None:
    with open_session(read_client(inventory)) as session:
        result = session.run(
            [*session.python.command, "-c", "import json,sys;print(json.dumps(sys.argv[1:]))",
             arg, "end"],
            cwd="/",
        )  # fmt: skip
    assert result.exited == 0, result.stderr
    assert json.loads(result.stdout) == [arg, "end"]


def test_deploy_then_deploy_again_does_nothing(
    first_deploy: dict, inventory: Path, wheelhouse: Path, workdir: Path
) -> None:
    assert first_deploy["changed"] is True
    assert first_deploy["install_source"] == "wheelhouse"
    assert first_deploy["code_pages"] == {"preferred_encoding": "utf-8"}  # -X utf8 on Linux
    assert first_deploy["workdir"] == str(workdir)
    assert (workdir / "venv" / "bin" / "python").exists()
    assert not list((workdir / "src" / "bench_client").glob("remote*.py"))
    again = run_remote_cli("deploy", "-i", str(inventory), "--wheelhouse", str(wheelhouse))
    assert again.returncode == 0, again.stderr
    second = last_json(again.stdout)
    assert second["changed"] is False
    assert second["digest"] == first_deploy["digest"]
    assert "up to date" in again.stderr


def test_a_wheel_changed_on_the_client_is_copied_again(
    first_deploy: dict, inventory: Path, wheelhouse: Path, workdir: Path
) -> None:
    """Same name, same size, other bytes: judged by sha256, the wheel is replaced."""
    local_dir = wheelhouse / "client" / "py{}.{}-linux".format(*sys.version_info[:2])
    (local,) = local_dir.glob("idna-*.whl")
    copy = workdir / "wheelhouse" / local.name
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    with open_session(read_client(inventory)) as session:
        copied = upload_wheels(session, local_dir, PurePosixPath(copy.parent))
    assert copied == 1
    assert sha256(copy) == sha256(local)


def test_deploy_from_the_index(sshd, known_hosts: Path, tmp_path: Path) -> None:
    """httplab_install_source: index: the client's pip fetches the pinned packages itself."""
    inventory = sshd_tools.write_inventory(
        tmp_path / "lab.yml", sshd, known_hosts=known_hosts, workdir=tmp_path / "index client",
        extra={"httplab_install_source": "index"},
    )  # fmt: skip
    done = run_remote_cli("deploy", "-i", str(inventory))
    assert done.returncode == 0, done.stderr
    result = last_json(done.stdout)
    assert (result["install_source"], result["changed"]) == ("index", True)
    assert not (tmp_path / "index client" / "wheelhouse").exists()
    assert "Successfully installed" in done.stderr or "already satisfied" in done.stderr


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_measure_fetches_verified_files(
    deployed: dict, inventory: Path, contract_url: str, tmp_path: Path, method: str
) -> None:
    out_dir = tmp_path / "results" / "run-1"
    done = measure_cli(inventory, out_dir, contract_url, request=method)
    assert done.returncode == 0, done.stderr
    result = last_json(done.stdout)
    csv_path = out_dir / result["csv"]
    meta_path = out_dir / result["meta"]
    assert result["csv"] == f"constant/flask-gunicorn/{method}.csv"
    assert result["meta"] == f"constant/flask-gunicorn/{method}.meta.json"
    assert result["status"] == "complete"
    assert result["host"] == "testclient"
    low, high = result["client_ports"]["port_range"]  # read on the client before the run
    assert result["client_ports"]["ports"] == high - low + 1
    assert sha256(csv_path) == result["sha256_csv"]
    assert sha256(meta_path) == result["sha256_meta"]
    with csv_path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:2] == ["Iteration", "Execution Time (seconds)"]
    assert len(rows) == ITERATIONS + 1
    assert all(row[2] == "200" and float(row[1]) > 0 for row in rows[1:])
    json.loads(meta_path.read_text())
    assert not [p.name for p in csv_path.parent.iterdir() if p.name.startswith(".")]


def test_a_repetition_and_a_declared_request_reach_the_client_unchanged(
    deployed: dict, inventory: Path, contract_url: str, tmp_path: Path
) -> None:
    out_dir = tmp_path / "run-rep"
    body = {"a b": "it's 100% $HOME", "cmd": "&|<>^%PATH%!x!"}
    declared = {"name": "echo", "method": "POST", "path": "/post", "body": json.dumps(body),
                "expect": {"status": 200, "json": {"received_data": body}}}  # fmt: skip
    done = measure_cli(inventory, out_dir, contract_url, "--repetition", "2",
                       request=json.dumps(declared))  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = last_json(done.stdout)
    assert result["csv"] == "constant/flask-gunicorn/echo.rep2.csv"
    assert result["repetition"] == 2
    meta = json.loads((out_dir / result["meta"]).read_text())
    assert meta["config"]["request"]["body"] == json.dumps(body)  # reached the client unchanged
    assert meta["successes"] == ITERATIONS  # and every echo was checked


def test_not_deployed_is_refused(inventory: Path, contract_url: str, sshd, known_hosts, tmp_path):
    fresh = sshd_tools.write_inventory(
        tmp_path / "fresh.yml", sshd, known_hosts=known_hosts, workdir=tmp_path / "empty"
    )
    done = measure_cli(fresh, tmp_path / "run", contract_url)
    assert done.returncode == 6
    assert "testclient" in done.stderr and "not deployed" in done.stderr
    assert not (tmp_path / "run").exists()


def test_wrong_answers_stop_with_exit_3(
    deployed: dict, inventory: Path, contract_url: str, tmp_path: Path
) -> None:
    wrong = {"name": "GET", "method": "GET", "path": "/nope"}
    done = measure_cli(inventory, tmp_path / "run", contract_url, request=json.dumps(wrong))
    assert done.returncode == 3
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith("error: testclient")
    assert "flask-gunicorn" in message and "404" in message
    assert not (tmp_path / "run" / "constant" / "flask-gunicorn" / "GET.csv").exists()


def test_refused_client_arguments_exit_2(
    deployed: dict, inventory: Path, contract_url: str, tmp_path: Path
) -> None:
    rate = measure_one("-i", str(inventory), "--stack", "flask-gunicorn", "--url", contract_url,
                       "--mode", "rate", "--out-dir", str(tmp_path / "run"))  # fmt: skip
    assert rate.returncode == 2  # no rate for the rate mode: bench_client refuses, exit 2
    assert "flask-gunicorn" in rate.stderr and "--rate" in rate.stderr


def test_changed_host_key_is_refused(sshd, tmp_path: Path, contract_url: str) -> None:
    other_key = sshd_tools.keygen(tmp_path / "impostor")
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(sshd.known_hosts_line(other_key))
    inventory = sshd_tools.write_inventory(
        tmp_path / "lab.yml", sshd, known_hosts=known_hosts, workdir=tmp_path / "w"
    )
    done = run_remote_cli("deploy", "-i", str(inventory), "--index")
    assert done.returncode == 4
    assert "testclient" in done.stderr and "HOST KEY CHANGED" in done.stderr
    assert known_hosts.read_text() == sshd.known_hosts_line(other_key)  # nothing learned


def test_unknown_host_key_is_refused(sshd, tmp_path: Path) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    inventory = sshd_tools.write_inventory(
        tmp_path / "lab.yml", sshd, known_hosts=known_hosts, workdir=tmp_path / "w"
    )
    done = run_remote_cli("deploy", "-i", str(inventory), "--index")
    assert done.returncode == 4
    assert "testclient" in done.stderr and "host key unknown" in done.stderr
    assert known_hosts.read_text() == ""


def test_silent_port_is_unreachable(sshd, known_hosts: Path, tmp_path: Path) -> None:
    """Something listens but never speaks SSH (a hung sshd, the wrong service)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        inventory = sshd_tools.write_inventory(
            tmp_path / "lab.yml", sshd, known_hosts=known_hosts, workdir=tmp_path / "w",
            port=silent.getsockname()[1],
        )  # fmt: skip
        with pytest.raises(UnreachableError, match=r"testclient.*no SSH handshake"):
            open_session(read_client(inventory), timeout=2)


def test_missing_client_python(sshd, known_hosts: Path, tmp_path: Path) -> None:
    inventory = sshd_tools.write_inventory(
        tmp_path / "lab.yml", sshd, known_hosts=known_hosts, workdir=tmp_path / "w",
        extra={"bench_client_python": "/nonexistent/python3"},
    )  # fmt: skip
    done = run_remote_cli("deploy", "-i", str(inventory), "--index")
    assert done.returncode == 1
    assert "testclient" in done.stderr and "/nonexistent/python3" in done.stderr
    assert "set bench_client_python" in done.stderr


def test_unreachable_client(sshd, known_hosts: Path, tmp_path: Path, contract_url: str) -> None:
    inventory = sshd_tools.write_inventory(
        tmp_path / "lab.yml", sshd, known_hosts=known_hosts, workdir=tmp_path / "w",
        port=sshd_tools.free_port(),
    )  # fmt: skip
    done = measure_cli(inventory, tmp_path / "run", contract_url)
    assert done.returncode == 4
    assert "testclient" in done.stderr and "refused" in done.stderr.lower()
    assert len(done.stderr.strip().splitlines()) == 1


def test_checksum_mismatch_keeps_nothing(
    deployed: dict, inventory: Path, contract_url: str, tmp_path: Path
) -> None:
    out_dir = tmp_path / "run-sum"
    done = measure_cli(inventory, out_dir, contract_url)
    assert done.returncode == 0
    local_csv = out_dir / "constant" / "flask-gunicorn" / "GET.csv"
    before = local_csv.read_bytes()
    with open_session(read_client(inventory)) as session:
        remote_csv = PurePosixPath(last_json(done.stdout)["remote_csv"])
        right = sha256(local_csv)
        wrong = hashlib.sha256(b"not the file").hexdigest()
        with pytest.raises(ChecksumMismatchError, match=r"testclient.*sha256 of GET\.csv differs"):
            fetch_verified(session, [(remote_csv, local_csv, wrong)], "stack flask-gunicorn")
        assert local_csv.read_bytes() == before
        assert sorted(p.name for p in local_csv.parent.iterdir()) == ["GET.csv", "GET.meta.json"]
        copy = tmp_path / "copy.csv"
        fetch_verified(session, [(remote_csv, copy, right)], "stack flask-gunicorn")
        assert copy.read_bytes() == before


@pytest.fixture
def full_disk(tmp_path: Path):
    """A tiny tmpfs, filled up: the control node's results disk with no space left."""
    mountpoint = tmp_path / "small"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mountpoint)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", str(mountpoint)], check=True)


def test_full_results_disk(
    deployed: dict, inventory: Path, contract_url: str, full_disk: Path
) -> None:
    out_dir = full_disk / "run-full"
    collected = previous_result(out_dir)
    with contextlib.suppress(OSError), (full_disk / "filler").open("wb") as filler:
        while True:
            filler.write(b"x" * 4096)
            filler.flush()
    done = measure_cli(inventory, out_dir, contract_url)
    assert done.returncode == 1
    message = done.stderr.strip().splitlines()[-1]
    assert "testclient" in message and "flask-gunicorn" in message
    assert "No space left on device" in message
    assert collected.read_text() == PREVIOUS_CSV
    assert not (out_dir / "constant" / "flask-gunicorn").exists() or not list(
        (out_dir / "constant" / "flask-gunicorn").iterdir()
    )


def test_client_dying_mid_run(
    deployed: dict, inventory: Path, contract_url: str, sshd, tmp_path: Path
) -> None:
    run = MidRun(inventory, contract_url, tmp_path / "run-die", sshd, answer_timeout=60)
    sessions = sshd.session_processes()
    for session_pid in sessions:
        os.kill(session_pid, signal.SIGKILL)  # the connection dies, not (yet) the client
    try:
        error = run.connection_lost()
    finally:
        run.clean_up(sessions)
    assert "(the channel closed before its answer)" in error


def test_client_that_stops_answering(
    deployed: dict, inventory: Path, contract_url: str, sshd, tmp_path: Path
) -> None:
    run = MidRun(inventory, contract_url, tmp_path / "run-hang", sshd, answer_timeout=4)
    frozen = run.sshd_processes()
    for pid in frozen:  # TCP stays up (the kernel still ACKs); SSH goes silent
        os.kill(pid, signal.SIGSTOP)
    try:
        error = run.connection_lost()
    finally:
        run.clean_up(frozen)
    assert "the client stopped answering for 4 s" in error
