"""What the lab needs from this machine: root, host packages, kernel features, disk space."""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from lab.errors import LabError

Progress = Callable[[str], None]

# Debian package -> a program (or a file) it installs that the lab uses.
HOST_PACKAGES = {
    "debootstrap": "debootstrap",
    "debian-archive-keyring": "/usr/share/keyrings/debian-archive-keyring.gpg",
    "systemd-container": "systemd-nspawn",
    "openssh-client": "ssh-keygen",
    "iproute2": "ip",
    "nftables": "nft",
}


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command and capture its output; on failure raise LabError with its stderr."""
    result = subprocess.run(list(argv), capture_output=True, text=True, env=env, input=stdin)
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        last = detail[-1] if detail else f"exit code {result.returncode}"
        raise LabError(f"`{' '.join(argv)}` failed: {last}")
    return result


def require_root() -> None:
    if os.geteuid() != 0:
        raise LabError(
            "the lab needs root (systemd-nspawn, bridges and cgroups); run it as root or with sudo"
        )


def ensure_host_packages(progress: Progress) -> None:
    """Install the Debian packages the lab needs, if any program is missing."""
    missing = [pkg for pkg, program in HOST_PACKAGES.items() if not _find(program)]
    if not missing:
        return
    if not shutil.which("apt-get"):
        raise LabError(f"missing host packages {' '.join(missing)} and no apt-get to install them")
    started = time.monotonic()
    progress(f"installing host packages: {' '.join(missing)} (apt-get, about 10-30 s)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-qq"], env=env)
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], env=env)
    progress(f"host packages installed in {time.monotonic() - started:.1f} s")


def _find(program: str) -> str | None:
    if program.startswith("/"):
        return program if Path(program).exists() else None
    # sbin directories are not always on a root PATH under sudo or CI.
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return shutil.which(program, path=path)


def require_kernel_features() -> None:
    """Fail early and clearly if the kernel lacks bridges, veth pairs or overlayfs."""
    filesystems = Path("/proc/filesystems").read_text()
    if "overlay" not in filesystems:
        raise LabError(
            "the kernel has no overlayfs (needed for --volatile=overlay); "
            "load it with `modprobe overlay` or use a kernel with CONFIG_OVERLAY_FS"
        )
    probe = f"hlprobe{os.getpid() % 100000}"
    for kind, extra in (("bridge", []), ("veth", ["peer", "name", f"{probe}p"])):
        result = run(["ip", "link", "add", probe, "type", kind, *extra], check=False)
        if result.returncode != 0:
            raise LabError(
                f"the kernel cannot create a {kind} interface ({result.stderr.strip()}); "
                f"load it with `modprobe {kind}` or use a kernel with CONFIG_{kind.upper()}"
            )
        run(["ip", "link", "del", probe])


def require_free_space(path: Path, needed_mib: int, what: str) -> None:
    """Raise LabError if the file system holding `path` has less than needed_mib free."""
    existing = path
    while not existing.exists():
        existing = existing.parent
    free_mib = shutil.disk_usage(existing).free // 2**20
    if free_mib < needed_mib:
        raise LabError(
            f"not enough space for {what}: {free_mib} MiB free in {existing}, "
            f"{needed_mib} MiB needed; free some space or set HTTPLAB_IMAGE_DIR to another disk"
        )


def write_atomic(
    path: Path, text: str, mode: int = 0o644, owner: tuple[int, int] | None = None
) -> None:
    """Replace path with a file holding text (given to owner, a UID and GID, if set).

    Readers see the old file or the new one, never half of one. Nothing at or beside path is
    followed, so a link planted in a directory another user can write (their inventory/) sends
    no write elsewhere: the directory is opened without following a link, the temporary file
    is new (O_EXCL, a random name) in it, and the rename replaces a link at path, not its target.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    directory = _open_directory(path.parent)
    tmp = f".{path.name}.{secrets.token_hex(8)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    try:
        file = os.fdopen(os.open(tmp, flags, 0o600, dir_fd=directory), "wb")
        try:
            with file:
                if owner is not None:
                    os.fchown(file.fileno(), *owner)
                os.fchmod(file.fileno(), mode)  # whatever the umask
                file.write(text.encode())
            os.rename(tmp, path.name, src_dir_fd=directory, dst_dir_fd=directory)
        except BaseException:
            os.unlink(tmp, dir_fd=directory)
            raise
    finally:
        os.close(directory)


def holds(path: Path, text: str, owner: tuple[int, int]) -> bool:
    """True if path is a regular file of owner's (UID, GID) holding text; no link is followed."""
    try:
        directory = _open_directory(path.parent)
    except LabError:
        return False
    try:
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK  # no waiting on a planted FIFO
        file = os.fdopen(os.open(path.name, flags, dir_fd=directory), "rb")
    except OSError:
        return False
    finally:
        os.close(directory)
    with file:
        info = os.fstat(file.fileno())
        expected = text.encode()
        return (
            stat.S_ISREG(info.st_mode)
            and (info.st_uid, info.st_gid) == owner
            and file.read(len(expected) + 1) == expected
        )


def move_tree(source: Path, target: Path) -> None:
    """Move a directory tree of root's to target (replaced), keeping its directories and files.

    For state that older code kept in a directory of root's inside a checkout, whose owner
    may rename it or plant a link in its place: source's directory is opened once, without
    following a link, and must be root's alone, so that root made whatever is in it. Only
    directories and regular files are copied, with their modes; a link or a special file is
    left behind, never followed. Raises LabError, and moves nothing, when source is not root's.
    """
    parent = _open_directory(source.parent)
    try:
        info = os.fstat(parent)
        if info.st_uid != os.geteuid() or info.st_mode & 0o022:
            raise LabError(
                f"{source.parent} is not root's alone (owner UID {info.st_uid}, "
                f"mode {stat.S_IMODE(info.st_mode):o})"
            )
        partial = target.with_name(f".{target.name}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        tree = os.open(source.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)
        try:
            for top, _, files, top_fd in os.fwalk(".", dir_fd=tree, follow_symlinks=False):
                (partial / top).mkdir(mode=stat.S_IMODE(os.fstat(top_fd).st_mode))
                for name in files:
                    _copy_regular_file(name, top_fd, partial / top / name)
        finally:
            os.close(tree)
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
        shutil.rmtree(source.name, dir_fd=parent)
    finally:
        os.close(parent)


def _open_directory(path: Path) -> int:
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        raise LabError(
            f"{path} is not a directory ({exc.strerror}); make it a directory, not a link"
        ) from exc


def _copy_regular_file(name: str, directory: int, target: Path) -> None:
    info = os.stat(name, dir_fd=directory, follow_symlinks=False)
    if not stat.S_ISREG(info.st_mode):
        return
    source = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=directory)
    with os.fdopen(source, "rb") as file:
        target.write_bytes(file.read())
    target.chmod(stat.S_IMODE(info.st_mode))
