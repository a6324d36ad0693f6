# Build the stacks' venvs, side by side, and remove those no stack uses any more:
#   python3 build_venvs.py ROOT PYTHON WHEELHOUSE|- INSTALLER|- VENV LOCK WHEEL|- [...]
# (ROOT holds the venvs and their locks' copies; - is none).
#
# Each venv is named by what it is installed from (its lock, and an app's wheel), so
# one that exists complete (its stamp file, naming its lock and this script's RECIPE) is
# current and is left alone; one that is missing, half-built or built by an older recipe
# is built again from scratch. Every wheel must match a hash in
# the lock and no sdist is built (--only-binary): its build code would run as root.
# With the wheelhouse and INSTALLER (the lock of uv, requirements/installer.txt), uv
# installs them: first itself, with pip, offline and hash-checked, into ROOT/.installer;
# then each venv with the same checks (--require-hashes, --only-binary, --no-index), in
# seconds where pip took most of a minute. Without them (installs from the index) pip does.
# pip itself, not ansible.builtin.pip: that module needs `packaging` on the server's
# system Python, which a minimal server lacks. Prints {"built": [VENV...]} as JSON;
# a failed install exits 1 naming the venv, its lock and pip's (uv's) last words.
import concurrent.futures
import json
import shutil
import subprocess
import sys
from pathlib import Path

STAMP = ".httplab-complete"
# How a venv is built; a venv whose stamp names another is built again. 2: bytecode compiled.
RECIPE = 2
# Twisted (Daphne) writes a plugin cache next to its code on first import; the service
# cannot (a read-only venv), so it is built now, as root, where Twisted is installed.
TWISTED_CACHE = (
    "try:\n    from twisted.plugin import IPlugin, getPlugins\n"
    "except ImportError:\n    pass\nelse:\n    list(getPlugins(IPlugin))\n"
)


def run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-12:]
        raise RuntimeError("\n".join(last))


INSTALLER_DIR = ".installer"


def stamp(lock: str) -> str:
    return f"{lock}\nrecipe {RECIPE}\n"


def current(venv: Path, lock: str) -> bool:
    """Whether ``venv`` is complete and built by this RECIPE."""
    try:
        return (venv / STAMP).read_text() == stamp(lock)
    except OSError:
        return False


def installer(root: Path, python: str, wheelhouse: str, lock: str) -> list[str] | None:
    """uv's ``pip install`` from ROOT/.installer (installed there now if it is not yet), or
    None: pip then installs each venv."""
    if wheelhouse == "-" or lock == "-":
        return None
    venv = root / INSTALLER_DIR
    uv = venv / "bin" / "uv"
    marker = venv / STAMP
    if not marker.exists() or marker.read_text() != Path(lock).read_text():
        shutil.rmtree(venv, ignore_errors=True)
        run([python, "-m", "venv", str(venv)])
        run([str(venv / "bin" / "pip"), "install", "--disable-pip-version-check", "--no-input",
             "--require-hashes", "--only-binary=:all:", "--no-index", "--find-links", wheelhouse,
             "--requirement", lock])  # fmt: skip
        marker.write_text(Path(lock).read_text())
    # No cache: nothing of one build is kept for the next (the wheelhouse is the cache).
    # Bytecode compiled now, as pip does and uv does only when asked: a service cannot write
    # it (a read-only venv), and without it each start compiles every import again (a stack
    # took twice as long to answer /health: 0.45 s instead of 0.86 s for FastAPI).
    return [str(uv), "pip", "install", "--quiet", "--no-cache", "--link-mode=copy",
            "--compile-bytecode"]  # fmt: skip


def build(
    python: str, wheelhouse: str, uv: list[str] | None, venv: Path, lock: str, wheel: str
) -> None:
    shutil.rmtree(venv, ignore_errors=True)
    if uv is None:
        run([python, "-m", "venv", str(venv)])
        pip = venv / "bin" / "pip"
        install = [str(pip), "install", "--disable-pip-version-check", "--no-input"]
    else:  # the stacks need no pip of their own: uv installs into the venv's Python
        run([python, "-m", "venv", "--without-pip", str(venv)])
        install = [*uv, "--python", str(venv / "bin" / "python")]
    offline = ["--no-index", "--find-links", wheelhouse] if wheelhouse != "-" else []
    run([*install, "--require-hashes", "--only-binary=:all:", "--requirement", lock, *offline])
    if wheel != "-":
        # The app's own wheel, copied from the control node; its dependencies are the lock's.
        run([*install, "--no-deps", "--no-index", wheel])
    run([str(venv / "bin" / "python"), "-c", TWISTED_CACHE])
    (venv / STAMP).write_text(stamp(lock))


def main(root: str, python: str, wheelhouse: str, installer_lock: str, *specs: str) -> int:
    wanted = {Path(specs[i]): (specs[i + 1], specs[i + 2]) for i in range(0, len(specs), 3)}
    missing = [venv for venv in wanted if not current(venv, wanted[venv][0])]
    failures = []
    uv = None
    if missing:
        try:
            uv = installer(Path(root), python, wheelhouse, installer_lock)
        except (OSError, RuntimeError) as error:
            print(f"could not install uv (lock {installer_lock}): {error}", file=sys.stderr)
            return 1
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(missing))) as pool:
        jobs = {
            venv: pool.submit(build, python, wheelhouse, uv, venv, *wanted[venv])
            for venv in missing
        }
        for venv, job in jobs.items():
            try:
                job.result()
            except (OSError, RuntimeError) as error:
                failures.append(f"{venv} (lock {wanted[venv][0]}): {error}")
    # Venvs (and their locks' copies) that no stack uses any more.
    kept = set(wanted) | {Path(lock) for lock, _ in wanted.values()}
    kept |= {Path(root) / INSTALLER_DIR, Path(installer_lock)}
    unused = [old for old in Path(root).iterdir() if old not in kept]
    for old in unused:
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    if failures:
        print("could not install " + "\n".join(failures), file=sys.stderr)
        return 1
    print(json.dumps({"built": [str(v) for v in missing], "removed": [str(v) for v in unused]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
