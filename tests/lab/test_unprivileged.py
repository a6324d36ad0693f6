"""Root only for `lab up`/`lab down`: the lab's owner reaches it as a plain user.

Two real system users, made for this module: the owner, to whom `up --owner` hands
the lab, and a third user, who must not read what the owner got.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from lab import api
from lab.config import REPO_ROOT

pytestmark = pytest.mark.lab


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int
    home: Path

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """Run argv as this user alone (no supplementary groups), from the checkout."""
        env = {"HOME": str(self.home), "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
        return subprocess.run(
            list(argv), capture_output=True, text=True, timeout=300, cwd=REPO_ROOT,
            user=self.uid, group=self.gid, extra_groups=[], env=env, check=False,
        )  # fmt: skip


@contextlib.contextmanager
def _system_user(role: str) -> Iterator[User]:
    name = f"hl{role}{os.getpid()}"
    home = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    subprocess.run(
        ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", str(home),
         "--shell", "/usr/sbin/nologin", name],
        check=True, capture_output=True,
    )  # fmt: skip
    entry = pwd.getpwnam(name)
    os.chown(home, entry.pw_uid, entry.pw_gid)
    try:
        yield User(name, entry.pw_uid, entry.pw_gid, home)
    finally:
        # Ansible's ControlPersist masters outlive the commands; userdel refuses a user
        # with processes.
        started = [p for p in psutil.process_iter(["uids"]) if p.info["uids"].real == entry.pw_uid]
        for process in started:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.terminate()
        psutil.wait_procs(started, timeout=10)
        subprocess.run(["userdel", name], check=True, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def stranger() -> Iterator[User]:
    with _system_user("other") as user:
        yield user


@pytest.fixture(scope="module")
def owned_lab(embedded_lab: api.Lab) -> Iterator[tuple[api.Lab, User]]:
    """The session lab handed to a fresh system user; handed back to root afterwards."""
    with _system_user("owner") as user:
        yield api.up(embedded_lab.name, owner=user.name), user
        api.up(embedded_lab.name)


def _skip_unless_the_venv_runs_as(user: User) -> None:
    try:
        user.run(sys.executable, "-c", "pass")
    except PermissionError:
        pytest.skip(
            f"this venv's Python ({Path(sys.executable).resolve()}) is in a directory other "
            "users cannot enter; build the venv from a system Python "
            "(make venv PYTHON=/usr/bin/python3.11) to run this test"
        )


def test_the_owner_runs_ansible_without_root(owned_lab, venv_bin):
    lab, owner = owned_lab
    _skip_unless_the_venv_runs_as(owner)
    inventory = str(lab.inventory_path)
    ansible = str(venv_bin / "ansible")
    ping = owner.run(ansible, "-i", inventory, "all", "-m", "ansible.builtin.ping")
    assert ping.returncode == 0, ping.stdout + ping.stderr
    for host in lab.hosts:
        assert f"{host.hostname} | SUCCESS" in ping.stdout
    # A lookup runs on the control node: Ansible itself ran as the owner, not as root.
    whoami = "msg={{ lookup('ansible.builtin.pipe', 'id -u') }}"
    debug = owner.run(
        ansible, "-i", inventory, lab.server.hostname,
        "-m", "ansible.builtin.debug", "-a", whoami,
    )  # fmt: skip
    assert debug.returncode == 0, debug.stdout + debug.stderr
    assert f"msg: '{owner.uid}'" in debug.stdout  # ansible.cfg: callback_result_format = yaml


def test_the_owner_runs_the_fabric_preflight_without_root(owned_lab, venv_bin):
    lab, owner = owned_lab
    _skip_unless_the_venv_runs_as(owner)
    check = owner.run(
        str(venv_bin / "python"), "-m", "httplab", "check", "-i", str(lab.inventory_path), "--json"
    )
    assert check.returncode == 0, check.stdout + check.stderr
    findings = json.loads(check.stdout.strip().splitlines()[-1])["findings"]
    found = {(f["host"], f["item"]): f["value"] for f in findings}
    assert found[("client", "ssh banner")].startswith("SSH-2.0-OpenSSH")
    assert found[("server", "sudo")] == "passwordless"


def test_the_handed_over_files_are_the_owners_alone(owned_lab, stranger):
    lab, owner = owned_lab
    assert lab.owner == owner.name
    directory = lab.access_dir.stat()
    assert (directory.st_uid, directory.st_gid, directory.st_mode & 0o777) == (
        owner.uid, owner.gid, 0o700,
    )  # fmt: skip
    copies = sorted(lab.access_dir.iterdir())
    assert [p.name for p in copies] == ["id_ed25519", "id_ed25519.pub", "known_hosts"]
    for copy in copies:
        mode = copy.lstat()
        assert (mode.st_uid, mode.st_gid, mode.st_mode & 0o777) == (owner.uid, owner.gid, 0o600)
        assert owner.run("cat", str(copy)).returncode == 0
        refused = stranger.run("cat", str(copy))
        assert refused.returncode == 1 and "Permission denied" in refused.stderr
    assert lab.inventory_path.stat().st_uid == owner.uid
    # Root's own key stays root's: the owner's copy is not what root trusts.
    original = lab.key_path.stat()
    assert (original.st_uid, original.st_mode & 0o777) == (0, 0o600)
    assert owner.run("cat", str(lab.key_path)).returncode == 1


def test_a_link_the_owner_leaves_is_not_followed(owned_lab, tmp_path):
    lab, owner = owned_lab
    target = tmp_path / "roots-file"
    target.write_text("root's\n")
    planted = lab.access_dir / "known_hosts"
    assert owner.run("ln", "-sfn", str(target), str(planted)).returncode == 0
    again = api.up(lab.name, owner=owner.name)
    assert target.read_text() == "root's\n"
    assert not planted.is_symlink()
    assert planted.read_text() == lab.known_hosts_path.read_text()
    assert again.server.pid == lab.server.pid, "handing over again does not restart the lab"


def test_links_planted_at_the_inventory_are_not_followed(owned_lab, tmp_path):
    """In a checkout of the owner's, inventory/ is theirs to plant links in."""
    lab, owner = owned_lab
    target = tmp_path / "roots-file"
    target.write_text("root's\n")
    inventory = lab.inventory_path
    older_temporary = inventory.with_name(f".{inventory.name}.tmp")  # older code wrote there
    inventory.unlink()
    try:
        for planted in (inventory, older_temporary):
            planted.symlink_to(target)
        api.up(lab.name, owner=owner.name)
        assert target.read_text() == "root's\n"
        assert not inventory.is_symlink()
        assert inventory.stat().st_uid == owner.uid
    finally:
        older_temporary.unlink(missing_ok=True)
