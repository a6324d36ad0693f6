"""Foundation promises: exact pins, a venv that matches them, safe Ansible defaults."""

from __future__ import annotations

import configparser
import importlib.metadata
import subprocess
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from tests.foundation.pins import read_locked, read_pins

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENT_FILES = [
    "requirements.txt",
    "requirements/dev.txt",
    "requirements/server.txt",
    "requirements/client.txt",
    "requirements/installer.txt",
]


@pytest.mark.parametrize("name", REQUIREMENT_FILES)
def test_requirements_are_exact_pins(name: str) -> None:
    assert read_pins(ROOT / name), f"{name} pins nothing"


@pytest.mark.parametrize("name", REQUIREMENT_FILES)
def test_every_pin_carries_its_hashes(name: str) -> None:
    """pip then installs only files whose sha256 the lock names (hash-checking mode)."""
    unhashed = [pkg for pkg, pin in read_locked(ROOT / name).items() if not pin.hashes]
    assert not unhashed, f"{name}: no --hash for {unhashed}; run `make lock`"
    assert all(
        h.startswith("sha256:") for pin in read_locked(ROOT / name).values() for h in pin.hashes
    )


@pytest.mark.parametrize("name", REQUIREMENT_FILES)
def test_locks_are_written_by_make_lock_from_their_in_file(name: str) -> None:
    lock = ROOT / name
    assert "#    make lock\n" in lock.read_text(), f"{name} was not written by `make lock`"
    direct = read_pins(lock.with_suffix(".in"))
    locked = read_pins(lock)
    stale = {
        pkg: (want, locked.get(pkg)) for pkg, want in direct.items() if locked.get(pkg) != want
    }
    assert not stale, f"{name} differs from its .in (wanted, locked): {stale}; run `make lock`"


def test_make_venv_installs_only_hashed_wheels_and_keeps_pip_as_it_is() -> None:
    commands = subprocess.run(
        ["make", "--dry-run", "--always-make", "--no-print-directory", ".venv/bin/.installed"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    # Continued lines (" \\") make one command each.
    installs = [c for c in commands.replace("\\\n", " ").splitlines() if " install " in c]
    (uv, locked, editable) = installs
    # uv first, by the venv's pip, from its own pin and hashes in the lock; then uv installs
    # the lock, each wheel checked against its hashes, no sdist built.
    assert uv.startswith(".venv/bin/pip ") and "--no-deps" in uv, uv
    assert locked.startswith(".venv/bin/uv pip install ") and "requirements/dev.txt" in locked
    for command in (uv, locked):
        assert "--require-hashes" in command and "--only-binary=:all:" in command, command
    # Bytecode written once at install, as pip writes it: not compiled again at every start.
    assert "--compile-bytecode" in locked and "--compile-bytecode" in editable
    # The checkout itself: no dependencies, no build env fetched from the index.
    assert "--no-deps" in editable and "--no-build-isolation" in editable, editable
    for command in installs:
        assert "--upgrade" not in command, f"an unpinned upgrade: {command}"


def test_the_venvs_uv_comes_with_its_pin_and_every_hash_of_the_lock(tmp_path: Path) -> None:
    """The lines make venv gives pip to install uv: its pin and hashes as the lock has them."""
    sed = next(
        line for line in subprocess.run(
            ["make", "--dry-run", "--always-make", "--no-print-directory", ".venv/bin/.installed"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout.splitlines() if line.startswith("sed ")
    ).replace(".venv/uv-requirement.txt", str(tmp_path / "uv.txt"))  # fmt: skip
    subprocess.run(["bash", "-c", sed], cwd=ROOT, check=True)
    (name, locked) = read_locked(tmp_path / "uv.txt").popitem()
    assert name == "uv" and locked == read_locked(ROOT / "requirements/dev.txt")["uv"]


def test_the_servers_installer_is_the_control_nodes_uv() -> None:
    """The stacks' venvs are installed by the uv the project locks with (one version)."""
    installer = read_locked(ROOT / "requirements/installer.txt")
    assert set(installer) == {"uv"}
    assert installer["uv"] == read_locked(ROOT / "requirements/dev.txt")["uv"]


def test_control_venv_matches_the_pins() -> None:
    """Everything installed in the control venv is pinned, at the pinned version."""
    pins = read_pins(ROOT / "requirements/dev.txt")
    installed = {
        canonicalize_name(dist.metadata["Name"]): dist.version
        for dist in importlib.metadata.distributions()
    }
    # pip comes with the Python installation; httplab is this checkout (editable).
    unpinned = sorted(set(installed) - set(pins) - {"pip", "httplab"})
    assert not unpinned, f"installed but not pinned in requirements: {unpinned}"
    drift = {name: (installed.get(name), want) for name, want in pins.items()}
    drift = {name: got for name, got in drift.items() if got[0] != got[1]}
    assert not drift, f"installed != pinned (installed, pinned): {drift}"


def test_server_pins_keep_django_on_the_lts_that_runs_on_python_3_10() -> None:
    major_minor = read_pins(ROOT / "requirements/server.txt")["django"].split(".")[:2]
    assert major_minor == ["5", "2"]


def test_ansible_cfg_checks_host_keys_and_pipelines() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / "ansible.cfg")
    assert config.getboolean("defaults", "host_key_checking") is True
    assert config.getboolean("ssh_connection", "pipelining") is True
    assert config.get("defaults", "roles_path") == "roles"


def test_readme_gives_the_two_setup_commands_and_ci_runs_the_tests() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme
    assert "make test" in readme
    assert "make test" in (ROOT / ".ci/run").read_text()
