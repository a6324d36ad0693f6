"""Every benchmark setting is declared once (bench_client/settings.py); everything else derives.

The run's defaults, bench_client's options, the one argv builder, each client host's share,
the check of a user's values: each is held here to the declaration.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bench_client.cli import build_parser
from bench_client.results_format import MODES
from bench_client.settings import (
    CLIENT_SETTINGS,
    DECLARED,
    SETTINGS,
    SettingError,
    check_run,
    client_argv,
    client_values,
    defaults,
    host_share,
    resolve,
)

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = yaml.safe_load((ROOT / "inventory/group_vars/all/benchmark.yml").read_text())
ORDINARY = {"stacks": ["a", "b"], "requests": ["GET", "POST"]}


def test_the_defaults_file_sets_every_setting_to_its_declared_default() -> None:
    settings = {k: v for k, v in DEFAULTS.items() if k.startswith("httplab_bench_")}
    assert sorted(settings) == sorted(s.variable for s in DECLARED)
    for setting in DECLARED:
        assert setting.parse(settings[setting.variable]) == setting.default, setting.variable


def test_readme_lists_every_setting_with_its_default() -> None:
    readme = (ROOT / "README.md").read_text()
    rows = dict(re.findall(r"^\| `(httplab_bench_\w+)` \| ([^|]+) \|", readme, re.MULTILINE))
    assert sorted(rows) == sorted(s.variable for s in DECLARED)


def test_bench_client_has_an_option_for_each_of_its_settings_and_no_default_of_its_own() -> None:
    parser = build_parser()
    options = {action.dest: action for action in parser._actions}
    for setting in CLIENT_SETTINGS:
        action = options[setting.name]
        assert action.option_strings == [setting.flag]
        assert action.default is None  # the mode's default comes from the declaration
    given = parser.parse_args(["--base-url", "http://h:1", "--out", "x.csv"])
    values = client_values(vars(given), "constant")
    assert values["iterations"] == SETTINGS["iterations"].default
    assert values["concurrency"] is None  # the constant mode has no such setting


@pytest.mark.parametrize("mode", MODES)
def test_the_argv_builder_and_the_parser_agree_in_every_mode(mode: str) -> None:
    """What the orchestrator writes is what bench_client reads, value for value."""
    values = defaults() | {"rate": 250.5, "processes": 2, "iterations": 40, "interval": 0.0125}
    argv = client_argv(values, mode)
    parsed = vars(build_parser().parse_args(["--base-url", "http://h:1", "--out", "x.csv", *argv]))
    wanted = {
        s.name: values[s.name] for s in CLIENT_SETTINGS if s.applies_to(mode) and not s.paired_only
    }
    assert {name: parsed[name] for name in wanted} == wanted
    unused = [s.flag for s in CLIENT_SETTINGS if not s.applies_to(mode)]
    assert not set(unused) & set(argv)


def test_the_paired_block_is_passed_only_with_paired() -> None:
    assert "--block" not in client_argv(defaults(), "constant")
    assert client_argv(defaults(), "constant", paired=True)[-2:] == ["--block", "25"]


def test_several_client_hosts_share_the_requests_and_the_rate_but_each_has_its_connections() -> (
    None
):
    values = defaults() | {"iterations": 10, "rate": 90.0}
    shares = [host_share(values, index, 3) for index in range(3)]
    assert [share["iterations"] for share in shares] == [4, 3, 3]
    assert [share["rate"] for share in shares] == [30.0, 30.0, 30.0]
    assert {share["concurrency"] for share in shares} == {values["concurrency"]}
    with pytest.raises(SettingError, match="httplab_bench_iterations 2 cannot be shared by 3"):
        host_share(values | {"iterations": 2}, 0, 3)


def test_values_from_a_command_line_are_typed_by_the_declaration() -> None:
    settings = resolve({"httplab_bench_iterations": "120", "httplab_bench_modes": "constant,rate",
                        "httplab_bench_rate": "null", "httplab_bench_stacks": '["a"]'})  # fmt: skip
    assert settings["iterations"] == 120
    assert settings["modes"] == ("constant", "rate")
    assert settings["rate"] is None
    assert settings["stacks"] == ("a",)
    assert settings.sources["iterations"] == "given" and settings.sources["warmup"] == "default"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"httplab_bench_iteration": 5},
         "unknown setting httplab_bench_iteration .did you mean 'httplab_bench_iterations'"),
        ({"httplab_bench_methods": ["GET"]}, "httplab_bench_methods is now httplab_bench_requests"),
        ({"httplab_bench_iterations": 0}, "httplab_bench_iterations: must be at least 1"),
        ({"httplab_bench_iterations": 2.5}, "want a whole number"),
        ({"httplab_bench_timeout": "soon"}, "httplab_bench_timeout: want a number"),
        ({"httplab_bench_modes": "constnat"}, "unknown 'constnat' .did you mean 'constant'"),
        ({"httplab_bench_design": "pairs"}, "not one of sequential, paired .did you mean 'paired'"),
        ({"httplab_bench_concurrency": 1000}, "must be at most 256"),
    ],
)  # fmt: skip
def test_a_wrong_value_is_refused_naming_the_setting_and_the_right_one(given, message) -> None:
    with pytest.raises(SettingError, match=message):
        resolve(given)


def test_a_run_needs_names_that_exist_and_the_values_its_modes_require() -> None:
    check_run(resolve({}), **ORDINARY)
    with pytest.raises(SettingError, match=r"httplab_bench_stacks: unknown 'c' \(did you mean"):
        check_run(resolve({"stacks": "a,c"}), stacks=["a", "b", "c1"], requests=["GET"])
    with pytest.raises(SettingError, match="the rate mode needs httplab_bench_rate"):
        check_run(resolve({"modes": "rate"}), **ORDINARY)
    with pytest.raises(SettingError, match="the rate mode needs"):
        check_run(resolve({"modes": []}), **ORDINARY)  # [] is every mode, the rate's included
    check_run(resolve({"modes": "rate", "rate": 100}), **ORDINARY)


FLAGS = ("--iterations", "--warmup", "--concurrency", "--rate")


@pytest.mark.parametrize("flag", FLAGS)
def test_a_settings_option_is_written_in_at_most_two_modules(flag: str) -> None:
    """The run contract: a setting's flag is derived, not restated across the code."""
    files = [
        path.relative_to(ROOT).as_posix()
        for part in ("bench_client", "orchestrator", "analysis", "httplab", "lab")
        for path in (ROOT / part).rglob("*.py")
        if re.search(re.escape(flag) + r"(?![\w-])", path.read_text(encoding="utf-8"))
    ]
    assert len(files) <= 2, files
