"""The port budget's Windows reads on localized output (windows_output/SOURCES.md says whence).

Nothing here runs Windows: the fixtures are the bytes netsh and netstat write on French,
Spanish, German and Japanese Windows, and the TIME_WAIT tables are built from the
netstat rows in GetExtendedTcpTable's own layout.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from pathlib import Path

import pytest

from bench_client import limits, local_ports

OUTPUT = Path(__file__).with_name("windows_output")
CODE_PAGES = {"fr": 850, "es": 850, "de": 850, "ja": 932}
NETSH = {
    "fr": (49152, 65535),
    "ja": (49152, 65535),
    "es": (10000, 29999),
    "de": (1024, 65534),
}
# MIB_TCP_STATE (tcpmib.h) for each state word the fixtures print: English, and German's.
STATES = {
    "LISTENING": 2, "ABHÖREN": 2, "SYN_SENT": 3, "ESTABLISHED": 5, "HERGESTELLT": 5,
    "CLOSE_WAIT": 8, "SCHLIESSEN_WARTEN": 8, "LAST_ACK": 10, "TIME_WAIT": 11, "WARTEND": 11,
}  # fmt: skip
# TIME_WAIT rows in each fixture, counted by hand.
TIME_WAIT = {"fr": 10, "es": 5, "de": 4, "ja": 0}


def fixture(kind: str, language: str) -> bytes:
    return (OUTPUT / f"{kind}_{language}.txt").read_bytes()


@pytest.mark.parametrize("language", sorted(NETSH))
def test_the_dynamic_port_range_is_read_in_any_language(language: str) -> None:
    text = local_ports.console_text(fixture("netsh", language), CODE_PAGES[language])
    assert local_ports.parse_dynamic_ports(text) == NETSH[language]


@pytest.mark.parametrize("language", ["fr", "es", "ja"])
def test_the_bytes_that_broke_utf8_mode_decode_with_the_console_code_page(language: str) -> None:
    data = fixture("netsh", language)
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # what subprocess.run(text=True) did under python -X utf8
    text = local_ports.console_text(data, CODE_PAGES[language])
    assert {"fr": "démarrage", "es": "Número", "ja": "開始ポート"}[language] in text


def test_an_unknown_code_page_still_gives_the_numbers() -> None:
    text = local_ports.console_text(fixture("netsh", "ja"), 1)  # no codec "cp1"
    assert "\ufffd" in text
    assert local_ports.parse_dynamic_ports(text) == (49152, 65535)


@pytest.mark.parametrize(
    "text",
    ["", "Le service n'est pas démarré.\r\n", "Start Port : 0\r\nNumber of Ports : 5\r\n",
     "Start Port : 65000\r\nNumber of Ports : 1000\r\n"],
)  # fmt: skip
def test_output_without_a_sane_range_is_no_range(text: str) -> None:
    assert local_ports.parse_dynamic_ports(text) is None


def _row(family: int, local: str, remote: str, state: int) -> bytes:
    """One MIB_TCPROW_OWNER_PID or MIB_TCP6ROW_OWNER_PID, as GetExtendedTcpTable writes it."""
    (local_ip, local_port), (remote_ip, remote_port) = map(_endpoint, (local, remote))
    if family == socket.AF_INET:
        return struct.pack(
            "<I4sI4sII", state, local_ip, socket.htons(local_port), remote_ip,
            socket.htons(remote_port), 4321,
        )  # fmt: skip
    return struct.pack(
        "<16sII16sIIII", local_ip, 0, socket.htons(local_port), remote_ip, 0,
        socket.htons(remote_port), state, 4321,
    )  # fmt: skip


def _endpoint(text: str) -> tuple[bytes, int]:
    host, _, port = text.rpartition(":")
    return ipaddress.ip_address(host.strip("[]")).packed, int(port)


def tables(netstat: str) -> dict[int, bytes]:
    """The fixture's rows as the two tables GetExtendedTcpTable returns, by address family."""
    rows: dict[int, list[bytes]] = {2: [], 23: []}
    for line in netstat.splitlines():
        fields = line.split()
        if fields[:1] != ["TCP"]:
            continue
        family = 23 if fields[1].startswith("[") else 2
        rows[family].append(_row(family, fields[1], fields[2], STATES[fields[3]]))
    return {family: struct.pack("<I", len(each)) + b"".join(each) for family, each in rows.items()}


@pytest.mark.parametrize("language", sorted(TIME_WAIT))
def test_time_wait_is_counted_by_state_number_in_any_language(language: str) -> None:
    netstat = local_ports.console_text(fixture("netstat", language), CODE_PAGES[language])
    by_family = tables(netstat)
    assert (
        sum(local_ports.count_time_wait(t, f) for f, t in by_family.items())
        == (TIME_WAIT[language])
    )


def test_the_english_word_misses_german_time_wait() -> None:
    """Why the count is no longer netstat's text: German Windows prints WARTEND."""
    netstat = local_ports.console_text(fixture("netstat", "de"), 850)
    assert netstat.count("TIME_WAIT") == 0 < TIME_WAIT["de"]


def test_port_budget_on_this_host_reads_the_range_and_the_time_wait_count() -> None:
    budget = limits.port_budget()
    assert budget["port_range_read"] is True
    low, high = budget["port_range"]
    with open("/proc/sys/net/ipv4/ip_local_port_range") as handle:  # noqa: PTH123
        assert [low, high] == [int(n) for n in handle.read().split()]
    assert budget["ports"] == high - low + 1
    assert budget["free"] == max(0, budget["ports"] - budget["time_wait"])
    assert budget["time_wait_s"] == local_ports.LINUX_TIME_WAIT_S


def test_a_closed_connection_is_counted_in_time_wait() -> None:
    """The Linux read against a connection this test leaves in TIME_WAIT itself."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
        client.close()  # the side that closes first holds TIME_WAIT
        accepted.close()
        assert local_ports.time_wait_count() >= 1
