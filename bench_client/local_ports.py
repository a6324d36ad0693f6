"""This host's ephemeral ports: their range, how many sit in TIME_WAIT, and for how long.

Read without words, so that a French, Spanish, German or Japanese Windows
reads the same as an English one:

* the dynamic port range from ``netsh int ipv4 show dynamicport tcp``: its
  bytes decoded with the console's code page (netsh writes localized text in
  it, e.g. cp850 "Número" or cp932), then the two lines that end in a number
  (start port, number of ports), whatever words come before them;
* the TIME_WAIT count from GetExtendedTcpTable, which gives each connection's
  state as a number (netstat's state column is translated: German "WARTEND");
* TcpTimedWaitDelay from the registry.

Standard library only: the preflight runs this module's source with the
client's own Python, before bench_client is installed there.
"""

from __future__ import annotations

import re
import struct
import subprocess
import sys

LINUX_TIME_WAIT_S = 60  # TCP_TIMEWAIT_LEN, fixed in the kernel
WINDOWS_TIME_WAIT_S = 120  # TcpTimedWaitDelay when the value is unset
WINDOWS_DEFAULT_RANGE = (49152, 65535)
NETSH_DYNAMIC_PORTS = ("netsh", "int", "ipv4", "show", "dynamicport", "tcp")
_TCPIP_KEY = r"SYSTEM\CurrentControlSet\Services\Tcpip\Parameters"

# GetExtendedTcpTable with TCP_TABLE_OWNER_PID_ALL (tcpmib.h): a DWORD count, then
# rows; per address family the row's size and where its dwState sits.
TCP_TABLE_OWNER_PID_ALL = 5
MIB_TCP_STATE_TIME_WAIT = 11
ROW_LAYOUTS = {
    2: (24, 0),  # AF_INET: MIB_TCPROW_OWNER_PID, dwState first of six DWORDs
    23: (56, 48),  # AF_INET6: MIB_TCP6ROW_OWNER_PID, dwState after 2 x (16 + 4 + 4) bytes
}
_ERROR_INSUFFICIENT_BUFFER = 122
_LINE_ENDS_IN_NUMBER = re.compile(r"(\d+)\s*$")


def console_text(data: bytes, code_page: int) -> str:
    """A console program's output as text: ``code_page`` (0: unknown) and never an error.

    Windows console tools write in the console's output code page (the OEM one, cp850
    or cp932..., where there is no console); bytes that do not fit become U+FFFD.
    """
    encoding = f"cp{code_page}" if code_page else "ascii"
    try:
        return data.decode(encoding, errors="replace")
    except LookupError:  # a code page Python has no codec for: digits are ASCII anyway
        return data.decode("ascii", errors="replace")


def parse_dynamic_ports(text: str) -> tuple[int, int] | None:
    """(first, last) port from netsh's dynamicport output in any language, or None.

    The two lines that end in a number are the start port and the number of ports.
    """
    numbers = [int(m.group(1)) for m in map(_LINE_ENDS_IN_NUMBER.search, text.splitlines()) if m]
    if len(numbers) < 2:
        return None
    start, count = numbers[:2]
    last = start + count - 1
    if not (0 < start <= last <= 65535):
        return None
    return start, last


def count_time_wait(table: bytes, family: int) -> int:
    """Connections in TIME_WAIT in a GetExtendedTcpTable result for ``family``."""
    size, state_at = ROW_LAYOUTS[family]
    (rows,) = struct.unpack_from("<I", table)
    return sum(
        1
        for row in range(rows)
        if struct.unpack_from("<I", table, 4 + row * size + state_at)[0] == MIB_TCP_STATE_TIME_WAIT
    )


def windows_code_page() -> int:
    """The code page console programs write in here: the console's, else the OEM one."""
    import ctypes

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    return int(kernel32.GetConsoleOutputCP() or kernel32.GetOEMCP())


def _windows_port_range() -> tuple[int, int] | None:
    done = subprocess.run(NETSH_DYNAMIC_PORTS, capture_output=True, check=False)
    return parse_dynamic_ports(console_text(done.stdout, windows_code_page()))


def _tcp_table(family: int) -> bytes:
    import ctypes

    get_table = ctypes.windll.iphlpapi.GetExtendedTcpTable  # type: ignore[attr-defined]
    size = ctypes.c_ulong(0)
    while True:  # the table can grow between the size query and the read
        buffer = ctypes.create_string_buffer(max(size.value, 4))
        result = get_table(buffer, ctypes.byref(size), False, family, TCP_TABLE_OWNER_PID_ALL, 0)
        if result == 0:
            return buffer.raw
        if result != _ERROR_INSUFFICIENT_BUFFER:
            raise OSError(result, f"GetExtendedTcpTable failed (error {result})")


def _windows_time_wait_seconds() -> int:
    import winreg

    try:
        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, _TCPIP_KEY) as key:
            return int(winreg.QueryValueEx(key, "TcpTimedWaitDelay")[0])
    except OSError:
        return WINDOWS_TIME_WAIT_S


def _linux_time_wait() -> int:
    states: list[str] = []
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as handle:  # noqa: PTH123 (pathlib is one import more on the client)
                states += [line.split()[3] for line in handle.readlines()[1:]]
        except OSError:  # no IPv6 on this host
            continue
    return states.count("06")  # TCP_TIME_WAIT


def port_range() -> tuple[int, int] | None:
    """This host's dynamic (ephemeral) TCP port range, or None if it cannot be read."""
    if sys.platform == "win32":
        return _windows_port_range()
    with open("/proc/sys/net/ipv4/ip_local_port_range") as handle:  # noqa: PTH123
        low, high = handle.read().split()
    return int(low), int(high)


def time_wait_count() -> int:
    """How many TCP connections on this host are in TIME_WAIT now."""
    if sys.platform == "win32":
        return sum(count_time_wait(_tcp_table(family), family) for family in ROW_LAYOUTS)
    return _linux_time_wait()


def time_wait_seconds() -> int:
    """How long a closed connection holds its port in TIME_WAIT here."""
    return _windows_time_wait_seconds() if sys.platform == "win32" else LINUX_TIME_WAIT_S
