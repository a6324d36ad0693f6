"""The lab's owner: the user whose Ansible and Fabric reach the lab without root.

Only `up` and `down` need root. `up` copies what the rest of a run reads - the lab
user's key and the lab's known_hosts - into a directory of /run that only the owner
can read, and gives the owner the inventory that names them. Root keeps its own
originals in the lab's state directory and never reads the owner's copies back.
"""

from __future__ import annotations

import os
import pwd
import shutil
from dataclasses import dataclass

from lab.config import ACCESS_ROOT, LabConfig
from lab.errors import LabError
from lab.system import write_atomic


@dataclass(frozen=True)
class Owner:
    """A user of this machine who may use a lab."""

    name: str
    uid: int
    gid: int


def resolve_owner(name: str | None = None) -> Owner:
    """The named user, else the user sudo was called by (SUDO_UID, SUDO_USER), else root."""
    try:
        if name is not None:
            entry = pwd.getpwnam(name)
        elif os.environ.get("SUDO_UID", "").isdigit():
            entry = pwd.getpwuid(int(os.environ["SUDO_UID"]))
        else:
            entry = pwd.getpwnam(os.environ.get("SUDO_USER") or "root")
    except KeyError as exc:
        who = name or os.environ.get("SUDO_USER") or os.environ.get("SUDO_UID")
        raise LabError(
            f"no user {who!r} on this machine to hand the lab to; "
            "give an existing user name with --owner"
        ) from exc
    return Owner(entry.pw_name, entry.pw_uid, entry.pw_gid)


def hand_over(config: LabConfig, owner: Owner) -> None:
    """Give the owner fresh copies of the lab's key pair and known_hosts, 0600 in a 0700 dir.

    The directory is made anew by root and handed over only once it is full, so nothing
    the owner (or a previous owner) left there is followed or kept.
    """
    originals = (
        config.key_path,
        config.key_path.with_suffix(".pub"),
        config.known_hosts_path,
    )
    ACCESS_ROOT.mkdir(exist_ok=True)
    ACCESS_ROOT.chmod(0o755)  # whatever root's umask: every owner enters it to reach their own
    withdraw(config)
    config.access_dir.mkdir(mode=0o700)
    for original in originals:
        copy = config.access_dir / original.name
        write_atomic(copy, original.read_text(), 0o600, (owner.uid, owner.gid))
    os.chown(config.access_dir, owner.uid, owner.gid, follow_symlinks=False)


def withdraw(config: LabConfig) -> None:
    """Remove the owner's copies (rmtree removes links in the directory, never follows them)."""
    if config.access_dir.exists():
        shutil.rmtree(config.access_dir)


def owner_name(config: LabConfig) -> str | None:
    """The user the lab is handed to now, or None when it is not handed to anyone."""
    try:
        return pwd.getpwuid(config.access_dir.lstat().st_uid).pw_name
    except (FileNotFoundError, KeyError):
        return None
