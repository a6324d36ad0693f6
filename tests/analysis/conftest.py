from pathlib import Path

import pytest

from tests.analysis.synthetic import write_run


def small_run(root: Path) -> Path:
    """Six stacks, both methods, constant and concurrent, two repetitions of 75 requests, with
    manifest; flask-dev drops a quarter of its requests and the client was the bottleneck for
    concurrent django-daphne GET."""
    return write_run(
        root,
        rows=75,
        repetitions=2,
        failure_rate={"flask-dev": 0.25},
        client_limited={("concurrent", "django-daphne", "GET")},
    )


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return small_run(tmp_path / "run-a")


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A small run after `httplab report` (made once per module): folder, exit status."""
    from httplab.cli import main

    root = small_run(tmp_path_factory.mktemp("reported") / "run-r")
    return root, main(["report", str(root)])
