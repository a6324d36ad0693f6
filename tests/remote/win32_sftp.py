"""A fake SFTP client that names files the way Win32-OpenSSH's sftp-server does.

Written for httplab from a reading of PowerShell/openssh-portable
(contrib/win32/win32compat/misc.c, realpath and resolved_path_utf16): every
path an SFTP request names is turned into a Windows path like this:

* ``/`` is the virtual root above the drives;
* a leading ``/`` is dropped only when the third character is ``:``
  (``/C:/Users`` -> ``C:/Users``); anything else is kept as it is, so
  ``//C:/Users`` stays a network (UNC) path ``\\\\C:\\Users``;
* a bare drive ``C:`` becomes ``C:\\``;
* the result is made absolute with ``_wfullpath``: against the current drive
  for ``/Users``, against the user's home (sftp-server's working directory)
  for a relative path; ``.`` and ``..`` are resolved, ``/`` becomes ``\\``.

Files live in memory; names compare case-insensitively, as on NTFS.
"""

from __future__ import annotations

import io
import ntpath
import stat
from pathlib import Path
from types import SimpleNamespace


class NetworkPathError(OSError):
    """The path resolved to a UNC share (\\\\server\\share): not on this host."""


def win32_sftp_path(path: str, home: str) -> str:
    """The Windows path Win32-OpenSSH's sftp-server uses for SFTP path ``path``."""
    if path in ("/", "\\"):
        return "/"
    if len(path) >= 3 and path[0] == "/" and path[2] == ":":
        path = path[1:]
    if len(path) == 2 and path[1] == ":":
        path += "\\"
    path = path.replace("/", "\\")
    if path.startswith("\\\\"):
        return path  # UNC: \\server\share\...
    if path.startswith("\\"):
        path = ntpath.splitdrive(home)[0] + path
    elif not ntpath.splitdrive(path)[0]:
        path = ntpath.join(home, path)
    return ntpath.normpath(path)


class Win32SftpClient:
    """The few paramiko.SFTPClient calls httplab makes, on an in-memory Windows disk."""

    def __init__(self, home: str = r"C:\Users\Jane Doe", drives: str = "C") -> None:
        self.home = home
        self.dirs = {f"{drive}:\\".lower() for drive in drives}
        self.files: dict[str, bytes] = {}
        self.created: list[str] = []  # Windows paths of mkdir calls, in order
        self._mkdirs(home)

    def _mkdirs(self, path: str) -> None:
        while path.lower() not in self.dirs:
            self.dirs.add(path.lower())
            path = ntpath.dirname(path)

    def resolve(self, path: str) -> str:
        resolved = win32_sftp_path(path, self.home)
        if resolved.startswith("\\\\"):
            raise NetworkPathError(2, f"network path not found: {resolved}", path)
        if resolved == "/":
            raise PermissionError(13, "the virtual root holds only drives", path)
        return resolved

    def stat(self, path: str) -> SimpleNamespace:
        resolved = self.resolve(path).lower()
        if resolved in self.dirs:
            return SimpleNamespace(st_mode=stat.S_IFDIR | 0o755, st_size=0)
        if resolved in self.files:
            return SimpleNamespace(st_mode=stat.S_IFREG | 0o644, st_size=len(self.files[resolved]))
        raise FileNotFoundError(2, "No such file", path)

    def mkdir(self, path: str) -> None:
        resolved = self.resolve(path)
        if ntpath.dirname(resolved).lower() not in self.dirs:
            raise FileNotFoundError(2, "parent directory missing", path)
        if resolved.lower() in self.dirs or resolved.lower() in self.files:
            raise OSError(17, "exists", path)
        self.dirs.add(resolved.lower())
        self.created.append(resolved)

    def _parent_exists(self, path: str) -> str:
        resolved = self.resolve(path)
        if ntpath.dirname(resolved).lower() not in self.dirs:
            raise FileNotFoundError(2, "No such directory", path)
        return resolved.lower()

    def put(self, local: str, remote: str) -> None:
        self.files[self._parent_exists(remote)] = Path(local).read_bytes()

    def listdir_attr(self, path: str) -> list[SimpleNamespace]:
        directory = self.resolve(path).lower()
        if directory not in self.dirs:
            raise FileNotFoundError(2, "No such directory", path)
        return [
            SimpleNamespace(filename=ntpath.basename(name), st_size=len(data))
            for name, data in self.files.items()
            if ntpath.dirname(name) == directory
        ]

    def remove(self, path: str) -> None:
        resolved = self.resolve(path).lower()
        if resolved not in self.files:
            raise FileNotFoundError(2, "No such file", path)
        del self.files[resolved]

    def open(self, path: str, mode: str = "r") -> io.BytesIO:
        if "w" in mode:
            name = self._parent_exists(path)
            files = self.files

            class Writer(io.BytesIO):
                def close(self) -> None:
                    files[name] = self.getvalue()
                    super().close()

            return Writer()
        resolved = self.resolve(path).lower()
        if resolved not in self.files:
            raise FileNotFoundError(2, "No such file", path)
        return io.BytesIO(self.files[resolved])
