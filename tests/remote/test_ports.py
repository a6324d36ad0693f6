"""A measurement that would not fit in the client's free ports waits, then warns."""

from __future__ import annotations

import io

import pytest

from orchestrator.remote.ports import RESERVE, connections_needed, ensure_ports, plan_warnings
from orchestrator.remote.session import LinePrefixer


def budget(free: int) -> dict:
    return {"port_range": [49152, 65535], "ports": 16384, "time_wait": 16384 - free,
            "free": free, "time_wait_s": 120}  # fmt: skip


@pytest.mark.parametrize(
    ("mode", "settings", "needed"),
    [
        ("constant", {"iterations": 20000, "warmup": 10}, 20011),
        ("constant", {}, 251),  # the defaults: 200 timed, 50 warm-up, 1 checked
        ("concurrent", {"concurrency": 64}, 65),
        ("keepalive", {"iterations": 20000}, 2),
        ("sweep", {"concurrency": 4, "sweep_steps": 3}, 15),
    ],
)
def test_connections_needed(mode: str, settings: dict, needed: int) -> None:
    assert connections_needed(mode, settings) == needed


def test_waits_for_time_wait_to_drain() -> None:
    readings = iter([budget(500), budget(800), budget(16000)])
    slept: list[float] = []
    out = io.StringIO()
    result = ensure_ports(lambda: next(readings), 5000, LinePrefixer("", out), slept.append)
    assert slept == [5.0, 5.0]
    assert result["free"] == 16000 and result["waited_s"] == 10.0
    assert "warning" not in result
    assert "waiting up to 120 s" in out.getvalue()


def test_warns_when_it_never_fits() -> None:
    out = io.StringIO()
    result = ensure_ports(lambda: budget(3000), 20000, LinePrefixer("", out), lambda _: None)
    assert result["waited_s"] == 120.0
    assert "only 3000 free local ports for 20000 new connections" in result["warning"]
    assert "warning:" in out.getvalue()


def test_fits_without_waiting() -> None:
    result = ensure_ports(lambda: budget(16000), 16000 - RESERVE, LinePrefixer("", io.StringIO()))
    assert result["waited_s"] == 0 and "warning" not in result


def test_the_plan_warns_when_a_constant_measurement_outgrows_a_default_client() -> None:
    settings = {"iterations": 20_000, "warmup": 50, "interval": 0.005}
    warnings = plan_warnings(["constant", "concurrent"], settings)
    assert len(warnings) == 1 and "Windows client" in warnings[0] and "20051" in warnings[0]
    assert plan_warnings(["constant"], {**settings, "iterations": 200}) == []
    assert plan_warnings(["concurrent"], settings) == []
    both = plan_warnings(["constant"], {**settings, "iterations": 30_000})
    assert len(both) == 2 and "a Windows client" in both[0] and "a Linux client" in both[1]
