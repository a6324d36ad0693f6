from pathlib import Path

import pytest

from tests.analysis.synthetic import write_run


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A small realistic run: six stacks, both methods, constant and concurrent, with manifest."""
    return write_run(
        tmp_path / "run-a",
        rows=150,
        failure_rate={"flask-dev": 0.25},
        client_limited={("concurrent", "django-daphne", "GET")},
    )
