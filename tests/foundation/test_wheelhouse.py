"""The offline wheelhouse: every pin has a wheel for every target, and installs without an index."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from packaging.tags import Tag
from packaging.utils import parse_wheel_filename

from tests.foundation.pins import read_locked, read_pins

ROOT = Path(__file__).resolve().parents[2]
WHEELHOUSE = ROOT / "wheelhouse"

# The server's wheelhouse holds the wheels of every lock a stack may install from (the
# Makefile's SERVER_LOCKS): the lab's apps', the installer's (uv), the stacks' own, the
# example apps'.
SERVER_LOCKS = (
    "requirements/server.txt",
    "requirements/installer.txt",
    *sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("requirements/stacks/*.txt")),
    *sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("examples/*/requirements.txt")),
)
CLIENT_LOCKS = ("requirements/client.txt",)

TARGETS = [
    # (folder, the locks it serves, interpreter tag, platform predicate)
    ("server/py3.10", SERVER_LOCKS, "cp310", "linux"),
    ("server/py3.11", SERVER_LOCKS, "cp311", "linux"),
    ("server/py3.12", SERVER_LOCKS, "cp312", "linux"),
    ("server/py3.13", SERVER_LOCKS, "cp313", "linux"),  # Debian 13
    ("server/py3.14", SERVER_LOCKS, "cp314", "linux"),  # Ubuntu 26.04
    ("client/py3.11-linux", CLIENT_LOCKS, "cp311", "linux"),
    ("client/py3.11-win_amd64", CLIENT_LOCKS, "cp311", "win_amd64"),
    ("client/py3.12-linux", CLIENT_LOCKS, "cp312", "linux"),
    ("client/py3.12-win_amd64", CLIENT_LOCKS, "cp312", "win_amd64"),
]


def _wheelhouse(folder: str) -> Path:
    path = WHEELHOUSE / folder
    if not path.is_dir():
        pytest.fail(f"{path} is missing: run `make wheelhouse` first")
    return path


def _fits(tag: Tag, interpreter: str, platform: str) -> bool:
    """Could a target with this interpreter and platform install a wheel with this tag?"""
    version = interpreter.removeprefix("cp")
    interpreter_ok = (
        tag.interpreter in {interpreter, f"py{version[0]}", "py2.py3", f"py{version}"}
        or tag.interpreter.startswith("py3")
        or (tag.abi == "abi3" and tag.interpreter.startswith("cp3"))
    )
    if platform == "win_amd64":
        platform_ok = tag.platform in {"any", "win_amd64"}
    else:
        platform_ok = tag.platform == "any" or (
            "linux" in tag.platform and tag.platform.endswith("x86_64")
        )
    return interpreter_ok and platform_ok


@pytest.mark.parametrize(("folder", "locks", "interpreter", "platform"), TARGETS)
def test_every_pin_has_a_wheel_for_the_target(
    folder: str, locks: tuple[str, ...], interpreter: str, platform: str
) -> None:
    wheels: dict[tuple[str, str], frozenset[Tag]] = {}
    for wheel in _wheelhouse(folder).glob("*.whl"):
        name, version, _build, tags = parse_wheel_filename(wheel.name)
        wheels[(name, str(version))] = tags
    for lock in locks:
        for name, version in read_pins(ROOT / lock).items():
            tags = wheels.get((name, version))
            assert tags is not None, f"{folder}: no wheel for {name}=={version} ({lock})"
            assert any(_fits(tag, interpreter, platform) for tag in tags), (
                f"{folder}: {name} wheel tags {sorted(map(str, tags))} do not fit "
                f"{interpreter}/{platform}"
            )


@pytest.mark.parametrize(("folder", "locks"), [t[:2] for t in TARGETS])
def test_every_wheel_matches_a_hash_in_a_lock(folder: str, locks: tuple[str, ...]) -> None:
    """The locks cover every platform of the wheelhouse, not only the control node's; a wheel
    no lock pins has no business there."""
    hashes: dict[str, set[str]] = {}
    for lock in locks:
        for name, locked in read_locked(ROOT / lock).items():
            hashes.setdefault(name, set()).update(locked.hashes)
    for wheel in sorted(_wheelhouse(folder).glob("*.whl")):
        name = parse_wheel_filename(wheel.name)[0]
        digest = "sha256:" + hashlib.sha256(wheel.read_bytes()).hexdigest()
        assert digest in hashes.get(name, set()), f"{folder}/{wheel.name}: sha256 in no lock"


def _fresh_venv(path: Path) -> Path:
    venv.EnvBuilder(with_pip=True).create(path)
    return path / "bin" / "python"


def _offline_install(python: Path, folder: Path, requirements: str) -> None:
    subprocess.run(
        [
            str(python), "-m", "pip", "install", "--quiet", "--no-index", "--require-hashes",
            "--disable-pip-version-check", "--isolated",
            "--find-links", str(folder), "-r", str(ROOT / requirements),
        ],
        check=True, capture_output=True, text=True,
    )  # fmt: skip


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the wheelhouse targets cp311 here")
@pytest.mark.slow  # a fresh venv each
def test_client_set_installs_offline_into_a_fresh_venv(tmp_path: Path) -> None:
    python = _fresh_venv(tmp_path / "client")
    _offline_install(python, _wheelhouse("client/py3.11-linux"), "requirements/client.txt")
    probe = "import requests, psutil, tqdm; print(requests.__version__)"
    out = subprocess.run([str(python), "-c", probe], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == read_pins(ROOT / "requirements/client.txt")["requests"]


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the wheelhouse targets cp311 here")
@pytest.mark.slow  # a fresh venv each
def test_server_set_installs_offline_into_a_fresh_venv(tmp_path: Path) -> None:
    python = _fresh_venv(tmp_path / "server")
    _offline_install(python, _wheelhouse("server/py3.11"), "requirements/server.txt")
    probe = (
        "import flask, django, fastapi, uvicorn, gunicorn, gevent, daphne;"
        "print(django.get_version())"
    )
    out = subprocess.run([str(python), "-c", probe], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == read_pins(ROOT / "requirements/server.txt")["django"]


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the wheelhouse targets cp311 here")
@pytest.mark.slow  # a fresh venv each
def test_a_wheel_changed_after_locking_is_refused(tmp_path: Path) -> None:
    """A wheel swapped under its own name (a poisoned mirror or copy) does not install."""
    wheels = shutil.copytree(_wheelhouse("client/py3.11-linux"), tmp_path / "wheels")
    (tampered,) = wheels.glob("idna-*.whl")
    with tampered.open("ab") as handle:  # still a valid zip: the central directory is found
        handle.write(b"\0" * 64)
    python = _fresh_venv(tmp_path / "client")
    with pytest.raises(subprocess.CalledProcessError) as refused:
        _offline_install(python, wheels, "requirements/client.txt")
    assert "DO NOT MATCH THE HASHES" in refused.value.stderr
    assert tampered.name in refused.value.stderr


def _targets_made(*make_args: str) -> list[str]:
    """The wheelhouse targets a make command fetches (their stamps), from its dry run."""
    commands = subprocess.run(
        ["make", "--dry-run", "--always-make", "--no-print-directory", *make_args],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    stamps = re.findall(r"^touch wheelhouse/(\S+)/\.complete$", commands, re.MULTILINE)
    return sorted(set(stamps))


def test_make_wheelhouse_fetches_every_target() -> None:
    assert _targets_made("wheelhouse") == sorted(folder for folder, *_ in TARGETS)


def test_make_run_fetches_only_the_embedded_labs_targets_and_every_one_for_a_real_lab(
    tmp_path: Path,
) -> None:
    """The embedded lab's hosts are Debian 12 (Python 3.11) with Linux clients; a real lab's
    Pythons and client OS are known only once Ansible reaches it."""
    assert _targets_made("wheelhouse-targets") == ["client/py3.11-linux", "server/py3.11"]
    every = sorted(folder for folder, *_ in TARGETS)
    assert _targets_made("wheelhouse-targets", "INVENTORY=inventory/lab.yml") == every
    # A dry run still runs the recipe line that calls make (its timing lines go to PHASES).
    run = subprocess.run(
        ["make", "--dry-run", "--no-print-directory", "run", "LAB_NAME=dry",
         f"PHASES={tmp_path / 'phases'}"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "wheelhouse-targets" in run


BUILD_VENVS = ROOT / "roles/httplab/files/build_venvs.py"


def _build_venvs(root: Path, wheels: Path, *spec: str) -> subprocess.CompletedProcess[str]:
    """The role's venv builder as the role runs it, offline from ``wheels``, with uv."""
    installer = root / ".installer.requirements.txt"
    shutil.copy(ROOT / "requirements/installer.txt", installer)
    return subprocess.run(
        [sys.executable, str(BUILD_VENVS), str(root), sys.executable, str(wheels), str(installer),
         *spec],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip


def _client_wheels_and_uv(tmp_path: Path) -> Path:
    wheels = shutil.copytree(_wheelhouse("client/py3.11-linux"), tmp_path / "wheels")
    (uv,) = _wheelhouse("server/py3.11").glob("uv-*.whl")
    shutil.copy(uv, wheels)
    return wheels


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the wheelhouse targets cp311 here")
@pytest.mark.slow  # installs uv and a venv
def test_the_role_builds_a_venv_with_uv_offline_from_the_lock(tmp_path: Path) -> None:
    root = tmp_path / "venvs"
    root.mkdir()
    venv = root / "client"
    built = _build_venvs(
        root, _client_wheels_and_uv(tmp_path), str(venv), str(ROOT / "requirements/client.txt"), "-"
    )
    assert built.returncode == 0, built.stderr
    assert json.loads(built.stdout)["built"] == [str(venv)]
    assert (root / ".installer/bin/uv").is_file(), "uv installed from the wheelhouse"
    assert not (venv / "bin/pip").exists(), "the stack's venv needs no pip of its own"
    probe = [str(venv / "bin/python"), "-c", "import requests; print(requests.__version__)"]
    out = subprocess.run(probe, check=True, capture_output=True, text=True).stdout.strip()
    assert out == read_pins(ROOT / "requirements/client.txt")["requests"]
    # Compiled now: a service cannot write its bytecode into its read-only venv.
    (site,) = venv.glob("lib/python3.*/site-packages")
    assert list((site / "requests/__pycache__").glob("api.cpython-311*.pyc"))
    # A venv an older recipe built (its stamp names the lock alone) is built again.
    (venv / ".httplab-complete").write_text(str(ROOT / "requirements/client.txt") + "\n")
    again = _build_venvs(
        root, _client_wheels_and_uv(tmp_path / "again"), str(venv),
        str(ROOT / "requirements/client.txt"), "-",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["built"] == [str(venv)]
    unchanged = _build_venvs(
        root, _client_wheels_and_uv(tmp_path / "unchanged"), str(venv),
        str(ROOT / "requirements/client.txt"), "-",
    )  # fmt: skip
    assert json.loads(unchanged.stdout)["built"] == []


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the wheelhouse targets cp311 here")
@pytest.mark.slow  # installs uv
def test_the_roles_uv_refuses_a_wheel_changed_after_locking(tmp_path: Path) -> None:
    wheels = _client_wheels_and_uv(tmp_path)
    (tampered,) = wheels.glob("idna-*.whl")
    with tampered.open("ab") as handle:  # still a valid zip: the central directory is found
        handle.write(b"\0" * 64)
    root = tmp_path / "venvs"
    root.mkdir()
    venv = root / "client"
    built = _build_venvs(root, wheels, str(venv), str(ROOT / "requirements/client.txt"), "-")
    assert built.returncode == 1
    assert "idna" in built.stderr and "hash" in built.stderr.lower(), built.stderr
    assert not (venv / ".httplab-complete").exists()
