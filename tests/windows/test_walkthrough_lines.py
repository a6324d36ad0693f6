"""The cmd.exe lines the preflight prints as fixes, and README's walk-through shows, through Wine.

argv_echo.exe stands in for icacls.exe and reg.exe: each line must reach the program as
the arguments it documents, in each form of Win32-OpenSSH's command line (a fix is
also pasted into an SSH session). The lines are written once, in the preflight; README
must show them unchanged. README's PowerShell lines are not run here (no PowerShell in
Wine); docs/traps.md says how they were checked.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orchestrator.remote.preflight_autorun import delete_autorun
from orchestrator.remote.preflight_ssh import ADMIN_KEYS, ADMIN_KEYS_ACL
from tests.windows import openssh_cmdline
from tests.windows.wine import Wine

README = Path(__file__).resolve().parents[2] / "README.md"
LINES = {
    ADMIN_KEYS_ACL: [ADMIN_KEYS, "/inheritance:r", "/grant", "*S-1-5-32-544:F", "/grant",
                     "*S-1-5-18:F"],
    delete_autorun("HKCU"): ["delete", r"HKCU\Software\Microsoft\Command Processor", "/v",
                             "AutoRun", "/f"],
}  # fmt: skip


@pytest.mark.parametrize("line", LINES)
def test_readme_shows_the_preflights_line(line: str) -> None:
    readme = " ".join(README.read_text(encoding="utf-8").split())  # lines wrap in markdown
    assert line in readme


def test_the_lines_reach_icacls_and_reg_intact(wine: Wine) -> None:
    # In the directory the lines run in, which cmd.exe searches before PATH (Wine would run
    # its own builtin icacls.exe and reg.exe from system32 whatever the file there holds).
    for program in ("icacls.exe", "reg.exe"):
        shutil.copyfile(wine.argv_echo, wine.root / program)
    keyed = [
        ((line, form), openssh_cmdline.session_command_line(openssh_cmdline.CMD, line, form))
        for line in LINES
        for form in openssh_cmdline.FORMS
    ]
    ran = wine.run([command for _, command in keyed])
    for ((line, form), _), outcome in zip(keyed, ran, strict=True):
        assert outcome.echoed is not None, (form, outcome.stdout)
        assert outcome.echoed["argv"] == LINES[line], form
