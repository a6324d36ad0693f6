"""The latency-throughput sweep: its stop rule on synthetic steps, and real sweeps on loopback."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path, PurePath

import pytest

from bench_client import config, sweep
from bench_client.documents import StopReason
from bench_client.results_format import (
    CSV_HEADER,
    SWEEP_MODE,
    SWEEP_SCHEMA,
    ExitCode,
    Measurement,
    sha256_file,
)
from tests.bench_client.conftest import Result, StackServer

RULE = config.Sweep(
    start_rate=100.0,
    factor=2.0,
    steps=4,
    step_seconds=1.0,
    latency_factor=5.0,
    shortfall=0.1,
    max_failures=0.01,
)
FIRST = sweep.Step(
    number=1,
    offered_rps=100.0,
    requests=100,
    failures=0,
    throughput_rps=100.0,
    p50_s=0.001,
    p99_s=0.002,
    client_reasons=(),
)


def later(**changes: object) -> sweep.Step:
    """Step 2 of RULE, within the rule unless `changes` say otherwise."""
    step = replace(FIRST, number=2, offered_rps=200.0, requests=200, throughput_rps=199.0)
    return replace(step, **changes)


def test_a_step_like_the_first_is_within_the_rule() -> None:
    assert sweep.judge(RULE, FIRST, FIRST) == (StopReason.WITHIN, "")
    assert sweep.judge(RULE, FIRST, later(p99_s=0.0099))[0] == StopReason.WITHIN


@pytest.mark.parametrize(
    ("step", "reason", "words"),
    [
        (
            later(client_reasons=("client process used 97% of a core",)),
            StopReason.CLIENT_LIMITED,
            "97%",
        ),
        (later(failures=3), StopReason.FAILURES, "1.5% of requests failed"),
        (later(throughput_rps=170.0), StopReason.SHORTFALL, "170 responses/s of 200/s"),
        (later(p99_s=0.0101), StopReason.LATENCY, "p99 10.10 ms over 5 x step 1's 2.00 ms"),
        # No success at all: every request failed, and that is what stops it.
        (
            later(failures=200, throughput_rps=0.0, p50_s=None, p99_s=None),
            StopReason.FAILURES,
            "100",
        ),
    ],
)
def test_each_reason_stops_the_sweep(step: sweep.Step, reason: str, words: str) -> None:
    verdict, why = sweep.judge(RULE, FIRST, step)
    assert verdict == reason
    assert words in why


def test_a_step_with_a_late_timer_the_client_kept_up_with_goes_on_and_says_so() -> None:
    """Issue 26: flask-gunicorn's sweep stopped at 50/s for one 2.7 ms slip; now a note."""
    note = "schedule slipped 2.7 ms late (p99), under the 20.0 ms between sends: not a limit"
    step = later(client_notes=(note,))
    assert sweep.judge(RULE, FIRST, step) == (StopReason.WITHIN, note)
    assert sweep.judge(RULE, FIRST, replace(step, p99_s=0.02))[0] == StopReason.LATENCY


def test_the_client_limit_is_named_before_what_it_may_have_caused() -> None:
    """A client-limited step is never reported as the server's knee, even when it is slow too."""
    step = later(client_reasons=("schedule slipped 9 ms (p99)",), throughput_rps=50.0, p99_s=1.0)
    assert sweep.judge(RULE, FIRST, step)[0] == StopReason.CLIENT_LIMITED


@pytest.mark.parametrize(
    ("reason", "measured", "sustained"),
    [
        (StopReason.LATENCY, 3, 2),
        (StopReason.CLIENT_LIMITED, 2, 1),
        (StopReason.FAILURES, 1, None),  # step 1 already past the rule: nothing sustained
        (StopReason.LADDER_END, 4, 4),
        (StopReason.NO_ANSWER, 2, 2),  # step 3 got no answer: step 2 was the last within
    ],
)
def test_the_sustained_step_is_the_last_within_the_rule(
    reason: str, measured: int, sustained: int | None
) -> None:
    steps = [replace(FIRST, number=n) for n in range(1, measured + 1)]
    found = sweep.Outcome(steps, reason, "").sustained
    assert (found.number if found else None) == sustained


def test_the_ladder_is_geometric_and_sized_by_time() -> None:
    assert [RULE.rate(n) for n in range(1, 5)] == [100.0, 200.0, 400.0, 800.0]
    assert [RULE.iterations(n) for n in range(1, 5)] == [100, 200, 400, 800]


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("sweep_factor", 1.0, "--sweep-factor: must be more than 1"),
        ("sweep_steps", 0, "--sweep-steps: must be at least 1"),
        ("sweep_start_rate", 90_000.0, "last step would offer"),
        ("sweep_latency_factor", 1.0, "--sweep-latency-factor: must be more than 1"),
        ("sweep_shortfall", 1.0, "--sweep-shortfall: must be less than 1"),
        ("sweep_max_failures", 1.0, "--sweep-max-failures: must be less than 1"),
        ("sweep_step_seconds", 0.0, "--sweep-step-seconds: must be more than 0"),
    ],
)
def test_a_bad_rule_is_refused_before_any_request(
    bench: Callable[..., Result], server: StackServer, option: str, value: object, words: str
) -> None:
    result = bench(server, mode=SWEEP_MODE, **{option.replace("_", "-"): value})
    assert result.code == ExitCode.USAGE
    assert server.count == 0
    with pytest.raises(config.ConfigError, match=words.replace("(", r"\(").replace(")", r"\)")):
        config.build(
            base_url=server.url,
            mode=SWEEP_MODE,
            timeout=1,
            warmup=0,
            out="x.csv",
            quiet=True,
            calibration="off",
            **{option: value},
        )


def steps_written(out: Path) -> list[Path]:
    return sorted(out.parent.glob(f"{out.stem}.step*.csv"), key=_step_number)


def check_step_files(out: Path) -> list[dict]:
    """Every step's CSV and meta as the results format says; their sweep blocks in order."""
    blocks = []
    for number, path in enumerate(steps_written(out), start=1):
        cell = Measurement.from_csv_path(PurePath(SWEEP_MODE, "stack", path.name))
        assert cell.step == number  # no gap: steps 1..n
        assert path.read_text().splitlines()[0] == ",".join(CSV_HEADER)
        meta = json.loads(path.with_name(f"{path.stem}.meta.json").read_text())
        assert meta["csv_sha256"] == sha256_file(path)
        assert meta["config"]["mode"] == "rate"
        assert meta["sweep"]["schema"] == SWEEP_SCHEMA
        assert meta["sweep"]["step"] == number
        blocks.append(meta["sweep"])
    return blocks


def _step_number(path: Path) -> int:
    return int(path.stem.rsplit(".step", 1)[1])


def test_a_real_sweep_stops_where_the_server_starts_failing(
    bench: Callable[..., Result], server: StackServer
) -> None:
    """Step 1 (40 requests) is answered; from request 60 on the server answers 500."""
    server.misbehave = "500"
    server.misbehave_on = lambda number: number > 60
    result = bench(
        server,
        mode=SWEEP_MODE,
        processes=1,
        concurrency=4,
        sweep_start_rate=80,
        sweep_factor=2,
        sweep_steps=5,
        sweep_step_seconds=0.5,
    )
    assert result.code == ExitCode.DONE
    blocks = check_step_files(result.out)
    last = blocks[-1]
    assert [b["verdict"] for b in blocks[:-1]] == [StopReason.WITHIN] * (len(blocks) - 1)
    assert all(b["stopped"] is None for b in blocks[:-1])
    assert last["stopped"]["reason"] == last["verdict"]
    if last["verdict"] == StopReason.CLIENT_LIMITED:
        # A busy test machine: the step's own meta file must then say the client was the limit.
        meta = json.loads(result.out.with_name(f"GET.step{last['step']}.meta.json").read_text())
        assert meta["client_limits"]["client_bottleneck"]
    else:
        assert (last["step"], last["verdict"]) == (2, StopReason.FAILURES)
    assert not result.out.with_name(f"GET.step{last['step'] + 1}.csv").exists()


def test_a_real_sweep_against_the_reference_server_writes_every_step_it_reaches(
    bench: Callable[..., Result],
) -> None:
    """bench_client's own loopback reference server; the sweep ends by the rule or the ladder."""
    from bench_client import refserver

    with refserver.running() as url:
        result = bench(
            None,
            base_url=url,
            method="POST",
            mode=SWEEP_MODE,
            warmup=0,
            processes=1,
            sweep_start_rate=100,
            sweep_factor=3,
            sweep_steps=3,
            sweep_step_seconds=0.3,
        )
    assert result.code == ExitCode.DONE
    blocks = check_step_files(result.out)
    assert 1 <= len(blocks) <= 3
    stopped = blocks[-1]["stopped"]
    reasons = (
        StopReason.CLIENT_LIMITED,
        StopReason.FAILURES,
        StopReason.SHORTFALL,
        StopReason.LATENCY,
    )
    if len(blocks) == 3 and blocks[-1]["verdict"] == StopReason.WITHIN:
        assert stopped["reason"] == StopReason.LADDER_END
    else:
        assert stopped["reason"] in reasons
    assert [b["offered_rps"] for b in blocks] == [100.0, 300.0, 900.0][: len(blocks)]


def test_an_unanswered_first_request_writes_nothing(
    bench: Callable[..., Result], closed_port: int
) -> None:
    result = bench(None, base_url=f"http://127.0.0.1:{closed_port}", method="GET", warmup=0,
                   mode=SWEEP_MODE, processes=1, sweep_step_seconds=0.1)  # fmt: skip
    assert result.code == ExitCode.FIRST_REQUEST_FAILED
    assert steps_written(result.out) == []
