"""Each lab host's root tree, owned by a UID range of its own so container root is not host root.

systemd-nspawn maps the container's UIDs 0-65535 onto an unprivileged host range
(--private-users). The files it boots from must be owned by that range. nspawn 252
cannot idmap a --volatile=overlay root (overlayfs refuses idmapped mounts), so each
host gets a copy of the image, shifted to its range once by nspawn itself
(--private-users-ownership=chown keeps setuid bits, ACLs and file capabilities), and
boots that copy read-only under the throw-away overlay. The copy is kept with the
image, so a warm `up` costs nothing more; it goes when the image of its recipe does.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from lab.config import HostConfig
from lab.image import Image, hosts_dir
from lab.system import Progress, run

# The container sees UIDs and GIDs 0-65535, as on an ordinary Debian host.
RANGE_SIZE = 65536


@dataclass(frozen=True)
class HostRoot:
    path: Path
    uid_base: int

    @property
    def private_users(self) -> str:
        """The --private-users= value that maps container root onto uid_base."""
        return f"{self.uid_base}:{RANGE_SIZE}"


def host_root(image: Image, host: HostConfig, progress: Progress) -> HostRoot:
    """The host's shifted copy of the image, made on first use."""
    path = hosts_dir(image) / host.machine
    if not path.is_dir():
        _make(image, host, path, progress)
    uid_base = path.stat().st_uid
    if uid_base < RANGE_SIZE:  # never boot a tree that still maps onto host root
        shutil.rmtree(path)
        return host_root(image, host, progress)
    return HostRoot(path, uid_base)


def _make(image: Image, host: HostConfig, path: Path, progress: Progress) -> None:
    progress(f"giving {host.hostname} its own copy of the image, owned by a private UID range")
    partial = path.with_name(f"{path.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    run(["cp", "--archive", "--reflink=auto", str(image.path), str(partial)])
    # `pick` lets nspawn choose a range no other container uses (its own lock files in
    # /run and the user database); `chown` shifts the tree to it and exits.
    run([
        "systemd-nspawn", f"--directory={partial}", f"--machine={host.machine}",
        "--private-users=pick", "--private-users-ownership=chown",
        "--register=no", "--keep-unit", "--quiet", "--pipe", "/bin/true",
    ])  # fmt: skip
    partial.rename(path)
