"""--start-at: several client hosts begin timing at one agreed wall-clock moment."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from bench_client.results_format import ExitCode


def _started(result) -> float:
    return datetime.fromisoformat(result.meta["started"]).timestamp()


@pytest.mark.parametrize("processes", [1, 2])
def test_timing_waits_for_the_agreed_start(server, bench, processes):
    agreed = round(time.time() + 1.5, 3)
    result = bench(
        server, mode="concurrent", processes=processes, concurrency=2, iterations=6,
        interval=0, start_at=agreed,
    )  # fmt: skip
    assert result.code == ExitCode.DONE
    # The meta file keeps milliseconds: the start is never before the agreed moment.
    assert _started(result) >= agreed - 0.001
    start = result.meta["start"]
    assert datetime.fromisoformat(start["agreed"]).timestamp() == pytest.approx(agreed, abs=1e-3)
    assert start["late_s"] >= 0
    assert result.meta["config"]["start_at"] == agreed
    assert result.meta["requests"] == 6


def test_a_start_already_past_begins_at_once_and_says_how_late(server, bench):
    agreed = time.time() - 30
    result = bench(server, mode="constant", iterations=3, interval=0, start_at=agreed)
    assert result.code == ExitCode.DONE
    assert result.meta["start"]["late_s"] >= 30
    assert result.meta["start"]["late_s"] == pytest.approx(_started(result) - agreed, abs=2e-3)


def test_without_start_at_the_meta_has_no_start(server, bench):
    result = bench(server, mode="constant", iterations=2, interval=0)
    assert result.code == ExitCode.DONE
    assert "start" not in result.meta


def test_a_bad_start_at_is_refused(server, bench, capsys):
    result = bench(server, mode="constant", iterations=2, start_at=-5)
    assert result.code == ExitCode.USAGE
    assert "--start-at must be a Unix time" in capsys.readouterr().err
