"""Run the lab as root from a copy of its code that only root can change.

    sudo /usr/bin/python3 -I -S lab/snapshot.py up|down|status|ssh [ARGS...]

is what `make lab-up`, `lab-down`, `lab-status` and `run` start. sudo trusts the checkout
at that moment (its owner could have put anything in it before); from then on root runs
nothing the owner can change. Each lab/*.py is read once, a regular file and never a link,
and written, unless there already, to /var/lib/httplab/code/<sha256 of them>/ (0755, its
files 0644, root's). The same Python then runs that copy with -I -S: no checkout, venv,
user or site packages (no .pth file) and no PYTHON* variable reach it. Standard library
only, as the whole lab: nothing the owner installed is imported.
"""

import errno
import hashlib
import os
import shutil
import stat
import sys
import tempfile
import time
from pathlib import Path

LIB_DIR = Path("/var/lib/httplab")
CODE_DIR = LIB_DIR / "code"
# Where the lab writes inventory/NAME.yml: the copy has no checkout around it.
INVENTORY_VARIABLE = "HTTPLAB_INVENTORY_DIR"
# Every change to lab/ makes a new copy; one no command has run for this long goes.
KEEP_SECONDS = 7 * 24 * 3600
MAIN = "import sys\n\nfrom lab.__main__ import main\n\nsys.exit(main())\n"


def read_sources(directory: Path) -> dict[str, bytes]:
    """The *.py files of directory by name, each read once; a link or a special file stops."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return {
            name: _read_regular_file(name, fd, directory)
            for name in sorted(os.listdir(fd))  # noqa: PTH208 - all from the one directory opened
            if name.endswith(".py")
        }
    finally:
        os.close(fd)


def _read_regular_file(name: str, directory_fd: int, directory: Path) -> bytes:
    try:  # O_NONBLOCK: a FIFO in its place must not hang root
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=directory_fd)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
    else:
        with os.fdopen(fd, "rb") as file:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                return file.read()
    raise SystemExit(
        f"lab: error: {directory / name} is a link or a special file; root runs only regular "
        "files of lab/: replace it with a regular file"
    )


def snapshot(sources: dict[str, bytes], code_dir: Path = CODE_DIR) -> Path:
    """The directory that holds these sources as the package `lab`, made once and kept."""
    digest = hashlib.sha256()
    for name, data in sorted(sources.items()):
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    target = code_dir / digest.hexdigest()
    if not target.is_dir():
        code_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=code_dir))
        package = partial / "lab"
        package.mkdir()
        for name, data in sources.items():
            (package / name).write_bytes(data)
        (partial / "__main__.py").write_text(MAIN)
        for path in (partial, package, *package.iterdir(), partial / "__main__.py"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        try:
            partial.rename(target)
        except OSError:  # a command running alongside made the same copy first
            shutil.rmtree(partial)
    os.utime(target)
    _prune(code_dir, keep=target)
    return target


def _prune(code_dir: Path, keep: Path) -> None:
    """Remove the copies (and leftovers of a crashed copying) unused for KEEP_SECONDS."""
    unused_since = time.time() - KEEP_SECONDS
    for path in code_dir.iterdir():
        if path != keep and path.lstat().st_mtime < unused_since:
            shutil.rmtree(path, ignore_errors=True)


def main() -> None:
    if os.geteuid() != 0:
        sys.exit("lab: error: the lab needs root; run this with sudo")
    lab_dir = Path(__file__).resolve().parent
    code = snapshot(read_sources(lab_dir))
    env = {**os.environ, INVENTORY_VARIABLE: str(lab_dir.parent / "inventory")}
    argv = [sys.executable, "-I", "-S", str(code), *sys.argv[1:]]
    os.execve(sys.executable, argv, env)  # noqa: S606 - becomes the lab command, same Python


if __name__ == "__main__":
    main()
