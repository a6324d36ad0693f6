"""Run one measurement on the client host and fetch its files back, verified.

bench_client writes ``<workdir>/results/<run-id>/<mode>/<stack>/<NAME>.csv``
and ``<NAME>.meta.json`` on the client; both are hashed there, copied over
SFTP to a temporary file beside their destination in
``results/<run-id>/<mode>/<stack>/``, hashed again here, and only when both
match moved into place (meta first, CSV last: a CSV present means its
measurement is complete). Nothing else in the results directory is touched.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

from orchestrator.remote.deploy import ClientLayout, require_deployed
from orchestrator.remote.session import LinePrefixer, RemoteError, RemoteSession, sftp_path

MODES = ("constant", "concurrent", "keepalive", "rate")
METHODS = ("GET", "POST")
_UMASK = os.umask(0)
os.umask(_UMASK)
_FILE_MODE = 0o666 & ~_UMASK
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

# bench_client's exit codes (its CLI contract) and what they mean here.
EXIT_DONE = 0
EXIT_BAD_ARGUMENTS = 2
EXIT_VERIFICATION = 3
EXIT_INTERRUPTED = 130

_SHA256_CODE = """
import hashlib, json, os, sys
digests = {}
for name in sys.argv[1:]:
    if os.path.isfile(name):
        with open(name, "rb") as handle:
            digests[name] = hashlib.sha256(handle.read()).hexdigest()
print(json.dumps(digests))
"""
_REMOVE_CODE = """
import os, sys
for name in sys.argv[1:]:
    try:
        os.remove(name)
    except FileNotFoundError:
        pass
"""


class ClientArgumentsError(RemoteError):
    """bench_client refused its arguments or could not write its output (its exit 2)."""

    exit_code = 2


class VerificationFailedError(RemoteError):
    """The stack's first answer was wrong (bench_client's exit 3)."""

    exit_code = 3


class ClientFailedError(RemoteError):
    """bench_client ended with an exit code outside its contract (crashed, killed)."""


class ChecksumMismatchError(RemoteError):
    exit_code = 5


class MeasurementInterrupted(RemoteError):
    """bench_client was interrupted; what it measured was still fetched (``measurement``)."""

    exit_code = 130

    def __init__(self, message: str, measurement: Measurement | None) -> None:
        super().__init__(message)
        self.measurement = measurement


@dataclass(frozen=True)
class MeasurementSpec:
    """One cell of the matrix: which stack, how, and where its files go."""

    stack: str
    url: str
    mode: str
    method: str
    out_dir: Path  # results/<run-id>
    repetition: int = 1
    client_args: tuple[str, ...] = ()  # --iterations 200 --interval 0.005 ...

    def __post_init__(self) -> None:
        for label, value in (("stack", self.stack), ("run id", self.run_id)):
            if not _SAFE_NAME.match(value):
                raise ValueError(f"{label} {value!r} must be letters, digits, '.', '_' or '-'")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.method not in METHODS:
            raise ValueError(f"method must be GET or POST, not {self.method!r}")
        if self.repetition < 1:
            raise ValueError(f"repetition must be 1 or more, not {self.repetition}")

    @property
    def run_id(self) -> str:
        return self.out_dir.resolve().name

    @property
    def stem(self) -> str:
        """GET for repetition 1, GET.rep<k> after it (DESIGN.md's naming)."""
        return self.method if self.repetition == 1 else f"{self.method}.rep{self.repetition}"

    @property
    def relative_dir(self) -> PurePath:
        return PurePath(self.mode, self.stack)

    @property
    def label(self) -> str:
        return f"{self.stack} {self.mode} {self.method}" + (
            f" rep {self.repetition}" if self.repetition > 1 else ""
        )


@dataclass(frozen=True)
class Measurement:
    """A fetched, verified measurement: the manifest's entry plus where it came from."""

    mode: str
    stack: str
    method: str
    repetition: int
    csv: str  # relative to the run directory
    meta: str
    sha256: str
    meta_sha256: str
    status: str  # "complete" | "interrupted"
    message: str
    host: str
    remote_csv: str
    seconds: float


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def remote_sha256(session: RemoteSession, paths: Sequence[PurePath]) -> dict[str, str]:
    """sha256 of each file that exists, computed by Python on the client (any OS)."""
    output = session.run_python(_SHA256_CODE, *map(str, paths))
    return json.loads(output)


def fetch_verified(
    session: RemoteSession, files: Sequence[tuple[PurePath, Path, str]], context: str
) -> None:
    """Download each (remote, local, expected sha256); move all into place only if all match.

    Each download goes to a temporary file in its destination directory, so
    the final rename is atomic and an existing file is replaced whole or
    not at all. On any failure the temporary files are removed.
    """
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
                session.sftp.get(sftp_path(remote), str(temp))
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


def bench_client_argv(layout: ClientLayout, spec: MeasurementSpec, out: PurePath) -> list[str]:
    """The client's command for ``spec``, writing ``out`` (its cwd: ``layout.src``)."""
    return [
        str(layout.venv_python), "-m", "bench_client",
        "--base-url", spec.url, "--method", spec.method, "--mode", spec.mode,
        *spec.client_args,
        "--out", str(out), "--quiet",
    ]  # fmt: skip


def measure(
    session: RemoteSession,
    spec: MeasurementSpec,
    *,
    log: LinePrefixer | None = None,
    run_timeout: float | None = None,
) -> Measurement:
    """Run bench_client for ``spec`` on the client, stream its output, fetch and verify its files.

    Raises a RemoteError subclass naming host, stack and cause; files already
    in the results directory are never modified unless this measurement
    completes and verifies, and then only its own two files are replaced.
    """
    started = time.monotonic()
    context = f"stack {spec.label}"
    layout = require_deployed(session)
    remote_dir = layout.results / spec.run_id / spec.mode / spec.stack
    remote_csv = remote_dir / f"{spec.stem}.csv"
    remote_meta = remote_dir / f"{spec.stem}.meta.json"
    local_dir = spec.out_dir / spec.relative_dir
    local_csv = local_dir / f"{spec.stem}.csv"
    local_meta = local_dir / f"{spec.stem}.meta.json"

    venv_python = str(layout.venv_python)
    session.run_python(_REMOVE_CODE, str(remote_csv), str(remote_meta), python=[venv_python])
    argv = bench_client_argv(layout, spec, remote_csv)
    stream = log if log is not None else LinePrefixer(f"[{session.host.name} {spec.label}] ")
    stream.note(f"running bench_client against {spec.url}")
    result = session.run(
        argv,
        cwd=str(layout.src),
        stream=stream,
        timeout=run_timeout,
        what=f"bench_client for {context}",
    )

    code = result.exited
    said = f": {stream.last_line}" if stream.last_line else ""
    if code == EXIT_BAD_ARGUMENTS:
        raise ClientArgumentsError(
            f"{session.host.label}: {context}: bench_client refused the arguments or could not "
            f"write its output (exit 2){said}"
        )
    if code == EXIT_VERIFICATION:
        raise VerificationFailedError(
            f"{session.host.label}: {context}: nothing measured: the first request to "
            f"{spec.url} failed or its answer was wrong (exit 3){said}"
        )
    if code not in (EXIT_DONE, EXIT_INTERRUPTED):
        signal = f", killed by signal {code - 128}" if 128 < code < 160 else ""
        raise ClientFailedError(
            f"{session.host.label}: {context}: bench_client ended with exit {code}{signal}{said}"
        )

    present = remote_sha256(session, [remote_csv, remote_meta])
    if code == EXIT_INTERRUPTED and str(remote_csv) not in present:
        raise MeasurementInterrupted(
            f"{session.host.label}: {context}: bench_client was interrupted before it wrote a CSV",
            None,
        )
    missing = [str(p) for p in (remote_csv, remote_meta) if str(p) not in present]
    if missing:
        raise ClientFailedError(
            f"{session.host.label}: {context}: bench_client exited {code} but did not write "
            + ", ".join(missing)
        )
    fetch_verified(
        session,
        [
            (remote_meta, local_meta, present[str(remote_meta)]),
            (remote_csv, local_csv, present[str(remote_csv)]),
        ],
        context,
    )
    status = "complete" if code == EXIT_DONE else "interrupted"
    stream.note(f"{status}: fetched {local_csv.name} and {local_meta.name}, sha256 verified")
    measurement = Measurement(
        mode=spec.mode,
        stack=spec.stack,
        method=spec.method,
        repetition=spec.repetition,
        csv=(spec.relative_dir / local_csv.name).as_posix(),
        meta=(spec.relative_dir / local_meta.name).as_posix(),
        sha256=present[str(remote_csv)],
        meta_sha256=present[str(remote_meta)],
        status=status,
        message="" if status == "complete" else "bench_client was interrupted (exit 130)",
        host=session.host.name,
        remote_csv=str(remote_csv),
        seconds=round(time.monotonic() - started, 3),
    )
    if status == "interrupted":
        raise MeasurementInterrupted(
            f"{session.host.label}: {context}: bench_client was interrupted; "
            "the partial result was fetched and marked interrupted",
            measurement,
        )
    return measurement
