"""What an interrupt does to a bench_client process: raise KeyboardInterrupt, or nothing.

An interrupt arrives as SIGINT (Ctrl-C; the guard signals the whole process
group on Linux) or, on Windows, as CTRL_BREAK_EVENT: the only console event a
process group can be sent, which is how the guard interrupts a measurement
there. Either reaches every process of the group, the engine processes of
``--processes N`` too.
"""

from __future__ import annotations

import signal


def interrupt_signals() -> list[int]:
    """SIGINT, and SIGBREAK (CTRL_BREAK_EVENT) where the platform has it."""
    brk = getattr(signal, "SIGBREAK", None)  # Windows only
    return [signal.SIGINT] if brk is None else [signal.SIGINT, brk]


def raise_on_interrupt() -> None:
    """Turn an interrupt into KeyboardInterrupt, so that bench_client writes what it measured;
    also where this process was started with SIGINT ignored (a background job)."""
    for number in interrupt_signals():
        signal.signal(number, signal.default_int_handler)


def ignore_interrupts() -> None:
    """Let an interrupt pass this process by: an engine process, whose parent stops it and
    collects its samples (Windows' default for CTRL_BREAK_EVENT would end it, samples lost)."""
    for number in interrupt_signals():
        signal.signal(number, signal.SIG_IGN)
