"""One Wine prefix per test session (its first start takes several seconds)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.windows import wine as wine_tools


@pytest.fixture(scope="session")
def wine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[wine_tools.Wine]:
    reason = wine_tools.unavailable_reason()
    if reason:
        pytest.skip(reason)
    harness = wine_tools.Wine(tmp_path_factory.mktemp("wine"))
    yield harness
    harness.close()
