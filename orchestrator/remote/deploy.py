"""Deploy bench_client to the client host: a venv, the package, its pinned deps.

Layout under the client's work directory (``~/httplab-client`` on Linux,
``%USERPROFILE%\\httplab-client`` on Windows, or ``bench_client_workdir``)::

    src/bench_client/          the bench_client package
    requirements-client.txt    requirements/client.txt
    wheelhouse/                offline installs: the wheels for this Python and OS
    venv/                      python -m venv; venv/httplab-client.stamp
    results/<run-id>/...       what bench_client writes before it is fetched

The stamp holds a sha256 of the requirements, the package and the
interpreter; a deploy whose stamp matches does nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath

from bench_client.results_format import ExitCode
from orchestrator.remote.session import (
    UTF8_MODE,
    ClientPython,
    CommandError,
    LinePrefixer,
    RemoteError,
    RemoteSession,
    last_json_line,
    sftp_path,
)

REPO_DIR = Path(__file__).resolve().parents[2]
# What ships to the client: the bench_client package, nothing of the control node.
PACKAGE_DIR = REPO_DIR / "bench_client"
REQUIREMENTS = REPO_DIR / "requirements" / "client.txt"
STAMP_NAME = "httplab-client.stamp"

_RMTREE_CODE = "import shutil, sys\nshutil.rmtree(sys.argv[1], ignore_errors=True)\n"
# sha256 of each wheel already on the client, as JSON {file name: hex digest}.
_WHEEL_SUMS_CODE = (
    "import hashlib, json, pathlib, sys\n"
    "print(json.dumps({p.name: hashlib.sha256(p.read_bytes()).hexdigest()"
    " for p in pathlib.Path(sys.argv[1]).glob('*.whl')}))\n"
)


class NotDeployedError(RemoteError):
    exit_code = ExitCode.NOT_DEPLOYED


class WheelhouseError(RemoteError):
    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class ClientLayout:
    """Where things live on one client, in its own path syntax."""

    workdir: PurePath
    is_windows: bool

    @property
    def src(self) -> PurePath:
        return self.workdir / "src"

    @property
    def package(self) -> PurePath:
        return self.src / "bench_client"

    @property
    def requirements(self) -> PurePath:
        return self.workdir / "requirements-client.txt"

    @property
    def wheelhouse(self) -> PurePath:
        return self.workdir / "wheelhouse"

    @property
    def venv(self) -> PurePath:
        return self.workdir / "venv"

    @property
    def venv_python(self) -> PurePath:
        if self.is_windows:
            return self.venv / "Scripts" / "python.exe"
        return self.venv / "bin" / "python"

    def python(self, *args: str) -> list[str]:
        """The venv's interpreter in UTF-8 mode, then ``args``."""
        return [str(self.venv_python), *UTF8_MODE, *args]

    @property
    def stamp(self) -> PurePath:
        return self.venv / STAMP_NAME

    @property
    def lock(self) -> PurePath:
        """Held by bench_client.guard while a measurement runs in this work directory."""
        return self.workdir / "bench_client.lock"

    @property
    def results(self) -> PurePath:
        return self.workdir / "results"


@dataclass(frozen=True)
class DeployResult:
    host: str
    workdir: str
    python: str
    install_source: str
    changed: bool
    digest: str
    seconds: float
    code_pages: dict  # the client's code pages (Windows) or preferred encoding


def client_layout(home: str, workdir: str, is_windows: bool) -> ClientLayout:
    """The layout under ``workdir``, taken relative to the client's ``home`` unless absolute."""
    path_type = PureWindowsPath if is_windows else PurePosixPath
    return ClientLayout(workdir=path_type(home) / path_type(workdir), is_windows=is_windows)


def layout_for(session: RemoteSession) -> ClientLayout:
    assert session.python is not None
    return client_layout(session.python.home, session.host.workdir, session.is_windows)


def package_files() -> Iterator[tuple[str, Path]]:
    """(relative POSIX path, local path) of the client-side modules, sorted."""
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        relative = path.relative_to(PACKAGE_DIR)
        if "__pycache__" in relative.parts:
            continue
        yield relative.as_posix(), path


def deploy_digest(session: RemoteSession) -> str:
    """sha256 over what a deploy installs and the interpreter it installs with."""
    assert session.python is not None
    digest = hashlib.sha256(b"httplab-client 1\0")
    digest.update(f"{session.python.version} {' '.join(session.python.command)}\0".encode())
    digest.update(REQUIREMENTS.read_bytes() + b"\0")
    for relative, path in package_files():
        digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def wheelhouse_subdir(python: ClientPython, is_windows: bool) -> str:
    """client/py<X.Y>-<linux|win_amd64|win_arm64>: where `make wheelhouse` puts its wheels."""
    machine = python.machine.lower()
    if is_windows and machine == "arm64":  # make wheelhouse-extra
        return f"client/py{python.version}-win_arm64"
    if machine not in ("x86_64", "amd64"):
        raise ValueError(f"no wheelhouse for {python.machine} machines")
    if is_windows:
        platform = "win_amd64"
    elif python.platform.startswith("linux"):
        platform = "linux"
    else:
        raise ValueError(f"no wheelhouse for {python.platform}")
    return f"client/py{python.version}-{platform}"


def wheelhouse_dir(root: Path, session: RemoteSession) -> Path:
    """The local directory of wheels for the client's Python and OS; it must hold wheels."""
    assert session.python is not None
    try:
        directory = root / wheelhouse_subdir(session.python, session.is_windows)
    except ValueError as exc:
        raise WheelhouseError(f"{session.host.label}: {exc}; deploy with --index") from None
    if not any(directory.glob("*.whl")):
        raise WheelhouseError(
            f"{session.host.label}: no wheels in {directory} for the client's Python "
            f"{session.python.version}; run `make wheelhouse-extra` (Python 3.13, Windows on "
            f"ARM64), `make wheelhouse-extra EXTRA_CLIENT_PYTHONS={session.python.version}`, "
            "or deploy with --index"
        )
    return directory


def read_stamp(session: RemoteSession, layout: ClientLayout) -> str | None:
    try:
        with session.sftp.open(sftp_path(layout.stamp)) as handle:
            return handle.read().decode().strip()
    except OSError:
        return None


def require_deployed(session: RemoteSession) -> ClientLayout:
    """The layout of an up-to-date deploy; NotDeployedError otherwise."""
    layout = layout_for(session)
    stamp = read_stamp(session, layout)
    if stamp != deploy_digest(session):
        state = "is not deployed" if stamp is None else "is out of date"
        raise NotDeployedError(
            f"{session.host.label}: bench_client {state} in {layout.workdir}; "
            "run `httplab deploy -i INVENTORY` first"
        )
    return layout


def sftp_makedirs(session: RemoteSession, directory: PurePath) -> None:
    """mkdir -p over SFTP: each missing directory from the top down, the root (/ or C:\\) aside."""
    for ancestor in [*reversed(directory.parents), directory]:
        if not ancestor.name:
            continue  # "/", "C:\\" or "." exist already
        remote = sftp_path(ancestor)
        try:
            if not stat.S_ISDIR(session.sftp.stat(remote).st_mode or 0):
                raise RemoteError(f"{session.host.label}: {remote} exists and is not a directory")
        except FileNotFoundError:
            session.sftp.mkdir(remote)


def pip_install_argv(layout: ClientLayout, install_from: list[str]) -> list[str]:
    """pip install of requirements/client.txt into the venv (``install_from``: offline flags)."""
    # Only wheels whose sha256 the lock names; no sdist build code runs.
    return layout.python(
        "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
        "--require-hashes", "--only-binary=:all:", "--progress-bar", "off", *install_from,
        "-r", str(layout.requirements),
    )  # fmt: skip


def upload(session: RemoteSession, local: Path, remote: PurePath) -> None:
    sftp_makedirs(session, remote.parent)
    session.sftp.put(str(local), sftp_path(remote))


def upload_wheels(session: RemoteSession, local_dir: Path, remote_dir: PurePath) -> int:
    """Copy the wheels the client lacks or holds changed (by sha256); return the count."""
    sftp_makedirs(session, remote_dir)
    present = last_json_line(session.run_python(_WHEEL_SUMS_CODE, str(remote_dir)))
    copied = 0
    for wheel in sorted(local_dir.glob("*.whl")):
        if present.get(wheel.name) != hashlib.sha256(wheel.read_bytes()).hexdigest():
            session.sftp.put(str(wheel), sftp_path(remote_dir / wheel.name))
            copied += 1
    return copied


def deploy(
    session: RemoteSession,
    *,
    wheelhouse: Path | None,
    log: LinePrefixer,
    force: bool = False,
) -> DeployResult:
    """Make the client's venv match this checkout; skip when the stamp says it does.

    ``wheelhouse`` is the control node's wheelhouse root (offline install);
    None installs from the package index.
    """
    python = session.python
    assert python is not None
    started = time.monotonic()
    layout = layout_for(session)
    digest = deploy_digest(session)
    source = "wheelhouse" if wheelhouse is not None else "index"
    local_wheels = wheelhouse_dir(wheelhouse, session) if wheelhouse is not None else None

    def result(changed: bool) -> DeployResult:
        return DeployResult(
            host=session.host.name,
            workdir=str(layout.workdir),
            python=python.version,
            install_source=source,
            changed=changed,
            digest=digest,
            seconds=round(time.monotonic() - started, 3),
            code_pages=python.code_pages,
        )

    if not force and read_stamp(session, layout) == digest:
        log.note(f"up to date in {layout.workdir} (stamp {digest[:12]})")
        return result(changed=False)

    log.note(f"deploying to {layout.workdir} (Python {python.version}, from {source})")
    install_from: list[str] = []
    with session.file_transfer(f"copying bench_client to {layout.workdir}"):
        # Until the new stamp is written, the client counts as not deployed.
        with contextlib.suppress(FileNotFoundError):
            session.sftp.remove(sftp_path(layout.stamp))
        sftp_makedirs(session, layout.workdir)
        session.run_python(_RMTREE_CODE, str(layout.package))  # no stale modules
        for relative, path in package_files():
            upload(session, path, layout.package / PurePath(relative))
        upload(session, REQUIREMENTS, layout.requirements)
        if local_wheels is not None:
            copied = upload_wheels(session, local_wheels, layout.wheelhouse)
            log.note(f"wheelhouse {local_wheels.name}: {copied} wheel(s) copied")
            # --isolated: the client's pip.conf and PIP_* variables must not add
            # other sources to an offline install.
            install_from = ["--isolated", "--no-index", "--find-links", str(layout.wheelhouse)]

    if session.run(layout.python("-c", "pass"), what="venv check").exited != 0:
        log.note("creating the venv")
        try:
            session.check(python.argv("-m", "venv", str(layout.venv)), what="venv")
        except CommandError as exc:
            raise CommandError(
                f"{exc} (on Debian/Ubuntu the client needs the python3-venv package)"
            ) from None
    installed = session.run(pip_install_argv(layout, install_from), stream=log, what="pip install")
    if installed.exited != 0:
        raise CommandError(
            f"{session.host.label}: pip install of requirements/client.txt failed "
            f"(exit {installed.exited}): {log.last_line}"
        )
    # The client's own CLI must start: this imports every dependency.
    session.check(
        layout.python("-m", "bench_client", "--help"),
        cwd=str(layout.src),
        what="bench_client --help",
    )
    with (
        session.file_transfer("writing the deploy stamp"),
        session.sftp.open(sftp_path(layout.stamp), "w") as handle,
    ):
        handle.write(digest + "\n")
    log.note(f"deployed ({digest[:12]})")
    return result(changed=True)
