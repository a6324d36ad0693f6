from __future__ import annotations

from collections import Counter
from itertools import pairwise

import pytest

from bench_client.results_format import Measurement
from orchestrator.plan import Cell, build_plan, group

STACKS = ["a", "b", "c"]
BOTH = {stack: ["GET", "POST"] for stack in STACKS}
GET = {stack: ["GET"] for stack in STACKS}


def test_plan_covers_the_matrix_once_per_repetition() -> None:
    plan = build_plan(BOTH, ["constant", "concurrent"], repetitions=2, seed=7)
    assert len(plan) == 3 * 2 * 2 * 2
    assert len(set(plan)) == len(plan)
    assert Counter(m.repetition for m in plan) == {1: 12, 2: 12}


def test_plan_order_is_reproducible_from_the_seed_and_differs_between_seeds() -> None:
    args = (BOTH, ["constant", "concurrent"], 3)
    assert build_plan(*args, seed=1) == build_plan(*args, seed=1)
    orders = {tuple(build_plan(*args, seed=seed)) for seed in range(20)}
    assert len(orders) > 1


def test_a_stacks_measurements_stay_together_within_a_repetition() -> None:
    plan = build_plan(BOTH, ["constant", "concurrent"], repetitions=1, seed=3)
    stacks_in_order = [m.stack for m in plan]
    switches = sum(1 for x, y in pairwise(stacks_in_order) if x != y)
    assert switches == len(STACKS) - 1


def test_measurement_paths_follow_the_results_layout() -> None:
    assert Measurement("constant", "flask-dev", "GET").csv == "constant/flask-dev/GET.csv"
    assert Measurement("constant", "flask-dev", "GET").meta == "constant/flask-dev/GET.meta.json"
    assert Measurement("rate", "x", "POST", 3).csv == "rate/x/POST.rep3.csv"


def test_the_plan_is_grouped_by_the_stacks_running() -> None:
    plan = build_plan(BOTH, ["constant", "concurrent"], repetitions=2, seed=3)
    groups = group(plan, "sequential")
    assert len(groups) == 2 * len(STACKS)  # a switch per stack and repetition
    assert all(len(g.running) == 1 and len(g.cells) == 4 for g in groups)
    assert [m for g in groups for c in g.cells for m in c.measurements] == plan


def test_a_resumed_plan_groups_only_what_is_pending() -> None:
    plan = build_plan(BOTH, ["constant"], repetitions=1, seed=3)
    groups = group(plan[1:], "sequential")
    assert sum(len(g.cells) for g in groups) == len(plan) - 1


def test_paired_design_puts_every_stack_of_a_sequential_cell_together() -> None:
    modes = ["constant", "keepalive", "concurrent"]
    plan = build_plan(BOTH, modes, repetitions=2, seed=5, design="paired")
    assert len(plan) == len(set(plan)) == 3 * 3 * 2 * 2
    for repetition in (1, 2):
        cells = [m for m in plan if m.repetition == repetition]
        together = cells[: 2 * 2 * len(STACKS)]  # the sequential modes' cells come first
        assert {m.mode for m in together} == {"constant", "keepalive"}
        for start in range(0, len(together), len(STACKS)):
            group = together[start : start + len(STACKS)]
            assert [m.stack for m in group] == STACKS
            assert len({(m.mode, m.request) for m in group}) == 1
        assert {m.mode for m in cells[len(together) :]} == {"concurrent"}


def test_the_paired_design_measures_a_sequential_cell_of_every_stack_at_once() -> None:
    plan = build_plan(GET, ["constant", "concurrent"], 1, seed=5, design="paired")
    groups = group(plan, "paired")
    together = [g for g in groups if g.together]
    assert [g.cells for g in together] == [(Cell("constant", "GET", 1, tuple(STACKS)),)]
    assert together[0].running == tuple(STACKS)
    assert [g.running for g in groups if not g.together] == [
        (s,) for s in [m.stack for m in plan if m.mode == "concurrent"]
    ]


def test_an_unknown_design_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown design interleaved; choose from"):
        build_plan(GET, ["constant"], 1, 9, design="interleaved")


def test_each_stack_is_measured_on_its_own_requests() -> None:
    cells = {"a": ["GET", "POST"], "b": ["GET"], "app": ["list", "GET"]}
    plan = build_plan(cells, ["constant"], 2, seed=4)
    assert Counter((m.stack, m.request) for m in plan) == {
        (stack, request): 2 for stack, asked in cells.items() for request in asked
    }


def test_the_paired_design_pairs_only_the_stacks_measured_on_the_request() -> None:
    cells = {"a": ["GET", "list"], "b": ["GET"], "c": ["list"]}
    groups = group(build_plan(cells, ["constant"], 1, seed=2, design="paired"), "paired")
    assert sorted(g.cells[0].request + ":" + ",".join(g.running) for g in groups) == [
        "GET:a,b",
        "list:a,c",
    ]
