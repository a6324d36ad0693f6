"""Run Windows command lines through Wine: its cmd.exe, its C runtime, CreateProcessW.

Two small programs of our own are built with mingw-w64 (``-municode``):
``spawn.exe`` reads UTF-8 command lines from a file and starts each with
CreateProcessW exactly as written; ``argv_echo.exe`` prints the current
directory and the argv its C runtime split, as JSON. Copies of argv_echo.exe
stand in for python.exe, py.exe and powershell.exe at the paths the project
uses. Command lines never pass through wine's own argv, which re-quotes them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath

HERE = Path(__file__).resolve().parent
WINE = Path("/usr/lib/wine/wine64")
WINESERVER = Path("/usr/lib/wine/wineserver")
MINGW = "x86_64-w64-mingw32-gcc"
# spawn.exe prints this after each child: "\n@@exit <code>@@\n".
_EXIT_MARK = re.compile(r"\r?\n@@exit (\d+)@@\r?\n")


def unavailable_reason() -> str | None:
    """Why the Wine tests cannot run here, or None."""
    if not WINE.exists() or not WINESERVER.exists():
        return f"needs {WINE} (apt-get install --no-install-recommends wine64)"
    if shutil.which(MINGW) is None:
        return f"needs {MINGW} (apt-get install --no-install-recommends gcc-mingw-w64-x86-64)"
    return None


def build(source: Path, output: Path) -> Path:
    subprocess.run(
        [MINGW, "-municode", "-O2", "-Wall", "-Werror", "-o", str(output), str(source)],
        check=True,
        capture_output=True,
    )
    return output


@dataclass(frozen=True)
class Ran:
    """One command line's outcome: what argv_echo printed (if it ran) and the exit code."""

    line: str
    stdout: str
    exit_code: int

    @property
    def echoed(self) -> dict | None:
        """The {"cwd", "argv"} that argv_echo printed, or None if it did not run."""
        found = [row for row in self.stdout.splitlines() if row.startswith('{"cwd"')]
        return json.loads(found[-1]) if found else None


class Wine:
    """One Wine prefix with the two programs built, and a persistent wineserver."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.prefix = root / "prefix"
        self.env = {**os.environ, "WINEPREFIX": str(self.prefix), "WINEDEBUG": "-all"}
        self.spawn = build(HERE / "spawn.c", root / "spawn.exe")
        self.argv_echo = build(HERE / "argv_echo.c", root / "argv_echo.exe")
        self.prefix.mkdir()  # the first run fills it in (several seconds)
        subprocess.run([str(WINESERVER), "-p"], env=self.env, check=True)
        self._batch = 0

    def host_path(self, windows_path: str) -> Path:
        """Where C:\\... lives on this machine (the prefix's drive_c)."""
        path = PureWindowsPath(windows_path)
        if path.drive.upper() != "C:":
            raise ValueError(f"only C: exists in the Wine prefix, not {windows_path}")
        return self.prefix / "drive_c" / Path(*path.parts[1:])

    def install_echo(self, windows_path: str) -> None:
        """Put argv_echo.exe at ``windows_path`` (e.g. a venv's python.exe)."""
        target = self.host_path(windows_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.argv_echo, target)

    def make_dir(self, windows_path: str) -> None:
        self.host_path(windows_path).mkdir(parents=True, exist_ok=True)

    def run(self, lines: list[str], timeout: float = 900) -> list[Ran]:
        """Start each command line in turn with CreateProcessW; their outcomes in order.

        A line whose program never ran (no echo, non-zero exit) is run once more, alone:
        on a loaded machine Wine's cmd.exe has lost one line of a long batch (exit 123,
        no output) that ran intact before and after. A line that is really wrong fails
        the same way twice, and the second outcome is the one returned.
        """
        ran = self._run_batch(lines, timeout)
        lost = [i for i, one in enumerate(ran) if one.exit_code != 0 and one.echoed is None]
        if lost:
            again = self._run_batch([lines[i] for i in lost], timeout)
            for i, one in zip(lost, again, strict=True):
                ran[i] = one
        return ran

    def _run_batch(self, lines: list[str], timeout: float) -> list[Ran]:
        for line in lines:
            if "\n" in line or "\r" in line:
                raise ValueError(f"a command line cannot hold a line break: {line!r}")
        self._batch += 1
        batch = self.root / f"lines-{self._batch}.txt"
        batch.write_text("\n".join(lines), encoding="utf-8")
        output = self.root / f"output-{self._batch}.txt"
        # Output goes to files, not pipes: Wine's background services (started
        # by the first run) inherit the handles and would hold a pipe open.
        with output.open("wb") as stdout, (self.root / "stderr.txt").open("ab") as stderr:
            done = subprocess.run(
                [str(WINE), str(self.spawn), f"Z:{batch}".replace("/", "\\")],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                timeout=timeout,
                check=False,
                cwd=self.root,
            )
        parts = _EXIT_MARK.split(output.read_text(encoding="utf-8", errors="replace"))
        if done.returncode != 0 or len(parts) != 2 * len(lines) + 1:
            raise RuntimeError(
                f"spawn.exe ran {len(parts) // 2} of {len(lines)} lines "
                f"(exit {done.returncode}); see {self.root / 'stderr.txt'}"
            )
        return [
            Ran(line, stdout, int(code))
            for line, stdout, code in zip(lines, parts[0::2], parts[1::2], strict=False)
        ]

    def close(self) -> None:
        subprocess.run([str(WINESERVER), "-k"], env=self.env, check=False)
