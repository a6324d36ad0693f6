"""The client-bottleneck verdict: which evidence flags the client, and which does not."""

from __future__ import annotations

import pytest

from bench_client.limits import assess, assess_processes, spread

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


def test_an_event_loop_late_again_and_again_is_flagged():
    lags = ([0.0001] * 9 + [0.02]) * 10  # late every tenth tick: ten stalls
    verdict = assess("concurrent", None, IDLE, {"loop_lag_s": lags})
    assert verdict["client_bottleneck"] is True
    assert verdict["reasons"] == [
        "event loop ran its timers more than 2.0 ms late 10 of 100 times in 10 stretch(es) "
        "(p99 20.0 ms)"
    ]


def test_one_late_timer_is_a_note_not_a_limit():
    verdict = assess("concurrent", None, IDLE, {"loop_lag_s": [0.0001] * 99 + [0.02]})
    assert verdict["client_bottleneck"] is False
    assert verdict["notes"] == [
        "event loop ran its timers more than 2.0 ms late once (p99 20.0 ms): one stretch, "
        "not a limit"
    ]


def _rate_stats(rate: float, achieved: float, slip: float | list[float], waited: int = 0) -> dict:
    slips = slip if isinstance(slip, list) else [slip] * 200
    return {
        "dispatch_times": [i / achieved for i in range(len(slips))],
        "schedule_slip_s": slips,
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
    # Every dispatch late, in one stretch as long as the step: behind all along, no hiccup.
    assert verdict["reasons"] == [
        "dispatched 3000 requests/s of the 5000/s asked",
        "schedule slipped more than 2.0 ms late 200 of 200 times in 1 stretch(es) (p99 10.0 ms)",
    ]


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


# Steps as the sweeps of issue 26 recorded them (embedded lab, 5 s steps).
QUIET_CLIENT = {"process_cpu_cores": 0.056, "host_cpu_percent": 4.7}


def test_a_recorded_step_with_one_late_timer_is_not_client_limited():
    """flask-gunicorn at 50/s: 250 dispatches on time but three, the worst 2.7-3.4 ms late,
    on a client using 5.6% of a core. 20 ms between sends: nothing fell behind."""
    slips = [0.00005] * 250
    slips[40], slips[130], slips[201] = 0.0034, 0.0029, 0.0027
    verdict = assess("rate", 50.0, QUIET_CLIENT, _rate_stats(50, 50, slips))
    assert verdict["client_bottleneck"] is False
    assert verdict["notes"] == [
        "schedule slipped 2.7 ms late (p99), under the 20.0 ms between sends: not a limit"
    ]
    assert verdict["schedule_late"]["late"] == 0


def test_a_recorded_step_with_one_stall_at_a_high_rate_is_not_client_limited():
    """One 10 ms stall at 2,000/s (0.5 ms between sends) makes 20 dispatches of 10,000 late,
    one after the other: one stretch, an outlier."""
    slips = [0.00005] * 10_000
    slips[5000:5020] = [0.010 - i * 0.0005 for i in range(20)]
    verdict = assess("rate", 2000.0, QUIET_CLIENT, _rate_stats(2000, 2000, slips))
    assert verdict["client_bottleneck"] is False
    assert verdict["schedule_late"] == {
        "threshold_s": 0.002, "late": 16, "count": 10_000, "stretches": 1, "limits": False,
    }  # fmt: skip


def test_a_recorded_saturated_client_is_client_limited():
    """fastapi-uvicorn at 4,325/s: the engine's one thread at 98% of a core, the schedule
    falling behind in stretch after stretch and the send rate short of the target."""
    slips = ([0.0001] * 60 + [0.004] * 40) * 200  # 200 stretches, 40% of dispatches late
    stats = _rate_stats(4325, 3900, slips)
    verdict = assess("rate", 4325.0, {"process_cpu_cores": 0.98, "host_cpu_percent": 61.0}, stats)
    assert verdict["client_bottleneck"] is True
    assert verdict["reasons"] == [
        "client process used 98% of a core (its engine is one thread)",
        "dispatched 3900 requests/s of the 4325/s asked",
        "schedule slipped more than 2.0 ms late 8000 of 20000 times in 200 stretch(es) "
        "(p99 4.0 ms)",
    ]


def test_a_schedule_that_keeps_falling_behind_limits_even_an_idle_client():
    """Late by more than the gap between sends, in many places: the load the server saw was
    not the schedule's."""
    slips = ([0.0001] * 95 + [0.03] * 5) * 3  # 300 dispatches at 50/s, three 30 ms stalls
    verdict = assess("rate", 50.0, QUIET_CLIENT, _rate_stats(50, 50, slips))
    assert verdict["client_bottleneck"] is True
    assert verdict["reasons"] == [
        "schedule slipped more than 20.0 ms late 15 of 300 times in 3 stretch(es) (p99 30.0 ms)"
    ]


def test_processes_merge_reasons_and_notes():
    one = assess("concurrent", None, IDLE, {"loop_lag_s": [0.0001] * 99 + [0.02]})
    two = assess("concurrent", None, BUSY, {"loop_lag_s": [0.0001] * 100})
    merged = assess_processes({1: one, 2: two}, 40.0)
    assert merged["client_bottleneck"] is True
    assert merged["reasons"] == [
        "process 2: client process used 97% of a core (its engine is one thread)"
    ]
    assert merged["notes"][0].startswith("process 1: event loop ran its timers")
