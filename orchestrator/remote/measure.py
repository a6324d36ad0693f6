"""Run one measurement on the client host and fetch its files back, verified.

bench_client writes ``<workdir>/results/<run-id>/<mode>/<stack>/<NAME>.csv``
and ``<NAME>.meta.json`` on the client; both are hashed there, copied over
SFTP to a temporary file beside their destination in
``results/<run-id>/<mode>/<stack>/``, hashed again here, and only when both
match moved into place (meta first, CSV last: a CSV present means its
measurement is complete). Nothing else in the results directory is touched.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from bench_client.documents import Status
from bench_client.request import Request
from bench_client.results_format import (
    SWEEP_MODE,
    ExitCode,
    Measurement,
    check_name,
    sha256_file,
)
from bench_client.settings import client_argv
from orchestrator.remote import ports, sweep_steps
from orchestrator.remote.deploy import ClientLayout
from orchestrator.remote.guard import ClientFailedError, RemoteGuard
from orchestrator.remote.session import (
    LinePrefixer,
    RemoteError,
    RemoteSession,
    sftp_path,
)

_UMASK = os.umask(0)
os.umask(_UMASK)
_FILE_MODE = 0o666 & ~_UMASK


class ClientArgumentsError(RemoteError):
    """bench_client refused its arguments or could not write its output (its exit 2)."""

    exit_code = ExitCode.USAGE


class FirstRequestFailedError(RemoteError):
    """The stack's first answer was wrong or missing (bench_client's exit 3)."""

    exit_code = ExitCode.FIRST_REQUEST_FAILED


class ChecksumMismatchError(RemoteError):
    exit_code = ExitCode.CHECKSUM_MISMATCH


class ResultTooLargeError(RemoteError):
    """A file on the client is bigger than any result could be; it is not fetched."""


# A million requests make a CSV of about 60 MB: anything past this is not a result.
MAX_FETCH_BYTES = 512 * 1024**2


class MeasurementInterrupted(RemoteError):
    """bench_client was interrupted; what it measured was still fetched (``fetched``)."""

    exit_code = ExitCode.INTERRUPTED

    def __init__(self, message: str, fetched: Fetched | None, *others: Fetched) -> None:
        super().__init__(message)
        self.fetched = fetched
        self.others = others  # the paired design: the other stacks measured together


@dataclass(frozen=True)
class MeasurementSpec:
    """One measurement to make: which cell, against which URL, with which settings (a run's,
    or one client host's share of them), and where its files go."""

    measurement: Measurement
    url: str
    out_dir: Path  # results/<run-id>
    request: Request
    settings: Mapping[str, Any] = field(default_factory=dict)  # bench_client.settings' values
    seed: int | None = None  # the paired design's order of blocks
    start_at: float | None = None  # several client hosts: the agreed start, on this host's clock

    def __post_init__(self) -> None:
        check_name("run id", self.run_id)

    @property
    def run_id(self) -> str:
        return self.out_dir.resolve().name


@dataclass(frozen=True)
class Fetched:
    """A measurement's files, fetched from the client and checked against its sha256."""

    measurement: Measurement
    sha256_csv: str
    sha256_meta: str
    status: Status  # complete or interrupted
    message: str
    host: str
    remote_csv: str
    seconds: float
    client_ports: dict  # the client's port budget just before (orchestrator.remote.ports)

    def as_json(self) -> dict[str, object]:
        return {
            **vars(self.measurement),
            "csv": self.measurement.csv,
            "meta": self.measurement.meta,
            "sha256_csv": self.sha256_csv,
            "sha256_meta": self.sha256_meta,
            "status": self.status,
            "message": self.message,
            "host": self.host,
            "remote_csv": self.remote_csv,
            "seconds": self.seconds,
            "client_ports": self.client_ports,
        }


def fetch_verified(
    session: RemoteSession,
    files: Sequence[tuple[PurePath, Path, str]],
    context: str,
    max_bytes: int = MAX_FETCH_BYTES,
) -> None:
    """Download each (remote, local, expected sha256); move all into place only if all match.

    Each download goes to a temporary file in its destination directory, so
    the final rename is atomic and an existing file is replaced whole or
    not at all. A file over ``max_bytes`` is refused while it is copied. On
    any failure the temporary files are removed.
    """

    def within_limit(copied: int, size: int) -> None:
        if max(copied, size) > max_bytes:
            raise ResultTooLargeError(
                f"{session.host.label}: {context}: {remote.name} is over {max_bytes} bytes "
                f"({max(copied, size)} seen), not a result; nothing was kept"
            )

    downloaded: list[tuple[Path, Path]] = []
    try:
        with session.file_transfer(f"{context}: fetching results"):
            for remote, local, expected in files:
                local.parent.mkdir(parents=True, exist_ok=True)
                handle, temp_name = tempfile.mkstemp(dir=local.parent, prefix=f".{local.name}.")
                os.close(handle)
                temp = Path(temp_name)
                temp.chmod(_FILE_MODE)  # mkstemp makes 0600; results are ordinary files
                downloaded.append((temp, local))
                session.sftp.get(sftp_path(remote), str(temp), callback=within_limit)
                actual = sha256_file(temp)
                if actual != expected:
                    raise ChecksumMismatchError(
                        f"{session.host.label}: {context}: sha256 of {local.name} differs after "
                        f"the copy (client {expected[:16]}…, here {actual[:16]}…); nothing was kept"
                    )
            for temp, local in downloaded:
                temp.replace(local)
            downloaded.clear()
    finally:
        for temp, _ in downloaded:
            temp.unlink(missing_ok=True)


def bench_client_args(
    layout: ClientLayout, spec: MeasurementSpec, out: PurePath, paired: Sequence[str] = ()
) -> list[str]:
    """bench_client's arguments for ``spec``, writing ``out`` (its cwd: ``layout.src``): the
    one place that writes them.

    ``paired``: NAME=URL of every stack measured together (the paired design); ``out``
    then holds ``{stack}``. The quick calibration is measured once per run, mode and request
    (bench_client --calibration-file) and reused by the run's later measurements.
    """
    target = [part for item in paired for part in ("--paired", item)] or ["--base-url", spec.url]
    cell = spec.measurement
    saved = layout.results / spec.run_id / "calibration" / f"{cell.mode}.{cell.request}.json"
    order = ["--seed", str(spec.seed)] if paired and spec.seed is not None else []
    start = [] if spec.start_at is None else ["--start-at", f"{spec.start_at:.6f}"]
    return [
        *target, *order, "--mode", cell.mode, "--request", json.dumps(spec.request.as_json()),
        *client_argv(spec.settings, cell.mode, paired=bool(paired)), *start,
        "--calibration-file", str(saved), "--out", str(out), "--quiet",
    ]  # fmt: skip


def measure(
    session: RemoteSession,
    spec: MeasurementSpec,
    *,
    log: LinePrefixer | None = None,
    run_timeout: float | None = None,
) -> Fetched:
    """Run bench_client for ``spec`` on the client, stream its output, fetch and verify its files.

    Raises a RemoteError subclass naming host, stack and cause; files already
    in the results directory are never modified unless this measurement
    completes and verifies, and then only its own two files are replaced.
    """
    with RemoteGuard(session) as guard:
        return measure_together(guard, [spec], log=log, run_timeout=run_timeout)[0]


def measure_together(
    guard: RemoteGuard,
    specs: Sequence[MeasurementSpec],
    *,
    log: LinePrefixer | None = None,
    run_timeout: float | None = None,
    before_run: Callable[[], None] | None = None,
    after_run: Callable[[], None] | None = None,
) -> list[Fetched]:
    """``measure`` for one spec under ``guard`` (bench_client's guard on the client); for
    several (one cell of each stack, same mode, method and repetition), one bench_client
    --paired run that measures them in one time window.

    ``before_run`` is called right before bench_client starts: it waits for what must come
    first elsewhere (the server's first noise reading, taken meanwhile); ``after_run`` right
    after it ends, whatever its exit (the server's second reading starts then).
    """
    session = guard.session
    started = time.monotonic()
    first = specs[0]
    cells = [spec.measurement for spec in specs]
    label = cells[0].label
    if len(specs) > 1:
        label = f"{len(specs)} stacks " + label.removeprefix(f"{cells[0].stack} ")
    context = f"stack {label}"
    urls = ", ".join(spec.url for spec in specs)
    layout = guard.layout
    run_dir = layout.results / first.run_id
    # A file name of its own for each attempt: a leftover run can never write
    # the files this one fetches.
    name = f"{PurePath(first.measurement.csv).stem}.{secrets.token_hex(4)}"
    files = [
        (run_dir / cell.mode / cell.stack / f"{name}.csv",
         run_dir / cell.mode / cell.stack / f"{name}.meta.json")
        for cell in cells
    ]  # fmt: skip
    if len(specs) == 1:
        args = bench_client_args(layout, first, files[0][0])
    else:
        out = run_dir / first.measurement.mode / "{stack}" / f"{name}.csv"
        paired = [f"{spec.measurement.stack}={spec.url}" for spec in specs]
        args = bench_client_args(layout, first, out, paired)
    if first.measurement.mode == SWEEP_MODE:  # a file pair per step it may reach
        cells, files = sweep_steps.candidates(first.measurement, files[0][0], first.settings)
    stream = log if log is not None else LinePrefixer(f"[{session.host.name} {label}] ")
    client_ports = ports.ensure_ports(
        guard.ports,
        ports.connections_needed(first.measurement.mode, first.settings) * len(specs),
        stream,
    )
    if before_run is not None:
        before_run()
    stream.note(f"running bench_client against {urls}")
    try:
        code, present = guard.run(
            args,
            [str(path) for pair in files for path in pair],
            stream=stream,
            timeout=run_timeout,
            what=f"bench_client for {context}",
        )
    finally:
        if after_run is not None:
            after_run()

    said = f": {stream.last_line}" if stream.last_line else ""
    if code == ExitCode.USAGE:
        raise ClientArgumentsError(
            f"{session.host.label}: {context}: bench_client refused the arguments or could not "
            f"write its output (exit 2){said}"
        )
    if code == ExitCode.FIRST_REQUEST_FAILED:
        raise FirstRequestFailedError(
            f"{session.host.label}: {context}: nothing measured: the first request to "
            f"{urls} failed or its answer was wrong (exit 3){said}"
        )
    if code not in (ExitCode.DONE, ExitCode.INTERRUPTED):
        signal = f", killed by signal {-code}" if code < 0 else ""
        raise ClientFailedError(
            f"{session.host.label}: {context}: bench_client ended with exit {code}{signal}{said}"
        )

    if first.measurement.mode == SWEEP_MODE:
        cells, files = sweep_steps.reached(cells, files, present)
    if code == ExitCode.INTERRUPTED and str(files[0][0]) not in present:
        raise MeasurementInterrupted(
            f"{session.host.label}: {context}: bench_client was interrupted before it wrote a CSV",
            None,
        )
    missing = [str(path) for pair in files for path in pair if str(path) not in present]
    if missing:
        raise ClientFailedError(
            f"{session.host.label}: {context}: bench_client exited {code} but did not write "
            + ", ".join(missing)
        )
    fetch_verified(
        session,
        [
            (remote, first.out_dir / local, present[str(remote)])
            for cell, (remote_csv, remote_meta) in zip(cells, files, strict=True)
            for remote, local in ((remote_meta, cell.meta), (remote_csv, cell.csv))
        ],
        context,
    )
    status = Status.COMPLETE if code == ExitCode.DONE else Status.INTERRUPTED
    stream.note(f"{status}: fetched {len(files)} CSV and meta file(s), sha256 verified")
    fetched = [
        Fetched(
            measurement=cell,
            sha256_csv=present[str(remote_csv)],
            sha256_meta=present[str(remote_meta)],
            status=status,
            message="" if status == Status.COMPLETE else "bench_client was interrupted (exit 130)",
            host=session.host.name,
            remote_csv=str(remote_csv),
            seconds=round(time.monotonic() - started, 3),
            client_ports=client_ports,
        )
        for cell, (remote_csv, remote_meta) in zip(cells, files, strict=True)
    ]
    if status == Status.INTERRUPTED:
        raise MeasurementInterrupted(
            f"{session.host.label}: {context}: bench_client was interrupted; "
            "the partial result was fetched and marked interrupted",
            *fetched,
        )
    return fetched
