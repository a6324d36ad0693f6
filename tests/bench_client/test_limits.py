"""The client-bottleneck verdict: which evidence flags the client, and which does not."""

from __future__ import annotations

import pytest

from bench_client.limits import assess, spread

IDLE = {"process_cpu_cores": 0.2, "host_cpu_percent": 30.0}
BUSY = {"process_cpu_cores": 0.97, "host_cpu_percent": 60.0}
CROWDED = {"process_cpu_cores": 0.3, "host_cpu_percent": 99.0}


def test_a_saturated_client_process_is_flagged_in_load_modes():
    verdict = assess("concurrent", None, BUSY, {"loop_lag_s": [0.0001] * 10})
    assert verdict["client_bottleneck"] is True
    assert "97% of a core" in verdict["reasons"][0]


def test_a_crowded_client_host_is_flagged():
    """Other processes took the CPUs: the client waited, and its times include the wait."""
    verdict = assess("rate", 100.0, CROWDED, _rate_stats(100, 100, 0.00001))
    assert verdict["reasons"] == ["client host CPUs were 99% busy"]


def test_sequential_modes_are_not_judged_by_cpu():
    """One request at a time cannot outrun a server; its cost is client_overhead instead."""
    assert assess("keepalive", None, BUSY, {})["client_bottleneck"] is False


def test_a_healthy_concurrent_run():
    verdict = assess("concurrent", None, IDLE, {"loop_lag_s": [0.0001] * 50})
    assert verdict["client_bottleneck"] is False
    assert verdict["reasons"] == []
    assert verdict["loop_lag_s"]["p99"] == pytest.approx(0.0001)


def test_a_late_event_loop_is_flagged():
    verdict = assess("concurrent", None, IDLE, {"loop_lag_s": [0.0001] * 90 + [0.02] * 10})
    assert verdict["client_bottleneck"] is True
    assert "20.0 ms late" in verdict["reasons"][0]


def _rate_stats(rate: float, achieved: float, slip: float, waited: int = 0) -> dict:
    times = [i / achieved for i in range(200)]
    return {
        "dispatch_times": times,
        "schedule_slip_s": [slip] * 200,
        "loop_lag_s": [0.0001],
        "waited_for_connection": waited,
        "timer_lead_s": 0.0001,
    }


def test_rate_on_schedule():
    verdict = assess("rate", 1000.0, IDLE, _rate_stats(1000, 1000, 0.00001))
    assert verdict["client_bottleneck"] is False
    assert verdict["achieved_send_rate"] == pytest.approx(1000)
    assert verdict["target_rate"] == 1000


def test_rate_shortfall_and_slip_are_flagged():
    verdict = assess("rate", 5000.0, IDLE, _rate_stats(5000, 3000, 0.01))
    assert verdict["client_bottleneck"] is True
    assert any("3000 requests/s of the 5000/s" in r for r in verdict["reasons"])
    assert any("schedule slipped 10.0 ms" in r for r in verdict["reasons"])


def test_waiting_for_a_connection_is_reported_not_blamed_on_the_client():
    """A slow server fills every connection; that is the server's time, measured as such."""
    verdict = assess("rate", 1000.0, IDLE, _rate_stats(1000, 1000, 0.00001, waited=50))
    assert verdict["waited_for_connection"] == 50
    assert verdict["client_bottleneck"] is False


def test_spread():
    assert spread([]) is None
    assert spread([3.0, 1.0, 2.0]) == {"p50": 2.0, "p99": 3.0, "max": 3.0}


@pytest.mark.parametrize(
    ("errno_value", "winerror", "expected"),
    [
        (99, None, "client out of local ports (EADDRNOTAVAIL)"),  # Linux connect()
        (98, 10048, "client out of local ports (WSAEADDRINUSE)"),  # Windows
        (105, 10055, "client out of local ports (WSAENOBUFS)"),
    ],
)
def test_port_exhaustion_is_named_a_client_limit(errno_value, winerror, expected):
    import requests

    from bench_client.failures import describe

    cause = OSError(errno_value, "cannot assign")
    if winerror is not None:
        cause.winerror = winerror  # what Windows' OSError carries
    wrapped = requests.ConnectionError("connect failed")
    wrapped.__cause__ = cause
    assert describe(wrapped, 5.0) == expected


def test_requests_without_a_free_port_flag_the_client():
    errors = ["client out of local ports (EADDRNOTAVAIL)"] * 3 + ["connection refused"]
    verdict = assess("constant", None, IDLE, {}, errors=errors)
    assert verdict["client_bottleneck"] is True
    assert verdict["out_of_ports"] == 3
    assert "3 requests found no free local port" in verdict["reasons"][0]
    assert assess("constant", None, IDLE, {}, errors=["connection refused"])["out_of_ports"] == 0
