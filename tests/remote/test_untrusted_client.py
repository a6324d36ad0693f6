"""Nothing from the client is trusted: its output cannot drive the operator's terminal, and a
file too big to be a result is refused while it is fetched (real sshd, real SFTP)."""

from __future__ import annotations

import io
import queue
from pathlib import Path, PurePosixPath

import pytest

from bench_client.guard import MAX_LINE_BYTES
from orchestrator.remote.guard import RemoteGuard
from orchestrator.remote.inventory import read_client
from orchestrator.remote.measure import ResultTooLargeError, fetch_verified
from orchestrator.remote.session import LinePrefixer, open_session
from tests.remote.conftest import last_json
from tests.remote.helpers import measure_cli, sha256


def test_client_output_reaches_the_terminal_without_escape_codes() -> None:
    terminal = io.StringIO()
    stream = LinePrefixer("[client] ", terminal)
    stream.write("\x1b]0;owned\x07\x1b[2J\x1b[31mred\x1b[0m done\x9b\nnext\x08\tline\n")
    assert terminal.getvalue() == "[client] red done\n[client] next\tline\n"
    assert stream.last_line == "next\tline"


def test_a_file_over_the_cap_is_not_fetched(
    deployed: dict, inventory: Path, contract_url: str, tmp_path: Path
) -> None:
    out_dir = tmp_path / "run-cap"
    done = measure_cli(inventory, out_dir, contract_url)
    assert done.returncode == 0
    local_csv = out_dir / "constant" / "flask-gunicorn" / "GET.csv"
    size = local_csv.stat().st_size
    remote_csv = PurePosixPath(last_json(done.stdout)["remote_csv"])  # this attempt's own name
    copy = tmp_path / "copy" / "GET.csv"
    with open_session(read_client(inventory)) as session:
        too_large = r"testclient.*GET\.[0-9a-f]+\.csv is over 100 bytes"
        with pytest.raises(ResultTooLargeError, match=too_large):
            fetch_verified(session, [(remote_csv, copy, sha256(local_csv))], "cap", max_bytes=100)
        assert not list(copy.parent.iterdir()), "nothing of a refused file is kept"
        fetch_verified(session, [(remote_csv, copy, sha256(local_csv))], "cap", max_bytes=size)
    assert copy.read_bytes() == local_csv.read_bytes()


class _Channel:
    """What RemoteGuard reads an answer from: here, a client that never ends its line."""

    closed = False

    def makefile(self, mode: str) -> io.BytesIO:
        return io.BytesIO(b"{" + b"x" * (MAX_LINE_BYTES + 10))

    def close(self) -> None:
        self.closed = True


def test_a_line_longer_than_any_answer_fails_the_measurement_and_is_not_read_on() -> None:
    guard = RemoteGuard.__new__(RemoteGuard)  # its reader alone, on a channel of our own
    guard.channel, guard.answers = _Channel(), queue.Queue()
    guard.stream = LinePrefixer("[test] ", io.StringIO())
    guard._read()
    assert "over 1048576 bytes" in guard.answers.get_nowait()["error"]
    assert guard.channel.closed
    assert guard.answers.get_nowait() is not None and guard.answers.empty()
