"""Read the exact pins of a requirements file (the format this project writes)."""

from __future__ import annotations

from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def read_pins(path: Path) -> dict[str, str]:
    """Map canonical package name -> pinned version; `-r` includes are followed."""
    pins: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            pins |= read_pins(path.parent / line[3:].strip())
            continue
        requirement = Requirement(line)
        (specifier,) = requirement.specifier
        if specifier.operator != "==":
            raise ValueError(f"{path}: {line!r} is not an exact pin")
        pins[canonicalize_name(requirement.name)] = specifier.version
    return pins
