"""The preset matrices (inventory/matrices/): full.yml is what generate.py writes from the
apps and server kinds, every preset is one the role deploys, and the app tests' stacks
(the paper's and the modern preset) cover every server kind and every framework."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from tests.apps.conftest import REPO, group_vars, load_stacks, matrix, role_vars, stacks_to_test

MATRICES = REPO / "inventory" / "matrices"


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("generate", MATRICES / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GENERATE = _generator()


def test_full_yml_is_what_generate_writes() -> None:
    assert (MATRICES / "full.yml").read_text() == GENERATE.full_matrix(), (
        "inventory/matrices/full.yml is stale: run .venv/bin/python inventory/matrices/generate.py"
    )


def test_check_fails_on_a_stale_full_yml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "full.yml"
    monkeypatch.setattr(GENERATE, "FULL", stale)
    monkeypatch.setattr(GENERATE, "REPO", tmp_path)
    stale.write_text(GENERATE.full_matrix().replace("flask-gunicorn", "flask-unicorn", 1))
    assert GENERATE.main(["--check"]) == 1
    assert "stale" in capsys.readouterr().err
    assert GENERATE.main([]) == 0
    assert GENERATE.main(["--check"]) == 0


def test_full_pairs_each_app_with_each_kind_that_can_run_it() -> None:
    apps = {
        "wsgi-app": {"protocol": "wsgi"},
        "flask": {"protocol": "wsgi"},
        "asgi-app": {"protocol": "asgi", "framework": "flask"},
    }
    kinds = {
        "dev": {"protocol": "wsgi", "frameworks": ["flask"]},
        "any-wsgi": {"protocol": "wsgi"},
        "any-asgi": {"protocol": "asgi"},
    }
    stacks = GENERATE.stacks(apps, kinds)
    assert [(s["app"], s["server"]) for s in stacks] == [
        ("wsgi-app", "any-wsgi"),
        ("flask", "dev"),
        ("flask", "any-wsgi"),
        ("asgi-app", "any-asgi"),
    ]
    assert [s["port"] for s in stacks] == [5100, 5101, 5102, 5103]
    assert stacks[1]["name"] == "flask-dev"


@pytest.mark.parametrize("name", ["modern", "full"])
def test_a_preset_is_a_matrix_the_role_deploys(name: str) -> None:
    stacks = load_stacks(matrix(name))  # the role's filter: unique names and ports, kinds fit
    assert len(stacks) >= 12


def test_full_has_every_app_under_every_kind_that_speaks_its_protocol() -> None:
    apps, kinds = group_vars("apps"), role_vars()["httplab_stack_servers"]
    pairs = {(stack["app"], stack["server"]) for stack in load_stacks(matrix("full"))}
    for app_name, app in apps.items():
        for kind_name, kind in kinds.items():
            runs = kind["protocol"] == app["protocol"] and (
                app.get("framework", app_name) in kind.get("frameworks", [])
                or not kind.get("frameworks")
            )
            assert ((app_name, kind_name) in pairs) == runs, (app_name, kind_name)


def test_the_stacks_to_test_cover_every_server_kind_and_framework() -> None:
    """The contract and access-log tests run the paper's matrix and the modern preset: between
    them, every server kind and every framework of the lab's apps."""
    stacks = stacks_to_test()
    assert {s["server"] for s in stacks} == set(role_vars()["httplab_stack_servers"])
    assert {s["app"] for s in stacks} == set(group_vars("apps"))
    assert len({(s["app"], s["server"]) for s in stacks}) == len(stacks)
