"""`httplab COMMAND`: one command line over every part, one exit-code table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench_client.results_format import ExitCode
from httplab.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parents[2]


def httplab(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "httplab", *argv],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_help_lists_every_command_and_the_exit_codes(capsys) -> None:
    assert main(["--help"]) == ExitCode.DONE
    out = capsys.readouterr().out
    assert all(f"  {name} " in out for name in COMMANDS)
    assert all(f"  {int(code):<4} " in out for code in ExitCode)


def test_no_command_is_a_usage_error(capsys) -> None:
    assert main([]) == ExitCode.USAGE


def test_an_unknown_command_is_named(capsys) -> None:
    assert main(["frobnicate"]) == ExitCode.USAGE
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_answers_help_from_its_own_program(name: str) -> None:
    done = httplab(name, "--help")
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout


def test_a_command_fails_with_the_shared_exit_code() -> None:
    done = httplab("checksums", "--run-dir", "/nonexistent/run")
    assert done.returncode == ExitCode.FAILED
    assert "orchestrator checksums:" in done.stderr and done.stderr[-1] == "\n"
