"""The inference checked against simulated runs whose true mean is known (simulate.py):
serially correlated, heavy-tailed latencies with a run-level offset per repetition.

Seeds are fixed, so each figure is the same on every machine; the sizes are modest so the module
stays quick. benchmarks/aa_agreement.py --simulated prints the same figures on more cells.
"""

import numpy as np
import pytest

from analysis.intervals import BLOCK_BOOTSTRAP, SECTIONING, cell_interval, difference
from tests.analysis.simulate import (
    CELLS_PER_RUN,
    DEFAULT_DESIGN,
    Noise,
    cell,
    whole_run_calls,
)

TRUE_MEAN = 0.003


def test_intervals_from_repetitions_cover_the_true_mean():
    rng = np.random.default_rng(20261129)
    covered = []
    for index in range(200):
        found = cell_interval(*cell(rng, TRUE_MEAN, **DEFAULT_DESIGN), seed=index)
        assert found.method == SECTIONING
        covered.append(found.low[0] <= TRUE_MEAN <= found.high[0])
    assert np.mean(covered) >= 0.90


def test_a_single_repetition_covers_its_own_expectation_but_not_run_to_run_noise():
    """The block bootstrap sees the serial correlation within a run (the run's own expectation is
    mostly covered) but cannot see the run's offset: that is why the report calls it provisional."""
    rng = np.random.default_rng(7)
    within, across = [], []
    for index in range(40):
        times, labels = cell(rng, TRUE_MEAN, 1, 600, Noise(run_sd=0.0))
        found = cell_interval(times, labels, seed=index)
        assert found.method == BLOCK_BOOTSTRAP
        within.append(found.low[0] <= TRUE_MEAN <= found.high[0])
        times, labels = cell(rng, TRUE_MEAN, 1, 600, Noise(run_sd=0.15))
        found = cell_interval(times, labels, seed=index)
        across.append(found.low[0] <= TRUE_MEAN <= found.high[0])
    # A percentile block bootstrap under-covers a little on strongly correlated, skewed data.
    assert np.mean(within) >= 0.80
    assert np.mean(across) < np.mean(within)


def compare_cells(rng: np.random.Generator, shift: float, cells: int) -> np.ndarray:
    """diff, low, high of ``cells`` A/B comparisons where B's true mean is (1 + shift) × A's."""
    found = []
    for index in range(cells):
        a = cell_interval(*cell(rng, TRUE_MEAN, **DEFAULT_DESIGN), seed=index)
        b = cell_interval(*cell(rng, TRUE_MEAN * (1 + shift), **DEFAULT_DESIGN), seed=index)
        result = difference(a, b)
        found.append((result.diff_s, result.low_s, result.high_s))
    return np.array(found)


def test_aa_comparisons_rarely_call_a_difference():
    found = compare_cells(np.random.default_rng(11), 0.0, 300)
    different = (found[:, 1] > 0) | (found[:, 2] < 0)
    assert different.mean() <= 0.08


@pytest.mark.parametrize(("shift", "power"), [(0.20, 0.90), (0.10, 0.35)])
def test_a_known_slowdown_is_found_in_the_right_direction(shift, power):
    found = compare_cells(np.random.default_rng(13), shift, 150)
    assert (found[:, 1] > 0).mean() >= power  # called slower
    assert not (found[:, 2] < 0).any()  # never called faster


def test_aa_compares_of_whole_runs_rarely_call_any_cell_different():
    """Each cell at 5% would call one or more of 24 cells in most A/A compares (1 − 0.95²⁴ =
    71%); compare's adjusted intervals keep that to about one compare in twenty."""
    calls = whole_run_calls(np.random.default_rng(17), np.zeros(CELLS_PER_RUN), 100)
    assert (calls != 0).any(axis=1).mean() <= 0.10
    assert (calls != 0).sum(axis=1).max() <= 2


def test_whole_run_compares_still_find_real_differences():
    """Half the cells 20% slower: the adjusted intervals find most of them, in the right
    direction, and few of the calls are false."""
    shifts = np.where(np.arange(CELLS_PER_RUN) % 2 == 0, 0.20, 0.0)
    calls = whole_run_calls(np.random.default_rng(19), shifts, 30)
    shifted = calls[:, shifts > 0]
    assert (shifted == 1).mean() >= 0.70
    assert not (shifted == -1).any()
    false_calls = (calls[:, shifts == 0] != 0).sum()
    assert false_calls <= 0.05 * (calls != 0).sum() + 2


def test_a_run_wide_shift_is_not_blamed_on_any_stack():
    """The second run 25% slower in every cell (the machine, not a stack): the plain differences
    call most cells slower, as they should; against the run-wide shift almost none differ."""
    rng = np.random.default_rng(23)
    plain = whole_run_calls(rng, np.zeros(CELLS_PER_RUN), 10, run_factor=1.25)
    assert (plain == 1).mean() >= 0.5
    calls = whole_run_calls(rng, np.zeros(CELLS_PER_RUN), 60, run_factor=1.25, against_shift=True)
    assert (calls != 0).mean() <= 0.02
    assert (calls != 0).any(axis=1).mean() <= 0.15


def test_a_stack_that_changed_beyond_the_run_wide_shift_is_found():
    """Two of 24 cells 30% slower on top of a 25% run-wide shift: found beyond the shift, in
    the right direction, and the other cells are rarely called."""
    shifts = np.zeros(CELLS_PER_RUN)
    shifts[[0, 13]] = 0.30
    calls = whole_run_calls(
        np.random.default_rng(29), shifts, 40, run_factor=1.25, against_shift=True
    )
    assert (calls[:, shifts > 0] == 1).mean() >= 0.70
    assert not (calls[:, shifts > 0] == -1).any()
    assert (calls[:, shifts == 0] != 0).mean() <= 0.02
