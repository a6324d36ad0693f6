"""One benchmark run, start to finish: calibrate, verify, warm up, measure, write."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

from tqdm import tqdm

from bench_client import calibrate, facts, limits, meta, modes, noise, output
from bench_client.config import RunConfig
from bench_client.failures import RequestFailed
from bench_client.results_format import ExitCode
from bench_client.timing import (
    Recorder,
    Sample,
    fine_timer_resolution,
    sleep_granularity,
    sleep_until_wall_clock,
)

SERVER_NOT_READ = "bench_client sees only its own host; the orchestrator adds the server's"


def _say(message: str) -> None:
    print(f"bench_client: {message}", file=sys.stderr, flush=True)


def _first_request_failed(reason: str) -> ExitCode:
    _say(f"first request failed, nothing measured: {reason}")
    return ExitCode.FIRST_REQUEST_FAILED


def _overhead(config: RunConfig, granularity: float) -> dict[str, Any] | None:
    try:
        return calibrate.for_run(config, granularity)
    except (
        OSError,
        RuntimeError,
        subprocess.SubprocessError,
        RequestFailed,
        modes.FirstRequestFailed,
    ) as exc:
        # The run is still worth having; the meta file says why this is missing.
        return {"source": config.calibration, "error": str(exc)}


def run(config: RunConfig, overhead: dict[str, Any] | None = None) -> ExitCode:
    """One stack, or with --paired several in one time window (one CSV and meta file each).

    `overhead`: the client's measured overhead, when already known (a sweep's later
    steps); else it is measured as config.calibration says.
    """
    stacks = config.per_stack()
    with fine_timer_resolution():
        granularity = sleep_granularity()
        if overhead is None:  # the same mode and pacing for every stack
            overhead = _overhead(config, granularity)
        if config.processes > 1:
            return _run_processes(config, granularity, overhead)
        runners: list[modes.Runner] = []
        for _, target in stacks:
            try:
                runners.append(modes.make_runner(target, granularity))
            except RequestFailed as exc:  # the host name did not resolve
                for runner in runners:
                    runner.close()
                return _first_request_failed(f"{target.label}: {exc}")
        progress = tqdm(
            total=config.iterations * len(stacks),
            desc=f"{config.mode} {config.request.name}",
            unit="req",
            file=sys.stderr,
            disable=config.quiet or not sys.stderr.isatty(),
        )
        on_sample = None if progress.disable else lambda _: progress.update()
        recorders = [Recorder(on_sample=on_sample) for _ in stacks]
        # Both read over the timed requests only, not the probe or the warm-up.
        cpu = limits.CpuWatch()
        host = noise.ClientWatch()

        def timing_begins() -> None:
            sleep_until_wall_clock(config.start_at, granularity)
            host.start()
            cpu.start()

        interrupted = False
        try:
            if config.paired is None:
                modes.execute(runners[0], config, recorders[0], on_timing=timing_begins)
            else:
                sequential = [r for r in runners if isinstance(r, modes.SequentialRunner)]
                targets = [target for _, target in stacks]
                modes.execute_paired(sequential, targets, recorders, on_timing=timing_begins)
        except KeyboardInterrupt:
            interrupted = True
        except modes.FirstRequestFailed as exc:
            return _first_request_failed(str(exc))
        finally:
            progress.close()
            for runner in runners:
                runner.close()
        finished = time.time()
        usage = cpu.stop()
        client_noise = host.stop()
    client = facts.client_facts(granularity)
    versions = facts.versions()
    host_noise = noise.host_noise(client_noise, None, SERVER_NOT_READ)
    for (_, target), recorder, runner in zip(stacks, recorders, runners, strict=True):
        if not recorder.started:  # interrupted before measuring began
            recorder.begin()
        document = meta.build(
            target,
            recorder.samples,
            started=recorder.started,
            finished=finished,
            interrupted=interrupted,
            client=client,
            versions=versions,
            overhead=overhead,
            limits=limits.assess(
                config.mode,
                config.rate,
                usage,
                runner.stats(),
                errors=(sample.error for sample in recorder.samples if sample.elapsed is None),
            ),
            host_noise=host_noise,
        )
        code = _write(target, recorder.samples, recorder.origin, document)
        if code is not ExitCode.DONE:
            return code
    return ExitCode.INTERRUPTED if interrupted else ExitCode.DONE


def _run_processes(
    config: RunConfig, granularity: float, overhead: dict[str, Any] | None
) -> ExitCode:
    """--processes N (pool.py): one CSV and meta file for all N processes."""
    from bench_client import pool  # multiprocessing and asyncio: only --processes N needs them

    # The parent only waits meanwhile: its CpuWatch reads the host, its ClientWatch the noise.
    cpu = limits.CpuWatch()
    host = noise.ClientWatch()

    def timing_begins() -> None:
        host.start()
        cpu.start()

    try:
        outcome = pool.run(config, granularity, on_timing=timing_begins)
    except pool.StartFailed as exc:
        return _first_request_failed(str(exc))
    for number, reason in outcome.lost.items():
        _say(f"error: engine process {number} was lost mid-run; its requests are missing: {reason}")
    usage = cpu.stop()
    children_cpu_s = sum(m.cpu_s or 0.0 for m in outcome.processes)
    client_noise = host.stop(also_own_s=children_cpu_s)
    document = meta.build(
        config,
        outcome.samples,
        started=outcome.started,
        finished=outcome.finished,
        interrupted=outcome.interrupted,
        client=facts.client_facts(granularity),
        versions=facts.versions(),
        overhead=overhead,
        limits=limits.assess_processes(
            {m.number: m.limits for m in outcome.processes}, usage["host_cpu_percent"]
        ),
        host_noise=noise.host_noise(client_noise, None, SERVER_NOT_READ),
        processes=sorted(
            [meta.process_summary(m) for m in outcome.processes]
            + [{"process": number, "lost": reason} for number, reason in outcome.lost.items()],
            key=lambda summary: summary["process"],
        ),
    )
    code = _write(config, outcome.samples, 0.0, document)  # Start is already seconds from 0
    if code is not ExitCode.DONE:
        return code
    if outcome.lost:
        return ExitCode.FAILED
    return ExitCode.INTERRUPTED if outcome.interrupted else ExitCode.DONE


def _write(
    config: RunConfig, samples: list[Sample], origin: float, document: dict[str, Any]
) -> ExitCode:
    try:
        output.write_results(config.out, samples, origin, document)
    except OSError as exc:  # e.g. on Windows, the old CSV is open in another program
        _say(f"error: could not write {config.out}: {exc.strerror or exc}")
        return ExitCode.USAGE
    _report(config, document)
    return ExitCode.DONE


def _report(config: RunConfig, document: dict[str, Any]) -> None:
    if document["client_limits"]["client_bottleneck"]:
        reasons = "; ".join(document["client_limits"]["reasons"])
        _say(f"warning: the client may have been the bottleneck: {reasons}")
    if document["interrupted"]:
        _say(f"interrupted: wrote the {document['requests']} requests measured so far")
    if config.quiet:
        return  # the meta file's host_noise still says whether the host was busy
    mean = document["mean_s"]
    errors = ", ".join(f"{reason} x{count}" for reason, count in document["errors"].items())
    print(
        f"{config.mode} {config.label}: {document['successes']} ok, "
        f"{document['failures']} failed{f' ({errors})' if errors else ''}"
        f"{f', mean {mean * 1e3:.3f} ms' if mean is not None else ''} -> {config.out}"
    )
    if document["host_noise"]["busy"]:
        print(f"  the host was busy meanwhile: {'; '.join(document['host_noise']['reasons'])}")
