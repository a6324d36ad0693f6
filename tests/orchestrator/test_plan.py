from __future__ import annotations

from collections import Counter
from itertools import pairwise

import pytest

from bench_client.results_format import Measurement, client_flags
from orchestrator.plan import SelectionError, build_plan, parse_selection

STACKS = ["a", "b", "c"]


def test_plan_covers_the_matrix_once_per_repetition() -> None:
    plan = build_plan(STACKS, ["constant", "concurrent"], ["GET", "POST"], repetitions=2, seed=7)
    assert len(plan) == 3 * 2 * 2 * 2
    assert len(set(plan)) == len(plan)
    assert Counter(m.repetition for m in plan) == {1: 12, 2: 12}


def test_plan_order_is_reproducible_from_the_seed_and_differs_between_seeds() -> None:
    args = (STACKS, ["constant", "concurrent"], ["GET", "POST"], 3)
    assert build_plan(*args, seed=1) == build_plan(*args, seed=1)
    orders = {tuple(build_plan(*args, seed=seed)) for seed in range(20)}
    assert len(orders) > 1


def test_a_stacks_measurements_stay_together_within_a_repetition() -> None:
    plan = build_plan(STACKS, ["constant", "concurrent"], ["GET", "POST"], repetitions=1, seed=3)
    stacks_in_order = [m.stack for m in plan]
    switches = sum(1 for x, y in pairwise(stacks_in_order) if x != y)
    assert switches == len(STACKS) - 1


def test_measurement_paths_follow_the_results_layout() -> None:
    assert Measurement("constant", "flask-dev", "GET").csv == "constant/flask-dev/GET.csv"
    assert Measurement("constant", "flask-dev", "GET").meta == "constant/flask-dev/GET.meta.json"
    assert Measurement("rate", "x", "POST", 3).csv == "rate/x/POST.rep3.csv"


def test_selection_accepts_commas_lists_and_empty() -> None:
    assert parse_selection("b, a", STACKS, "stack") == ["b", "a"]
    assert parse_selection(["c"], STACKS, "stack") == ["c"]
    assert parse_selection("", STACKS, "stack") == STACKS
    assert parse_selection("a,a", STACKS, "stack") == ["a"]


def test_unknown_selection_names_the_culprit_and_the_choices() -> None:
    with pytest.raises(SelectionError, match=r"unknown stack nope; choose from a, b, c"):
        parse_selection("a,nope", STACKS, "stack")


def test_repetitions_must_be_positive() -> None:
    with pytest.raises(SelectionError):
        build_plan(STACKS, ["constant"], ["GET"], repetitions=0, seed=1)


SEQUENTIAL = ["--iterations", "10", "--interval", "0.005", "--timeout", "5", "--warmup", "2"]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("constant", SEQUENTIAL),
        ("keepalive", SEQUENTIAL),
        ("concurrent", ["--iterations", "10", "--interval", "0.005", "--timeout", "5",
                        "--concurrency", "4", "--warmup", "2"]),
        ("rate", ["--iterations", "10", "--timeout", "5", "--concurrency", "4", "--rate", "300.0",
                  "--warmup", "2"]),
    ],
)  # fmt: skip
def test_client_flags_are_only_those_that_apply_to_the_mode(mode: str, expected: list[str]) -> None:
    settings = {"iterations": 10, "interval": 0.005, "timeout": 5, "concurrency": 4,
                "rate": 300.0, "warmup": 2}  # fmt: skip
    assert list(client_flags(settings, mode)) == expected


def test_an_unset_rate_is_not_passed() -> None:
    assert "--rate" not in client_flags({"rate": None, "iterations": 1}, "rate")


def test_paired_design_puts_every_stack_of_a_sequential_cell_together() -> None:
    modes = ["constant", "keepalive", "concurrent"]
    plan = build_plan(STACKS, modes, ["GET", "POST"], repetitions=2, seed=5, design="paired")
    assert len(plan) == len(set(plan)) == 3 * 3 * 2 * 2
    for repetition in (1, 2):
        cells = [m for m in plan if m.repetition == repetition]
        together = cells[: 2 * 2 * len(STACKS)]  # the sequential modes' cells come first
        assert {m.mode for m in together} == {"constant", "keepalive"}
        for start in range(0, len(together), len(STACKS)):
            group = together[start : start + len(STACKS)]
            assert [m.stack for m in group] == STACKS
            assert len({(m.mode, m.method) for m in group}) == 1
        assert {m.mode for m in cells[len(together) :]} == {"concurrent"}


def test_an_unknown_design_is_refused() -> None:
    with pytest.raises(SelectionError, match="unknown design interleaved; choose from"):
        build_plan(STACKS, ["constant"], ["GET"], 1, 9, design="interleaved")
