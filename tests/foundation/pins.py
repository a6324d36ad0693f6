"""Read the exact, hashed pins of a lock file (what `make lock` writes with uv)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


@dataclass(frozen=True)
class Pin:
    version: str
    hashes: frozenset[str]  # "sha256:<hex>"


def _logical_lines(path: Path) -> list[str]:
    """Lines without comments, a trailing backslash joining a line to the next."""
    lines, current = [], ""
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        if current.strip():
            lines.append(current.strip())
        current = ""
    return lines


def read_locked(path: Path) -> dict[str, Pin]:
    """Map canonical package name -> its pin; `-r` includes are followed."""
    pins: dict[str, Pin] = {}
    for line in _logical_lines(path):
        if line.startswith(("-r ", "-c ")):
            if line.startswith("-r "):
                pins |= read_locked(path.parent / line[3:].strip())
            continue
        requirement_text, *options = line.split()
        requirement = Requirement(requirement_text)
        (specifier,) = requirement.specifier
        if specifier.operator != "==":
            raise ValueError(f"{path}: {line!r} is not an exact pin")
        hashes = frozenset(o.removeprefix("--hash=") for o in options if o.startswith("--hash="))
        pins[canonicalize_name(requirement.name)] = Pin(specifier.version, hashes)
    return pins


def read_pins(path: Path) -> dict[str, str]:
    """Map canonical package name -> pinned version."""
    return {name: pin.version for name, pin in read_locked(path).items()}
