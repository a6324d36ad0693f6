"""The paired design: several stacks in one time window, blocks of requests in turn."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from bench_client.cli import main
from tests.bench_client.conftest import Result


def paired(tmp_path: Path, servers, *extra: str, block: int = 3, seed: int = 7) -> int:
    argv = [
        "--method", "GET", "--mode", "keepalive", "--interval", "0",
        "--iterations", "7", "--warmup", "2", "--block", str(block), "--seed", str(seed),
        "--calibration", "off", "--quiet", "--out", str(tmp_path / "{stack}" / "GET.csv"),
    ]  # fmt: skip
    for name, server in servers.items():
        argv += ["--paired", f"{name}={server.url}"]
    try:
        return main([*argv, *extra])
    except SystemExit as refused:  # an argument argparse refused, as the command would exit
        return int(refused.code or 0)


def timed_order(servers) -> list[str]:
    """Which stack each timed request went to, in the order the servers read them."""
    arrivals = [
        (moment, name)
        for name, server in servers.items()
        for moment in server.arrived[1 + 2 :]  # after the probe and the 2 warm-up requests
    ]
    return [name for _, name in sorted(arrivals)]


def test_each_stack_gets_its_own_files_from_one_time_window(server, other_server, tmp_path):
    servers = {"alpha": server, "beta": other_server}
    assert paired(tmp_path, servers) == 0
    for name, stack in servers.items():
        result = Result(0, tmp_path / name / "GET.csv")
        assert [int(row["Iteration"]) for row in result.rows] == list(range(1, 8))
        assert len(result.times) == 7
        assert stack.count == 1 + 2 + 7  # probe, warm-up, timed: each stack its own
        assert result.meta["design"] == "paired"
        assert result.meta["config"]["url"] == f"{stack.url}/get"
        assert result.meta["config"]["paired"]["block"] == 3
        assert [s[0] for s in result.meta["config"]["paired"]["stacks"]] == ["alpha", "beta"]
    order = timed_order(servers)
    # Blocks of 3, 3 and 1 per stack; both stacks in each round, so runs of one stack are
    # at most two blocks long (the end of one round and the start of the next).
    runs = [len(list(group)) for _, group in itertools.groupby(order)]
    assert sum(runs) == 14 and max(runs) <= 6 and len(runs) >= 3, order


def test_round_robin_alternates_and_the_seed_reproduces_the_order(server, other_server, tmp_path):
    servers = {"alpha": server, "beta": other_server}
    assert paired(tmp_path / "a", servers, block=1, seed=11) == 0
    first = timed_order(servers)
    runs = [len(list(group)) for _, group in itertools.groupby(first)]
    assert max(runs) <= 2, first  # block 1: never more than two in a row
    for stack in servers.values():
        stack.arrived.clear()
        stack.count = 0
    assert paired(tmp_path / "b", servers, block=1, seed=11) == 0
    assert timed_order(servers) == first


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--mode", "concurrent"], "--paired applies to the sequential modes"),
        (["--base-url", "http://127.0.0.1:1"], "--base-url and --paired exclude each other"),
        (["--block", "0"], "--block: must be at least 1"),
        (["--paired", "alpha=http://127.0.0.1:2"], "--paired names a stack twice"),
        (["--paired", "no url"], "--paired wants NAME=URL"),
    ],
)
def test_bad_paired_settings_are_refused_before_sending(
    server, other_server, tmp_path, capsys, extra, message
):
    servers = {"alpha": server, "beta": other_server}
    assert paired(tmp_path, servers, *extra) == 2
    assert message in capsys.readouterr().err
    assert server.count == other_server.count == 0


def test_paired_needs_a_stack_placeholder_in_out(server, other_server, tmp_path, capsys):
    argv = ["--method", "GET", "--out", str(tmp_path / "GET.csv"), "--quiet"]
    argv += ["--paired", f"a={server.url}", "--paired", f"b={other_server.url}"]
    assert main(argv) == 2
    assert "--out must contain {stack}" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_paired_meta_is_json_with_the_shared_noise_window(server, other_server, tmp_path):
    servers = {"alpha": server, "beta": other_server}
    assert paired(tmp_path, servers) == 0
    metas = [json.loads((tmp_path / n / "GET.meta.json").read_text()) for n in servers]
    assert metas[0]["host_noise"] == metas[1]["host_noise"]
    assert metas[0]["started"] == metas[1]["started"]
