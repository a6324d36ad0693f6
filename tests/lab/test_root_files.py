"""Root runs nothing the lab's owner can change, and writes for the owner without following links.

Pure file-system tests, no root needed: "root's" below is the user running them.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from bench_client.results_format import ExitCode as HttplabExitCode
from lab import inventory, snapshot, system
from lab.access import Owner
from lab.config import REPO_ROOT, STATE_ROOT, LabConfig
from lab.errors import ExitCode, LabError

ME = (os.getuid(), os.getgid())
SYSTEM_PYTHON = Path("/usr/bin/python3")


def _victim(tmp_path: Path) -> Path:
    """A file of root's that a planted link points at; it must stay as it is."""
    victim = tmp_path / "roots-file"
    victim.write_text("root's\n")
    return victim


def test_a_link_at_the_path_is_replaced_not_followed(tmp_path):
    victim = _victim(tmp_path)
    path = tmp_path / "inventory" / "lab.yml"
    path.parent.mkdir()
    path.symlink_to(victim)
    system.write_atomic(path, "new\n", 0o640, ME)
    assert victim.read_text() == "root's\n"
    assert not path.is_symlink()
    assert (path.read_text(), path.stat().st_mode & 0o777) == ("new\n", 0o640)
    assert [p.name for p in path.parent.iterdir()] == ["lab.yml"], "no temporary file is left"


def test_a_link_at_the_temporary_path_stops_the_write(tmp_path, monkeypatch):
    victim = _victim(tmp_path)
    path = tmp_path / "lab.yml"
    monkeypatch.setattr(system.secrets, "token_hex", lambda _: "guessed")
    (tmp_path / ".lab.yml.guessed.tmp").symlink_to(victim)
    with pytest.raises(FileExistsError):
        system.write_atomic(path, "new\n")
    assert victim.read_text() == "root's\n"
    assert not path.exists()


def test_a_linked_directory_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "inventory").symlink_to(elsewhere)
    with pytest.raises(LabError, match=r"inventory is not a directory .*not a link"):
        system.write_atomic(tmp_path / "inventory" / "lab.yml", "new\n")
    assert list(elsewhere.iterdir()) == []


def test_the_inventory_is_written_once_and_never_through_a_link(tmp_path, monkeypatch):
    monkeypatch.setattr("lab.config.INVENTORY_DIR", tmp_path)
    config = LabConfig("embedded", ipaddress.IPv4Network("198.51.100.0/24"))
    cpus = {"server": [0], "client": [1]}
    owner = Owner("me", *ME)
    victim = _victim(tmp_path)
    victim.write_text(inventory.render(config, cpus))  # a link to the same text is no inventory
    config.inventory_path.symlink_to(victim)
    assert inventory.write(config, cpus, owner) is True
    assert not config.inventory_path.is_symlink()
    assert victim.read_text() == inventory.render(config, cpus)
    assert inventory.write(config, cpus, owner) is False, "unchanged: not rewritten"


def _old_state(tmp_path: Path) -> Path:
    """A lab's state as older code left it in <checkout>/.lab/NAME, with two planted links."""
    old = tmp_path / "checkout" / ".lab" / "pytest"
    (old / "server" / "seed").mkdir(parents=True)
    old.chmod(0o700)
    (old / "lab.json").write_text("{}\n")
    (old / "id_ed25519").write_text("key\n")
    (old / "id_ed25519").chmod(0o600)
    (old / "server" / "seed" / "hosts").write_text("hosts\n")
    (old / "server" / "nspawn.log").symlink_to(_victim(tmp_path))
    (old / "server" / "linked-dir").symlink_to(tmp_path, target_is_directory=True)
    return old


def test_old_state_is_moved_with_its_files_and_without_its_links(tmp_path):
    old, new = _old_state(tmp_path), tmp_path / "labs" / "pytest"
    new.parent.mkdir(mode=0o700)
    system.move_tree(old, new)
    assert not old.exists()
    files = sorted(str(p.relative_to(new)) for p in new.rglob("*"))
    assert files == ["id_ed25519", "lab.json", "server", "server/seed", "server/seed/hosts"]
    assert (new / "id_ed25519").stat().st_mode & 0o777 == 0o600
    assert new.stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "roots-file").read_text() == "root's\n"


@pytest.mark.parametrize("planted", ["writable by others", "a link"])
def test_old_state_in_a_directory_others_may_change_stays(tmp_path, planted):
    old, new = _old_state(tmp_path), tmp_path / "labs" / "pytest"
    if planted == "a link":
        moved = old.parent.rename(tmp_path / "moved")
        old.parent.symlink_to(moved, target_is_directory=True)
        message = r"\.lab is not a directory"
    else:
        old.parent.chmod(0o777)
        message = r"\.lab is not root's alone"
    with pytest.raises(LabError, match=message):
        system.move_tree(old, new)
    assert (old / "lab.json").exists()
    assert not new.exists()


def test_root_state_is_outside_the_checkout():
    assert not STATE_ROOT.is_relative_to(REPO_ROOT)
    assert LabConfig("pytest", ipaddress.IPv4Network("203.0.113.0/28")).state_dir == (
        STATE_ROOT / "pytest"
    )


def test_the_snapshot_holds_the_lab_alone_read_only(tmp_path):
    code = snapshot.snapshot(snapshot.read_sources(REPO_ROOT / "lab"), tmp_path)
    sources = sorted(p.name for p in (REPO_ROOT / "lab").glob("*.py"))
    assert sorted(p.name for p in (code / "lab").iterdir()) == sources
    for path in (code, *code.rglob("*")):
        assert path.stat().st_mode & 0o777 == (0o755 if path.is_dir() else 0o644), path
    assert snapshot.snapshot(snapshot.read_sources(REPO_ROOT / "lab"), tmp_path) == code
    assert [p.name for p in tmp_path.iterdir()] == [code.name]


@pytest.mark.skipif(not SYSTEM_PYTHON.exists(), reason="no system Python at /usr/bin/python3")
def test_the_snapshot_runs_on_the_system_python_with_the_standard_library_only(tmp_path):
    """-I -S: no venv, no site packages (no psutil, no yaml), no checkout on sys.path."""
    code = snapshot.snapshot(snapshot.read_sources(REPO_ROOT / "lab"), tmp_path)
    imports = "import json, lab.__main__; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [SYSTEM_PYTHON, "-I", "-S", "-c", f"import sys; sys.path[:0] = [{str(code)!r}]; {imports}"],
        capture_output=True, text=True, check=True, cwd="/",
    )  # fmt: skip
    modules = set(json.loads(result.stdout))
    assert {"lab.api", "lab.inventory", "lab.procs"} <= modules
    assert not modules & {"psutil", "yaml", "bench_client"}
    usage = subprocess.run(
        [SYSTEM_PYTHON, "-I", "-S", code, "--help"], capture_output=True, text=True, cwd="/"
    )
    assert (usage.returncode, usage.stdout.split()[0]) == (0, "usage:"), usage.stderr


def test_copies_unused_for_a_week_are_removed(tmp_path):
    unused, recent = tmp_path / "unused", tmp_path / ".partial-running"
    for path in (unused, recent):
        (path / "lab").mkdir(parents=True)
    week_ago = time.time() - snapshot.KEEP_SECONDS - 60
    os.utime(unused, (week_ago, week_ago))
    code = snapshot.snapshot(snapshot.read_sources(REPO_ROOT / "lab"), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([code.name, recent.name])


def test_a_link_among_the_sources_is_refused(tmp_path):
    (tmp_path / "api.py").write_text("pass\n")
    (tmp_path / "evil.py").symlink_to(tmp_path / "api.py")
    with pytest.raises(SystemExit, match=r"evil\.py is a link or a special file"):
        snapshot.read_sources(tmp_path)


def test_a_fifo_among_the_sources_is_refused_without_waiting(tmp_path):
    os.mkfifo(tmp_path / "fifo.py")
    with pytest.raises(SystemExit, match=r"fifo\.py is a link or a special file"):
        snapshot.read_sources(tmp_path)


def test_the_lab_exits_with_httplab_exit_codes():
    assert {code.name: code.value for code in ExitCode} == {
        code.name: HttplabExitCode[code.name].value for code in ExitCode
    }
