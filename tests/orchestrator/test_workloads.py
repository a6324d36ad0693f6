"""The workloads in a run: the selection expanded, each request in the modes where it means
something and at its own concurrency, and the one decision of the database, as httplab and
the playbooks take it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench_client.request import WORKLOADS, leveled
from bench_client.settings import SettingError
from orchestrator.manifest import Manifest
from orchestrator.measure import Study, specs
from orchestrator.plan import Cell
from orchestrator.run import checked_settings, open_run
from orchestrator.run_vars import Inventory, from_inventory
from orchestrator.workloads import cell_settings, database_needed, database_needed_for

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = Inventory.defaults_only(ROOT / "inventory")


def run_vars(**extra: Any) -> Any:
    return from_inventory(INVENTORY, {f"httplab_bench_{k}": v for k, v in extra.items()})


def test_workloads_selects_the_seven_with_the_database_ones_at_each_level() -> None:
    settings, matrix = checked_settings(run_vars(requests="workloads"))
    requests = settings["requests"]
    assert requests[:4] == ("json", "plaintext", "db", "db-c16")
    assert len(requests) == 7 + 4 * 3
    assert matrix.requests["updates-c256"].concurrency == 256
    none, _ = checked_settings(run_vars(requests="workloads", db_concurrency=[]))
    assert none["requests"] == tuple(WORKLOADS)


def test_the_default_run_is_the_papers_get_and_post_unchanged() -> None:
    settings, matrix = checked_settings(run_vars())
    assert settings["requests"] == ()
    assert set(matrix.stacks["flask-gunicorn"].defaults) == {"GET", "POST"}


def test_an_unknown_request_is_refused_with_the_closest_name() -> None:
    with pytest.raises(SettingError, match=r"db-c32 is db at 32 connections.*add 32 there"):
        checked_settings(run_vars(requests="db-c32"))
    with pytest.raises(SettingError, match=r"unknown 'querys'.*did you mean 'queries'"):
        checked_settings(run_vars(requests="querys"))
    with pytest.raises(SettingError, match="did you mean 'workloads'"):
        checked_settings(run_vars(requests="workload"))


def _planned(tmp_path: Path, **extra: Any) -> set[tuple[str, str]]:
    given = {"stacks": "flask-gunicorn", "repetitions": 1, **extra}
    variables = from_inventory(
        INVENTORY,
        {**{f"httplab_bench_{k}": v for k, v in given.items()}, "httplab_results_dir": "x"},
    )
    run = open_run(variables, tmp_path)
    return {(m.mode, m.request) for m in run.planned}


def test_a_level_is_measured_where_a_concurrency_applies_its_base_elsewhere(tmp_path) -> None:
    planned = _planned(tmp_path, requests="json,db", modes="constant,concurrent,keepalive")
    assert planned == {
        ("constant", "json"), ("concurrent", "json"), ("keepalive", "json"),
        ("constant", "db"), ("keepalive", "db"),
        ("concurrent", "db-c16"), ("concurrent", "db-c64"), ("concurrent", "db-c256"),
    }  # fmt: skip


def test_without_levels_a_database_workload_is_measured_in_every_mode(tmp_path) -> None:
    planned = _planned(tmp_path, requests="db", db_concurrency="[]", modes="constant,concurrent")
    assert planned == {("constant", "db"), ("concurrent", "db")}


def test_the_paired_design_pairs_no_level(tmp_path) -> None:
    planned = _planned(tmp_path, requests="db", design="paired", modes="constant,concurrent")
    assert ("constant", "db") in planned and ("constant", "db-c16") not in planned


def test_a_cell_of_a_level_runs_at_its_concurrency_warmed_once_per_connection(tmp_path) -> None:
    settings = {"concurrency": 16, "warmup": 50, "iterations": 200}
    assert cell_settings(settings, WORKLOADS["db"]) == settings
    assert cell_settings(settings, leveled([64])["db-c64"]) == {
        "concurrency": 64, "warmup": 64, "iterations": 200
    }  # fmt: skip
    assert cell_settings(settings, leveled([8])["db-c8"])["warmup"] == 50
    manifest = Manifest(tmp_path, {"settings": settings, "seed": 1})
    requests = {"db-c256": leveled([256])["db-c256"]}
    study = Study(manifest, {"s": "http://server:5001"}, requests)
    (spec,) = specs(study, Cell("concurrent", "db-c256", 1, ("s",)))
    assert spec.settings["concurrency"] == 256 and spec.request.path == "/db"


@pytest.mark.parametrize(
    ("requests", "levels", "declared", "needed"),
    [
        ([], None, None, False),
        ("GET,POST", None, None, False),
        ("json,plaintext,io", None, None, False),
        ("workloads", None, None, True),
        ("workloads", [], None, True),
        (["GET", "fortunes"], None, None, True),
        ("updates-c64", [64], None, True),
        ("[]", None, None, False),
        ("mine", None, [{"name": "mine", "path": "/db"}], False),  # a path alone is no workload
    ],
)
def test_the_database_is_needed_exactly_for_database_workloads(
    requests: Any, levels: Any, declared: Any, needed: bool
) -> None:
    assert database_needed_for(requests, levels, declared) is needed


def test_httplab_and_the_decision_agree(tmp_path) -> None:
    for names, needed in (("workloads", True), ("GET,io", False), ("queries-c64", True)):
        settings, matrix = checked_settings(run_vars(requests=names))
        assert database_needed(matrix.requests[n] for n in settings["requests"]) is needed


def test_a_database_turned_off_against_the_requests_is_refused() -> None:
    variables = from_inventory(
        INVENTORY, {"httplab_bench_requests": "db", "httplab_database_enabled": "false"}
    )
    with pytest.raises(SettingError, match="httplab_database_enabled is false"):
        checked_settings(variables)
    off = from_inventory(
        INVENTORY, {"httplab_bench_requests": "json", "httplab_database_enabled": False}
    )
    checked_settings(off)


def test_by_hand_the_derived_template_is_left_to_the_run_not_refused() -> None:
    assert "{{" in INVENTORY.listing["all"]["vars"]["httplab_database_enabled"]
    assert run_vars(requests="db").get("httplab_database_enabled") is None


@pytest.mark.parametrize(
    ("extra", "enabled"),
    [
        ([], False),
        (["-e", "httplab_bench_requests=workloads"], True),
        (["-e", "httplab_bench_requests=GET,io"], False),
        (["-e", '{"httplab_bench_requests": ["fortunes-c64"]}'], True),
    ],
)
def test_ansible_resolves_httplab_database_enabled_from_the_requests(
    extra: list[str], enabled: bool
) -> None:
    """What every play sees: inventory/group_vars/all/database.yml through the filter."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / "ansible"), "localhost", "-i",
         "inventory/lab.example.yml", "-m", "debug", "-a", "var=httplab_database_enabled",
         "-o", *extra],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    shown = json.loads(done.stdout.split("=>", 1)[1])
    assert shown["httplab_database_enabled"] is enabled


def test_a_resumed_run_measures_the_levels_it_recorded(tmp_path) -> None:
    asked = {"httplab_bench_requests": "workloads", "httplab_bench_stacks": "flask-gunicorn",
             "httplab_bench_repetitions": 1, "httplab_run_id": "wl"}  # fmt: skip
    first = open_run(from_inventory(INVENTORY, asked), tmp_path)
    again = open_run(from_inventory(INVENTORY, asked), tmp_path)
    assert again.resumed and again.planned == first.planned
    assert again.requests["db-c256"].concurrency == 256
    recorded = json.loads((tmp_path / "wl" / "manifest.json").read_text())
    assert recorded["settings"]["db_concurrency"] == [16, 64, 256]
    assert recorded["requests"]["queries-c64"]["concurrency"] == 64
    with pytest.raises(Exception, match="planned differently"):
        open_run(from_inventory(INVENTORY, {**asked, "httplab_bench_db_concurrency": "64"}),
                 tmp_path)  # fmt: skip
