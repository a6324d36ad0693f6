"""The server resource sampler's own cost: its CPU time per second of sampling, on a real server.

    .venv/bin/python benchmarks/sampler_cost.py -i inventory/LAB.yml [--stack flask-gunicorn]
        [--short 5] [--long 120]

Runs the sampler exactly as a measurement does (orchestrator/server_sampler.py,
over the inventory's SSH connection to the server, as root where sudo allows)
against a deployed stack, once for --short and once for --long seconds, and
reads the CPU time the sampler reports for itself (os.times: user + system).
The steady cost is the difference of the two over the difference of their
lengths, in % of one core: the start (interpreter, `systemctl show`) is paid
once per measurement and printed apart. The goal (issue 14): under 1% of a core.

A figure script, not a test: it prints what it measures and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator.remote.session import connect
from orchestrator.server_noise import lab_hosts, unit_of
from orchestrator.server_sampler import INTERVAL_S, ServerSampler, sampler_command


def sample_for(inventory: str, stack: str, seconds: float) -> tuple[float, int]:
    """The sampler's own CPU seconds over a run of ``seconds``, and its number of samples."""
    _, server = lab_hosts(inventory)
    if server is None:
        raise SystemExit(f"{inventory}: no host in group servers")
    python = str(server.hostvars.get("ansible_python_interpreter", ""))
    command = sampler_command(
        python if python.startswith("/") else "python3",
        [unit_of(stack)],
        become=bool(server.hostvars.get("ansible_become")),
    )
    connection = connect(server)
    try:
        sampler = ServerSampler(connection.transport, command)
        sampler.start()
        time.sleep(seconds)
        sampler.stop()
    finally:
        connection.close()
    if sampler.problem:
        raise SystemExit(f"the sampler failed: {sampler.problem}")
    document = json.loads(sampler.files[unit_of(stack)]["text"])
    return float(document["sampler_cpu_s"]), len(document["samples"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-i", "--inventory", required=True)
    parser.add_argument("--stack", default="flask-gunicorn")
    parser.add_argument("--short", type=float, default=5.0, help="seconds of the short run")
    parser.add_argument("--long", type=float, default=120.0, help="seconds of the long run")
    args = parser.parse_args()
    short_cpu, short_samples = sample_for(args.inventory, args.stack, args.short)
    long_cpu, long_samples = sample_for(args.inventory, args.stack, args.long)
    steady = (long_cpu - short_cpu) / (args.long - args.short)
    per_sample_ms = (long_cpu - short_cpu) / (long_samples - short_samples) * 1000
    start = short_cpu - steady * args.short
    print(f"sampler on {unit_of(args.stack)} every {INTERVAL_S} s")
    print(f"  {args.short:g} s: {short_cpu:.3f} CPU s, {short_samples} samples")
    print(f"  {args.long:g} s: {long_cpu:.3f} CPU s, {long_samples} samples")
    print(f"  steady cost: {steady * 100:.2f}% of a core ({per_sample_ms:.2f} ms CPU per sample)")
    print(f"  start-up, once per measurement: {start:.3f} CPU s")
    print(f"  over the long run as a whole: {long_cpu / args.long * 100:.2f}% of a core")
    print(f"  goal: under 1% of a core: {'met' if steady < 0.01 else 'NOT met'}")


if __name__ == "__main__":
    main()
