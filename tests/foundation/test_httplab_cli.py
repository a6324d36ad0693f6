"""`httplab COMMAND`: one command tree over every part, one exit-code table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench_client.results_format import ExitCode
from httplab.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = sorted(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]


def httplab(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "httplab", *argv],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_the_tree_has_every_step_of_a_study() -> None:
    assert set(COMMANDS) == {"lab", "check", "deploy", "settings", "plan", "benchmark",
                             "checksums", "phases", "report", "compare"}  # fmt: skip


def test_help_lists_every_command_and_the_exit_codes() -> None:
    done = httplab("--help")
    assert done.returncode == 0 and done.stdout.startswith("usage: httplab ")
    assert all(f"    {name}" in done.stdout for name in COMMANDS)
    assert all(f"  {int(code):<4} " in done.stdout for code in ExitCode)


def test_version() -> None:
    done = httplab("--version")
    assert done.returncode == 0 and done.stdout.startswith("httplab ")
    assert done.stdout.split()[1][0].isdigit()


def test_no_command_and_an_unknown_one_are_usage_errors(capsys) -> None:
    assert httplab().returncode == ExitCode.USAGE
    done = httplab("frobnicate")
    assert done.returncode == ExitCode.USAGE and "invalid choice: 'frobnicate'" in done.stderr


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_answers_help_as_httplab(name: str) -> None:
    done = httplab(name, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: httplab {name}"), done.stdout[:80]


def test_a_bad_option_names_the_command_and_exits_2() -> None:
    done = httplab("plan", "--frobnicate")
    assert done.returncode == ExitCode.USAGE
    assert done.stderr.startswith("httplab plan: error: unrecognized arguments: --frobnicate")


def test_a_command_fails_with_the_shared_exit_code() -> None:
    done = httplab("checksums", "/nonexistent/run")
    assert done.returncode == ExitCode.FAILED
    assert done.stderr.startswith("httplab checksums: error: ") and done.stderr[-1] == "\n"
    assert done.stderr.count("\n") == 1
