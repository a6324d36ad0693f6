"""Root runs nothing the lab's owner can change, and writes for the owner without following links.

Pure file-system tests, no root needed: "root's" below is the user running them.
"""

from __future__ import annotations

from bench_client.results_format import ExitCode as HttplabExitCode
from lab.errors import ExitCode


def test_the_lab_exits_with_httplab_exit_codes():
    assert {code.name: code.value for code in ExitCode} == {
        code.name: HttplabExitCode[code.name].value for code in ExitCode
    }
