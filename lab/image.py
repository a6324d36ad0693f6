"""The cached Debian images the lab hosts boot from (read-only, under a throw-away overlay).

Debian 12 for every host by default; the server may boot Debian 13 instead (`lab up
--server-os debian13`, SERVER_OSES), its clients staying on Debian 12. Each image is named
after a hash of its recipe, so it is rebuilt only when its recipe changes.
Per-lab identity (hostname, addresses, keys) is not baked in: a oneshot unit copies it at
boot from /etc/httplab, which the launcher bind-mounts from the lab's state directory.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from lab import procs
from lab.config import IMAGE_ROOT, LAB_USER
from lab.errors import LabError
from lab.system import Progress, require_free_space, run, write_atomic

SUITE = "bookworm"
DEFAULT_OS = "debian12"
MIRROR = "http://deb.debian.org/debian"
# From the host package debian-archive-keyring (lab.system installs it).
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "python3",
    "python3-venv",
    "python3-apt",  # Ansible's apt module imports it
    "iproute2",
    "sudo",
    "ca-certificates",
    "acl",  # Ansible's become_user to an unprivileged user uses setfacl
    "procps",
    "nftables",  # the httplab role's port filter (roles/httplab)
    # The database workloads' PostgreSQL (roles/httplab_postgres), Debian 12's own: run on
    # the server only, by that role; CUSTOMISE leaves it without a cluster, and masked.
    "postgresql-15",
)
NEEDED_MIB = 1024


@dataclass(frozen=True)
class ServerOs:
    """A Debian release a lab host can boot: its suite and what differs in its packages."""

    suite: str
    # The release's own PostgreSQL in place of Debian 12's postgresql-15.
    postgresql: str

    @property
    def packages(self) -> tuple[str, ...]:
        return tuple(self.postgresql if p == "postgresql-15" else p for p in PACKAGES)


# The OSes a lab server boots (`lab up --server-os`; lab/README.md, "A Debian 13 server").
SERVER_OSES = {
    "debian12": ServerOs(SUITE, "postgresql-15"),
    "debian13": ServerOs("trixie", "postgresql-17"),
}

SEED_SCRIPT = """\
#!/bin/sh
# Apply this host's lab identity from /etc/httplab, which `python -m lab`
# bind-mounts read-only from the lab's state directory.
set -eu
seed=/etc/httplab
install -m 0644 "$seed/hostname" /etc/hostname
install -m 0644 "$seed/hosts" /etc/hosts
install -m 0644 "$seed/network" /etc/systemd/network/10-httplab.network
install -m 0600 "$seed/ssh_host_ed25519_key" /etc/ssh/ssh_host_ed25519_key
install -m 0644 "$seed/ssh_host_ed25519_key.pub" /etc/ssh/ssh_host_ed25519_key.pub
install -d -m 0700 -o httplab -g httplab /home/httplab/.ssh
install -m 0600 -o httplab -g httplab "$seed/authorized_keys" /home/httplab/.ssh/authorized_keys
"""

SEED_UNIT = """\
[Unit]
Description=Apply the httplab lab seed (hostname, address, SSH keys)
DefaultDependencies=no
After=local-fs.target
Before=sysinit.target systemd-networkd.service ssh.service
ConditionPathExists=/etc/httplab/hosts

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/httplab-seed

[Install]
WantedBy=sysinit.target
"""

SSHD_CONFIG = """\
HostKey /etc/ssh/ssh_host_ed25519_key
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
UseDNS no
"""

# The lab has no DNS server; without a nameserver line glibc fails fast on 127.0.0.1.
RESOLV_CONF = (
    "# httplab lab: no DNS, hosts are listed in /etc/hosts\noptions timeout:1 attempts:1\n"
)

# Files written into the image before CUSTOMISE runs: path -> (content, mode).
FILES = {
    "usr/local/sbin/httplab-seed": (SEED_SCRIPT, 0o755),
    "etc/systemd/system/httplab-seed.service": (SEED_UNIT, 0o644),
    "etc/ssh/sshd_config.d/httplab.conf": (SSHD_CONFIG, 0o644),
    f"etc/sudoers.d/{LAB_USER}": (f"{LAB_USER} ALL=(ALL:ALL) NOPASSWD: ALL\n", 0o440),
    "etc/resolv.conf": (RESOLV_CONF, 0o644),
    "etc/hosts": ("127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n", 0o644),
}

CUSTOMISE = f"""\
set -eu
# Host keys are per lab (seeded at boot), never shared through the image.
rm -f /etc/ssh/ssh_host_*
useradd --create-home --shell /bin/bash --comment "httplab lab user" {LAB_USER}
# '*' = no password but not locked, so public-key logins are allowed.
usermod --password '*' {LAB_USER}
# An empty machine-id: each host gets its own from systemd-nspawn --uuid.
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id /etc/hostname
ln -s /etc/machine-id /var/lib/dbus/machine-id
systemctl enable systemd-networkd.service httplab-seed.service ssh.service
# There is no route to a mirror; the timers would only hold the apt lock the roles need.
systemctl mask apt-daily.timer apt-daily-upgrade.timer
# PostgreSQL runs only where the httplab_postgres role puts it (the server), never on a
# client: no cluster in the image (the role creates its own) and the service masked (the
# role unmasks it). Both hosts boot from this image. The package's snakeoil key would be
# every lab host's, like a host key: gone (the role turns SSL off; loopback needs none).
pg_lsclusters --no-header | while read -r version cluster _; do
  pg_dropcluster "$version" "$cluster"
done
systemctl disable postgresql.service
systemctl mask postgresql.service
rm -f /etc/ssl/private/ssl-cert-snakeoil.key /etc/ssl/certs/ssl-cert-snakeoil.pem
find /etc/ssl/certs -lname ssl-cert-snakeoil.pem -delete
apt-get clean
"""

# debootstrap's per-package lines ("I: Retrieving libc6 2.36-9") are summarised, not shown.
_IMAGE_NAME = re.compile(r"[0-9a-f]{16}(\.partial|\.hosts)?")
_PACKAGE_LINE = re.compile(
    r"^I: (Retrieving|Validating|Extracting|Unpacking|Configuring) \S+(\.\.\.| \S+)$"
)


@dataclass(frozen=True)
class Image:
    path: Path
    recipe_hash: str

    @property
    def size_bytes(self) -> int | None:
        """Size measured when the image was built (None if its record is gone)."""
        info = _info_path(self.recipe_hash)
        return int(json.loads(info.read_text())["size_bytes"]) if info.exists() else None


def hosts_dir(image: Image) -> Path:
    """Where the hosts' own copies of this image live (see lab.userns)."""
    return image.path.with_name(f"{image.recipe_hash}.hosts")


def recipe_hash(os_name: str = DEFAULT_OS) -> str:
    server_os = SERVER_OSES[os_name]
    recipe = {
        "suite": server_os.suite,
        "mirror": MIRROR,
        "packages": server_os.packages,
        "files": {path: [text, mode] for path, (text, mode) in FILES.items()},
        "customise": CUSTOMISE,
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def _info_path(digest: str) -> Path:
    return IMAGE_ROOT / f"{digest}.json"


def ensure_image(progress: Progress, os_name: str = DEFAULT_OS) -> Image:
    """Return the cached image of this OS's current recipe, building it first if needed."""
    digest = recipe_hash(os_name)
    image = Image(IMAGE_ROOT / digest, digest)
    IMAGE_ROOT.mkdir(parents=True, exist_ok=True)
    # Root only: the trees hold setuid binaries (root's in the image, container root's
    # in the hosts' copies) that a user of this machine must not run.
    IMAGE_ROOT.chmod(0o700)
    if image.path.is_dir():
        return image
    # Two labs coming up at once on a fresh machine must not both build it.
    with (IMAGE_ROOT / ".build.lock").open("w") as lock:
        if not _try_lock(lock):
            progress("another lab is building the image; waiting for it")
            fcntl.flock(lock, fcntl.LOCK_EX)
        if not image.path.is_dir():
            _build(image, os_name, progress)
    return image


def _try_lock(lock: object) -> bool:
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _build(image: Image, os_name: str, progress: Progress) -> None:
    require_free_space(IMAGE_ROOT, NEEDED_MIB, "the lab image")
    partial = image.path.with_name(f"{image.recipe_hash}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    log_path = image.path.with_name(f"{image.recipe_hash}.log")
    started = time.monotonic()
    progress(f"building the lab image {image.recipe_hash} ({os_name}) with debootstrap (1-3 min)")
    progress(f"  log: {log_path}")
    _debootstrap(partial, log_path, progress, os_name)
    for relpath, (text, mode) in FILES.items():
        write_atomic(partial / relpath, text, mode)
    run(["chroot", str(partial), "/bin/sh", "-c", CUSTOMISE])
    size = int(run(["du", "-sb", str(partial)]).stdout.split()[0])
    partial.rename(image.path)
    seconds = time.monotonic() - started
    info = {"recipe_hash": image.recipe_hash, "seconds": round(seconds, 1), "size_bytes": size}
    write_atomic(_info_path(image.recipe_hash), json.dumps(info, indent=2) + "\n")
    progress(f"image built in {seconds:.0f} s, {size / 2**20:.0f} MiB: {image.path}")
    # Every OS's current image stays: building Debian 13's removes no Debian 12 image.
    current = [IMAGE_ROOT / recipe_hash(name) for name in SERVER_OSES]
    for removed in prune_images(IMAGE_ROOT, keep=image.path, also=current):
        progress(f"removed the image of an older recipe: {removed}")


def prune_images(root: Path, keep: Path, also: list[Path] | tuple[Path, ...] = ()) -> list[Path]:
    """Remove images (their hosts' copies, their records) of other recipes no running lab uses.

    `also`: other images to keep (the current recipe of each OS). Call with the build lock
    held: a .partial directory then is a crashed build.
    """
    booted = [
        Path(arg.removeprefix("--directory="))
        for pid in procs.pids()
        for arg in procs.cmdline(pid)
        if arg.startswith("--directory=")
    ]
    in_use = {_digest(p.relative_to(root).parts[0]) for p in booted if p.is_relative_to(root)}
    in_use |= {image.name for image in also}
    kept = (keep, keep.with_name(f"{keep.name}.hosts"))
    removed = []
    for path in sorted(root.iterdir()):
        if path in kept or not path.is_dir() or not _IMAGE_NAME.fullmatch(path.name):
            continue
        digest = _digest(path.name)
        if digest in in_use:
            continue
        shutil.rmtree(path)
        if digest != keep.name:  # a crashed build of the kept recipe keeps its log
            (root / f"{digest}.json").unlink(missing_ok=True)
            (root / f"{digest}.log").unlink(missing_ok=True)
        removed.append(path)
    return removed


def _digest(name: str) -> str:
    """The recipe hash of an entry of the image root (an image, its hosts' copies, a build)."""
    return name.split(".")[0]


def debootstrap_argv(target: Path, os_name: str = DEFAULT_OS) -> list[str]:
    """debootstrap that refuses a Release file without a valid Debian signature.

    Without a keyring debootstrap only warns and installs unchecked packages.
    """
    server_os = SERVER_OSES[os_name]
    return [
        "debootstrap",
        "--variant=minbase",
        f"--keyring={KEYRING}",
        "--force-check-gpg",
        f"--include={','.join(server_os.packages)}",
        server_os.suite,
        str(target),
        MIRROR,
    ]


def _debootstrap(target: Path, log_path: Path, progress: Progress, os_name: str) -> None:
    argv = debootstrap_argv(target, os_name)
    packages_seen = 0
    with (
        log_path.open("w") as log,
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc,
    ):
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            if _PACKAGE_LINE.match(line):
                packages_seen += 1
                if packages_seen % 100 == 0:
                    progress(f"  debootstrap: {packages_seen} package steps done")
            elif line.startswith(("I: ", "E: ", "W: ")):
                progress(f"  debootstrap: {line[3:].strip()}")
    if proc.returncode != 0:
        raise LabError(
            f"debootstrap failed (exit {proc.returncode}); see {log_path} "
            f"(is {MIRROR} reachable? is there enough space?)"
        )
