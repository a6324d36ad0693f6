"""A cmd.exe AutoRun that prints: text before every command's output on a Windows client.

cmd.exe runs the AutoRun value of ``HKCU\\...\\Command Processor`` and ``HKLM\\...``
before each ``cmd /c`` (conda init and Clink install one), and sshd starts every
command that way. What it prints comes first, so a probe that expects one word
gets two lines and the shell looks unknown. The preflight sees it in its own
``echo %OS%``: lines before the answer.
"""

from __future__ import annotations

AUTORUN_KEYS = {
    "HKCU": r"HKCU\Software\Microsoft\Command Processor",
    "HKLM": r"HKLM\Software\Microsoft\Command Processor",
}
CMD_PROBE = "echo %OS%"
CMD_ANSWER = "Windows_NT"


def delete_autorun(root: str) -> str:
    """The cmd.exe line that removes the AutoRun value under ``root`` ("HKCU", "HKLM")."""
    return f'reg delete "{AUTORUN_KEYS[root]}" /v AutoRun /f'


def lines_before_answer(stdout: str) -> list[str] | None:
    """The lines cmd.exe printed before ``echo %OS%``'s answer; None if it did not answer."""
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    if not lines or lines[-1] != CMD_ANSWER:
        return None
    return lines[:-1]


def autorun_problem(printed: list[str], values: dict[str, str | None]) -> tuple[str, str]:
    """The problem and fix for AutoRun output; ``values``: the AutoRun values the client read."""
    set_in = [root for root, value in values.items() if value] or list(AUTORUN_KEYS)
    shown = "; ".join(f"{root}: {values[root]}" for root in set_in if values.get(root))
    problem = (
        f"cmd.exe prints {len(printed)} line(s) before every command's output "
        f"({printed[0][:80]!r}): an AutoRun command runs in each cmd.exe "
        f"({shown or 'HKCU or HKLM'}), and httplab reads that output"
    )
    deletes = " and ".join(delete_autorun(root) for root in set_in)
    fix = (
        f"for the benchmark account: {deletes} (HKLM from an administrator prompt; conda: "
        "conda init --reverse cmd.exe), or make the AutoRun command print nothing "
        "(append >nul 2>&1 to it)"
    )
    return problem, fix
