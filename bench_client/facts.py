"""Facts about the client host for the meta file, with a fallback wherever psutil cannot tell.

psutil answers differently per OS and VM: cpu_freq() is None or raises on some
Windows VMs and containers, cpu_count(logical=False) can be None. A missing
fact is recorded as None rather than stopping a run.
"""

from __future__ import annotations

import ctypes
import locale
import platform
import socket
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import psutil

import bench_client

T = TypeVar("T")
LIBRARIES = ("requests", "urllib3", "psutil", "tqdm", "colorama")


def _maybe(read: Callable[[], T]) -> T | None:
    try:
        return read()
    except (psutil.Error, OSError, AttributeError, NotImplementedError, RuntimeError):
        return None


def cpu_model(system: str | None = None, cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The marketing name of the CPU, as the paper's device table shows it."""
    system = system or platform.system()
    if system == "Linux":
        text = _maybe(lambda: cpuinfo.read_text(encoding="utf-8", errors="replace")) or ""
        for line in text.splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    if system == "Windows":
        name = _windows_cpu_name()
        if name:
            return name
    return platform.processor() or platform.machine() or "unknown"


def _windows_cpu_name() -> str | None:
    """platform.processor() on Windows is a family code, the registry has the real name."""
    try:
        import winreg  # only exists on Windows
    except ImportError:
        return None
    key_path = r"HARDWARE\DESCRIPTION\System\CentralProcessor\0"
    try:
        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, key_path) as key:
            return str(winreg.QueryValueEx(key, "ProcessorNameString")[0]).strip()
    except OSError:
        return None


def _cpu_mhz() -> float | None:
    frequency = _maybe(psutil.cpu_freq)
    return round(frequency.current, 1) if frequency and frequency.current else None


def _ram_mb() -> int | None:
    memory = _maybe(psutil.virtual_memory)
    return memory.total // 2**20 if memory else None


def cpu_affinity() -> list[int] | None:
    """The CPUs this process may run on; None where the OS cannot tell (macOS)."""
    return _maybe(lambda: sorted(psutil.Process().cpu_affinity()))  # type: ignore[attr-defined]


def cpu_governor(
    cpus: list[int] | None, sysfs: Path = Path("/sys/devices/system/cpu")
) -> str | None:
    """Linux's cpufreq governor of those CPUs ("performance", "powersave,schedutil"...).

    None where there is no cpufreq (most VMs and containers, Windows, macOS): a
    Windows power plan is not read.
    """
    governors = set()
    for cpu in cpus or []:
        text = _maybe(lambda cpu=cpu: (sysfs / f"cpu{cpu}/cpufreq/scaling_governor").read_text())
        if text:
            governors.add(text.strip())
    return ",".join(sorted(governors)) or None


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"bench_client": bench_client.__version__}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None  # colorama is only installed where tqdm needs it
    return found


def client_facts(sleep_granularity: float) -> dict[str, Any]:
    """The client's row of the paper's device table, and what shapes its timing."""
    affinity = cpu_affinity()
    count = psutil.cpu_count()
    return {
        "name": socket.gethostname(),
        "os": platform.platform(),
        "system": platform.system(),
        "release": platform.release(),
        "machine": platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_count": count or (len(affinity) if affinity else None),
        "cpu_affinity": affinity,
        "cpus_pinned": None if affinity is None or not count else len(affinity) < count,
        "cpu_governor": cpu_governor(affinity),
        "cpu_cores_physical": _maybe(lambda: psutil.cpu_count(logical=False)),
        "cpu_mhz": _cpu_mhz(),
        "ram_mb": _ram_mb(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "python_executable": sys.executable,
        "clock": "time.perf_counter",
        "clock_resolution_s": time.get_clock_info("perf_counter").resolution,
        "sleep_granularity_s": sleep_granularity,
        "code_pages": code_pages(),
    }


def code_pages() -> dict[str, Any]:
    """The text encodings of the client: the preferred one, and Windows' code pages."""
    pages: dict[str, Any] = {"preferred_encoding": locale.getpreferredencoding(False)}
    if sys.platform == "win32":
        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        pages.update(
            ansi=kernel32.GetACP(),
            oem=kernel32.GetOEMCP(),
            console_output=kernel32.GetConsoleOutputCP(),
        )
    return pages
