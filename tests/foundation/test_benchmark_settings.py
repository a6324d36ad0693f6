"""Every benchmark setting has one default, in inventory/group_vars/all/benchmark.yml."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bench_client import config
from bench_client.cli import build_parser
from bench_client.results_format import SWEEP_SETTINGS

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = yaml.safe_load((ROOT / "inventory/group_vars/all/benchmark.yml").read_text())


def test_bench_client_defaults_are_the_runs_defaults() -> None:
    parser = build_parser()
    given = parser.parse_args(["--base-url", "http://h:1", "--method", "GET", "--out", "x.csv"])

    # bench_client alone measures a cell at once: the run's requests per cell, in one pass.
    per_cell = SETTINGS["httplab_bench_iterations"] * SETTINGS["httplab_bench_repetitions"]
    assert given.iterations == per_cell
    assert given.timeout == SETTINGS["httplab_bench_timeout"]
    assert given.warmup == SETTINGS["httplab_bench_warmup"]
    assert SETTINGS["httplab_bench_interval"] == config.DEFAULT_INTERVAL
    assert SETTINGS["httplab_bench_concurrency"] == config.DEFAULT_CONCURRENCY
    assert given.block == SETTINGS["httplab_bench_block"]


def test_the_sweeps_defaults_are_the_runs_defaults() -> None:
    parser = build_parser()
    given = parser.parse_args(["--base-url", "http://h:1", "--method", "GET", "--out", "x.csv"])
    for key in SWEEP_SETTINGS:
        assert getattr(given, key) == SETTINGS[f"httplab_bench_{key}"], key


def test_no_playbook_or_doc_uses_the_old_unprefixed_names() -> None:
    """-e iterations=200 would silently do nothing now; nothing may still say it."""
    old = re.compile(
        r"\b(?<!_)(stacks|modes|methods|iterations|interval|timeout|concurrency|rate|warmup|"
        r"repetitions|seed|run_id|results_dir) \| default\("
    )
    offenders = [
        str(path.relative_to(ROOT))
        for path in [*ROOT.glob("playbooks/**/*.yml"), ROOT / "run_all.yml"]
        if old.search(path.read_text())
    ]
    assert offenders == []


def test_every_setting_is_passed_to_the_orchestrator() -> None:
    benchmark = (ROOT / "playbooks/benchmark.yml").read_text()
    missing = [key for key in SETTINGS if f"{{{{ {key}" not in benchmark]
    assert missing == []
