"""THE results format: the one module that says what a run's files are called and hold.

Everything that writes or reads a run uses this module and restates none of it:
bench_client (on the client), the orchestrator (on the control node), analysis,
and the tests' fixtures. It ships with the client, so it imports nothing beyond
the standard library.

A run folder::

    results/<run-id>/
      manifest.json                        MANIFEST_SCHEMA: the run, its hosts, every file's sha256
      <mode>/<stack>/<REQUEST>.csv          repetition 1 (REQUEST: GET, POST or a declared one)
      <mode>/<stack>/<REQUEST>.rep<k>.csv   repetition k >= 2
      <mode>/<stack>/<REQUEST>[.rep<k>].meta.json   META_SCHEMA: how the CSV was measured
      sweep/<stack>/<REQUEST>[.rep<k>].step<n>.csv  the sweep's step n (a rate-mode measurement),
                                           its meta file with a "sweep" block (SWEEP_SCHEMA)
      <mode>/<stack>/<REQUEST>[.rep<k>].hosts/<client>.csv (and .meta.json)
                                           with several client hosts: each host's own files;
                                           the cell's CSV and meta merge them
      <mode>/<stack>/<REQUEST>[.rep<k>].server.json SAMPLES_SCHEMA: the stack's resource use

Every CSV has the header CSV_HEADER; a failed request has an empty time and a
non-empty Error, never a 0. Files are written atomically and named by their
sha256 in the manifest.
"""

from __future__ import annotations

import enum
import hashlib
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path, PurePath

MODES = ("constant", "concurrent", "keepalive", "rate", "sweep")
# The latency-throughput sweep: rate-mode steps at rising rates, one cell (CSV + meta) per step.
SWEEP_MODE = "sweep"

# The paper's two columns first (its tools read only those), then httplab's.
CSV_HEADER = ("Iteration", "Execution Time (seconds)", "Status", "Error", "Start (s)", "Worker")
PAPER_CSV_HEADER = CSV_HEADER[:2]

# <REQUEST>.meta.json, written by bench_client. 2: "config" has the request measured
# ("request": its declaration) instead of "method", "path" and "payload".
META_SCHEMA = 2
# manifest.json, written by the orchestrator. 2: an entry measured by several client hosts
# keeps each host's files, checksums and clock offset under "hosts"; status may be "partial".
# 3: "hosts" has "clients", every client host's facts by inventory name ("client" stays: the
# first of them). 4: a cell's "request" instead of its "method"; "settings" (every
# httplab_bench_* value) and "setting_sources" instead of "selection" and "client_settings";
# "requests", the declaration of each request measured.
MANIFEST_SCHEMA = 4
# Older manifests a run can still resume and analysis still reads.
MANIFEST_SCHEMAS_READ = (1, 2, 3, 4)
SWEEP_SCHEMA = 1  # the "sweep" block of a sweep step's meta file (bench_client/sweep.py)
SAMPLES_SCHEMA = 1  # <METHOD>.server.json, written by the server's resource sampler

# Stack names and run ids become folder names on every OS.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# A request names files too, between dots: no dot of its own.
_REQUEST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
_CSV_NAME = re.compile(
    r"^(?P<request>[A-Za-z0-9][A-Za-z0-9_-]{0,31})(?:\.rep(?P<repetition>[1-9][0-9]*))?"
    r"(?:\.step(?P<step>[1-9][0-9]*))?\.csv$"
)


class ExitCode(enum.IntEnum):
    """Exit statuses of every httplab command (bench_client's included)."""

    DONE = 0  # done; failed requests are data, not an error
    FAILED = 1  # a step failed: the message names the host, the stack and the cause
    USAGE = 2  # bad arguments, or an output that cannot be written; checked before any work
    FIRST_REQUEST_FAILED = 3  # the stack's first (verification) request got a wrong answer or none
    UNREACHABLE = 4  # a host is unreachable, refused us, has an unknown key or was lost mid-run
    CHECKSUM_MISMATCH = 5  # a file's sha256 differs from the one recorded; nothing was kept
    NOT_DEPLOYED = 6  # bench_client is missing or out of date on the client
    INPUT_SKIPPED = 7  # the output is written, but some input was skipped (each one named)
    NOT_RUNNING = 8  # `httplab lab status`: the lab is not running
    BUSY = 75  # another run holds the client's work directory (sysexits' EX_TEMPFAIL)
    INTERRUPTED = 130  # Ctrl-C; what was measured so far is kept, marked interrupted


EXIT_CODE_MEANINGS: Mapping[ExitCode, str] = {
    ExitCode.DONE: "done (failed requests are data, counted in the files)",
    ExitCode.FAILED: "a step failed; the message names the host, the stack and the cause",
    ExitCode.USAGE: "bad arguments or an unwritable output; nothing was done",
    ExitCode.FIRST_REQUEST_FAILED: "the stack's first answer was wrong or missing; none measured",
    ExitCode.UNREACHABLE: "a host is unreachable, its key unknown or changed, or it was lost",
    ExitCode.CHECKSUM_MISMATCH: "a fetched file's sha256 differs from the client's; nothing kept",
    ExitCode.NOT_DEPLOYED: "bench_client is not deployed or out of date on the client",
    ExitCode.INPUT_SKIPPED: "written, but some input was skipped (each one named on stderr)",
    ExitCode.NOT_RUNNING: "the lab is not running (`httplab lab status`)",
    ExitCode.BUSY: "another run holds the client's work directory; wait for it or stop it",
    ExitCode.INTERRUPTED: "interrupted; what was measured so far is kept, marked interrupted",
}


def exit_codes_help(codes: tuple[ExitCode, ...] = tuple(ExitCode)) -> str:
    """The exit-code table for a command's --help: the codes it can return."""
    lines = [f"  {code.value:<4} {EXIT_CODE_MEANINGS[code]}" for code in codes]
    return "exit codes:\n" + "\n".join(lines)


def check_name(what: str, value: str) -> str:
    """``value`` if it may name a stack or a run (a folder on every OS), else ValueError."""
    if not _NAME.match(value):
        raise ValueError(
            f"{what} {value!r}: use 1-64 letters, digits, '.', '_' and '-', starting with a "
            "letter or digit"
        )
    return value


def check_request_name(value: str) -> str:
    """``value`` if it may name a request (a file name's first part), else ValueError."""
    if not isinstance(value, str) or not _REQUEST_NAME.match(value):
        raise ValueError(
            f"request name {value!r}: use 1-32 letters, digits, '_' and '-', starting with a "
            "letter or digit (no '.': it names files)"
        )
    return value


@dataclass(frozen=True, order=True)
class Measurement:
    """One cell of a run: a mode × stack × request, in one repetition; one CSV and its meta file.

    In the sweep mode each step of the ladder is a cell of its own (step 1, 2, ...;
    a sweep cell named without a step is its step 1, which stands for the whole sweep
    in a run's plan); in every other mode step is 0.
    """

    mode: str
    stack: str
    request: str
    repetition: int = 1
    step: int = 0
    host: str | None = None  # one client host's share of a cell measured by several

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        check_name("stack", self.stack)
        check_request_name(self.request)
        if self.repetition < 1:
            raise ValueError(f"repetition must be 1 or more, not {self.repetition}")
        if self.mode == SWEEP_MODE and self.step == 0:
            object.__setattr__(self, "step", 1)  # frozen: the one place a field is completed
        if (self.mode == SWEEP_MODE) != (self.step >= 1) or self.step < 0:
            raise ValueError(
                f"step must be 1 or more in the {SWEEP_MODE} mode and 0 in the others, "
                f"not {self.step} in {self.mode}"
            )
        if self.host is not None:
            check_name("client host", self.host)

    @property
    def folder(self) -> PurePath:
        return PurePath(self.mode, self.stack)

    @property
    def name(self) -> str:
        """GET for repetition 1, GET.rep<k> after it; a sweep step's adds .step<n>."""
        name = self.request if self.repetition == 1 else f"{self.request}.rep{self.repetition}"
        return f"{name}.step{self.step}" if self.step else name

    @property
    def csv(self) -> str:
        """The CSV's path relative to the run folder, with '/' on every OS."""
        if self.host is not None:
            return (self.folder / f"{self.name}.hosts" / f"{self.host}.csv").as_posix()
        return (self.folder / f"{self.name}.csv").as_posix()

    def on_host(self, host: str) -> Measurement:
        """This cell's share measured by client host ``host`` (its own files)."""
        return replace(self, host=host)

    @property
    def cell(self) -> Measurement:
        """The whole cell (without the host)."""
        return replace(self, host=None)

    @property
    def meta(self) -> str:
        return meta_path_for(PurePath(self.csv)).as_posix()

    @property
    def samples(self) -> str:
        """The server resource samples taken while the CSV was measured."""
        return samples_path_for(PurePath(self.csv)).as_posix()

    @property
    def database_samples(self) -> str:
        """The database's resource samples (the database workloads, PostgreSQL on the server)."""
        return PurePath(self.csv).with_suffix(".database.json").as_posix()

    @property
    def label(self) -> str:
        """How messages name the cell: 'flask-gunicorn constant GET rep 2'."""
        rep = f" rep {self.repetition}" if self.repetition > 1 else ""
        step = f" step {self.step}" if self.step else ""
        on = f" on {self.host}" if self.host else ""
        return f"{self.stack} {self.mode} {self.request}{rep}{step}{on}"

    @classmethod
    def from_csv_path(cls, relative: PurePath) -> Measurement:
        """The cell a CSV path names (<mode>/<stack>/<REQUEST>[.rep<k>][.step<n>].csv), else
        ValueError: the one grammar of a run's file names."""
        parts = relative.parts[-3:]
        match = _CSV_NAME.match(parts[-1]) if len(parts) == 3 else None
        if match is None:
            raise ValueError(
                f"{relative.as_posix()}: not <mode>/<stack>/<REQUEST>.csv or <REQUEST>.rep<k>.csv"
            )
        return cls(
            parts[0],
            parts[1],
            match["request"],
            int(match["repetition"] or 1),
            int(match["step"] or 0),
        )


def meta_path_for(csv_path: PurePath) -> PurePath:
    """X/GET.csv -> X/GET.meta.json (for Windows paths too)."""
    return csv_path.with_suffix(".meta.json")


def step_csv_path(csv_path: PurePath, step: int) -> PurePath:
    """Where a sweep writing X/GET.csv puts step n: X/GET.step<n>.csv (as Measurement.name)."""
    return csv_path.with_name(f"{csv_path.stem}.step{step}{csv_path.suffix}")


def samples_path_for(csv_path: PurePath) -> PurePath:
    """X/GET.csv -> X/GET.server.json."""
    return csv_path.with_suffix(".server.json")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_atomic(path: Path, data: bytes | str, mode: int = 0o644) -> str:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one.

    The bytes go to a temporary file beside ``path``, reach the disk, then
    replace it in one rename; a full disk or a crash leaves the old file. Text
    is UTF-8 with the line ends given (so a file's sha256 is the same on every
    OS). Returns the sha256 of what was written.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as temp:
            temp.write(payload)
            temp.flush()
            os.fsync(temp.fileno())
        Path(temp_name).chmod(mode)
        os.replace(temp_name, path)  # noqa: PTH105  (the atomic rename, by its usual name)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return sha256_bytes(payload)
