"""THE benchmark settings: every ``httplab_bench_*`` setting of a run, declared once.

Each :class:`Setting` says its name, type, default, unit, help and the modes in which
bench_client takes it. Everything else derives from these declarations and restates none
of them:

- the run's defaults (``inventory/group_vars/all/benchmark.yml`` carries the same values
  for people to read and edit; a test holds the two together);
- the check of a user's values, wherever they come from (a YAML file, ``-e k=v``, a
  command line), with "did you mean" for a misspelt name;
- bench_client's options (:func:`add_options`) and the one builder of its arguments
  (:func:`bench_client_argv`);
- each client host's share of a cell measured by several (:func:`host_share`);
- the settings a run records in its manifest.

It ships with bench_client, so it imports nothing beyond the standard library.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bench_client.results_format import MODES, SWEEP_MODE

PREFIX = "httplab_bench_"
SEQUENTIAL_MODES = ("constant", "keepalive")  # one request at a time, by definition
DESIGNS = ("sequential", "paired")
MAX_CONNECTIONS = 256  # the async engine's select() handles at most FD_SETSIZE sockets
MAX_RATE = 100_000
# Settings of an earlier httplab that a run now refuses with what replaced them.
RENAMED = {"methods": "requests"}


class SettingError(ValueError):
    """A setting's value is wrong; the message names the setting and what would be right."""


class Kind(Protocol):
    """A setting's type: how a value is read from YAML, JSON or a command line, and written."""

    def parse(self, raw: Any) -> Any:
        """The typed value, or ValueError saying what is wrong (without the setting's name)."""
        ...

    def text(self, value: Any) -> str:
        """The value as a command-line argument."""
        ...


@dataclass(frozen=True)
class Whole:
    """A whole number, optionally bounded."""

    low: int | None = None
    high: int | None = None

    def parse(self, raw: Any) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise ValueError(f"want a whole number, not {raw!r}")
        try:
            value = int(raw.strip()) if isinstance(raw, str) else int(raw)
        except ValueError:
            raise ValueError(f"want a whole number, not {raw!r}") from None
        if value != raw and not isinstance(raw, str):
            raise ValueError(f"want a whole number, not {raw!r}")
        _bounded(value, self.low, self.high)
        return value

    def text(self, value: Any) -> str:
        return str(value)


@dataclass(frozen=True)
class Real:
    """A finite number, optionally bounded; ``above`` and ``below``: the bound itself is
    refused (the low one, the high one)."""

    low: float | None = None
    high: float | None = None
    above: bool = False
    below: bool = False

    def parse(self, raw: Any) -> float:
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise ValueError(f"want a number, not {raw!r}")
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"want a number, not {raw!r}") from None
        if not math.isfinite(value):
            raise ValueError(f"want a finite number, not {raw!r}")
        if self.above and self.low is not None and value <= self.low:
            raise ValueError(f"must be more than {self.low:g}, not {value:g}")
        if self.below and self.high is not None and value >= self.high:
            raise ValueError(f"must be less than {self.high:g}, not {value:g}")
        _bounded(value, self.low, self.high)
        return value

    def text(self, value: Any) -> str:
        return repr(float(value))


@dataclass(frozen=True)
class Maybe:
    """``inner``, or unset (None): YAML's null, or an empty string from a command line."""

    inner: Kind

    def parse(self, raw: Any) -> Any:
        if raw is None or (isinstance(raw, str) and raw.strip().lower() in ("", "null", "none")):
            return None
        return self.inner.parse(raw)

    def text(self, value: Any) -> str:
        return self.inner.text(value)


@dataclass(frozen=True)
class Choice:
    choices: tuple[str, ...]

    def parse(self, raw: Any) -> str:
        text = str(raw).strip()
        if text not in self.choices:
            hint = _did_you_mean(text, self.choices)
            raise ValueError(f"{raw!r} is not one of {', '.join(self.choices)}{hint}")
        return text

    def text(self, value: Any) -> str:
        return str(value)


def _listed(raw: Any) -> Any:
    """A list given as text, a JSON list or "a,b", as a list; anything else as it is."""
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    if not text.startswith("["):
        return text.split(",")
    try:
        return json.loads(text)
    except ValueError:
        raise ValueError(f"not a JSON list: {raw!r}") from None


@dataclass(frozen=True)
class Names:
    """A list of names: a YAML or JSON list, or "a,b"; empty means all. ``choices``: the
    names allowed, when the declaration knows them (else the run checks, e.g. stacks)."""

    choices: tuple[str, ...] | None = None

    def parse(self, raw: Any) -> tuple[str, ...]:
        raw = _listed(raw)
        if not isinstance(raw, list | tuple) or not all(isinstance(n, str) for n in raw):
            raise ValueError(f'want a list of names or "a,b", not {raw!r}')
        names = tuple(dict.fromkeys(name.strip() for name in raw if name.strip()))
        if self.choices is not None:
            check_names(names, self.choices)
        return names

    def text(self, value: Any) -> str:
        return ",".join(value)


@dataclass(frozen=True)
class Wholes:
    """A list of whole numbers, each bounded: a YAML or JSON list, or "16,64,256"; in
    ascending order, each once; empty is allowed."""

    low: int | None = None
    high: int | None = None

    def parse(self, raw: Any) -> tuple[int, ...]:
        raw = _listed(raw)
        if isinstance(raw, list):
            raw = [value for value in raw if not (isinstance(value, str) and not value.strip())]
        if not isinstance(raw, list | tuple):
            raise ValueError(f'want a list of whole numbers or "16,64", not {raw!r}')
        item = Whole(self.low, self.high)
        return tuple(sorted({item.parse(value) for value in raw}))

    def text(self, value: Any) -> str:
        return ",".join(map(str, value))


def check_names(names: Iterable[str], allowed: Sequence[str]) -> None:
    """ValueError naming each of ``names`` not in ``allowed``, with the closest ones."""
    unknown = [name for name in names if name not in allowed]
    if unknown:
        hints = "".join(_did_you_mean(name, allowed) for name in unknown[:3])
        raise ValueError(
            f"unknown {', '.join(map(repr, unknown))}{hints}; choose from {', '.join(allowed)}"
        )


def _did_you_mean(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _bounded(value: float, low: float | None, high: float | None) -> None:
    if low is not None and value < low:
        raise ValueError(f"must be at least {low:g}, not {value:g}")
    if high is not None and value > high:
        raise ValueError(f"must be at most {high:g}, not {value:g}")


@dataclass(frozen=True)
class Setting:
    """One benchmark setting.

    ``modes``: where bench_client takes it as an option (empty: the run's own, such as the
    stacks or the repetitions, which bench_client never sees). ``required_in``: modes that
    cannot run without a value. ``per_host``: "divide" when several client hosts share one
    cell's (the requests, the rate), "each" when every host uses it as it is.
    """

    name: str
    kind: Kind
    default: Any
    help: str
    unit: str = ""
    modes: frozenset[str] = frozenset()
    required_in: frozenset[str] = frozenset()
    per_host: str = "each"
    paired_only: bool = False  # bench_client takes it only with --paired

    @property
    def variable(self) -> str:
        """Its name in the inventory and on ansible-playbook's command line."""
        return PREFIX + self.name

    @property
    def flag(self) -> str:
        """Its option on bench_client's command line."""
        return "--" + self.name.replace("_", "-")

    @property
    def dest(self) -> str:
        return self.name

    def parse(self, raw: Any, named: str | None = None) -> Any:
        """The typed value of ``raw``; SettingError naming the setting as ``named`` says."""
        try:
            return self.kind.parse(raw)
        except ValueError as error:
            raise SettingError(f"{named or self.variable}: {error}") from None

    def applies_to(self, mode: str) -> bool:
        return mode in self.modes


_NOT_SWEEP = frozenset(MODES) - {SWEEP_MODE}
_LOADS = frozenset({"concurrent", "rate", SWEEP_MODE})
_SWEEP = frozenset({SWEEP_MODE})

DECLARED: tuple[Setting, ...] = (
    # Which cells: the run's, never bench_client's.
    Setting("stacks", Names(), (), "stacks of the matrix to measure ([] = all)"),
    # The paper's two modes, first in the format's order.
    Setting("modes", Names(MODES), MODES[:2], "modes to measure ([] = all)"),
    Setting(
        "requests",
        Names(),
        (),
        "requests to measure, by name ([] = each app's own: GET and POST for the lab's apps)",
    ),
    Setting(
        "db_concurrency",
        Wholes(1, MAX_CONNECTIONS),
        (16, 64, 256),
        "the database workloads' (db, queries, fortunes, updates) levels of connections in "
        "the concurrent, rate and sweep modes: each level is a request of its own (db-c64); "
        "[] = the run's concurrency",
        "connections",
    ),
    Setting(
        "repetitions",
        Whole(1),
        5,
        "passes over the whole matrix, each in a new random order",
        "passes",
    ),
    Setting(
        "design",
        Choice(DESIGNS),
        "sequential",
        "sequential: one stack at a time, only it running; paired: constant and keepalive "
        "cells of every stack in one time window, in turns",
    ),
    Setting(
        "seed",
        Maybe(Whole(0)),
        None,
        "seed of the order of the measurements (null = random, recorded)",
    ),
    # How each cell is measured: bench_client's.
    Setting(
        "iterations",
        Whole(1),
        200,
        "timed requests per measurement (a cell has one per repetition)",
        "requests",
        modes=_NOT_SWEEP,
        per_host="divide",
    ),
    Setting(
        "warmup",
        Whole(0),
        50,
        "untimed requests before timing starts",
        "requests",
        modes=frozenset(MODES),
    ),
    Setting(
        "interval",
        Real(0),
        0.005,
        "pause after each response, per worker (not in rate and sweep)",
        "s",
        modes=frozenset(MODES) - {"rate", SWEEP_MODE},
    ),
    Setting(
        "timeout",
        Real(0, above=True),
        5.0,
        "time without progress before a request counts as failed",
        "s",
        modes=frozenset(MODES),
    ),
    Setting(
        "concurrency",
        Whole(1, MAX_CONNECTIONS),
        16,
        "concurrent: workers sharing the requests; rate and sweep: most open connections",
        "connections",
        modes=_LOADS,
    ),
    Setting(
        "rate",
        Maybe(Real(0, MAX_RATE, above=True)),
        None,
        "rate mode: requests started per second",
        "requests/s",
        modes=frozenset({"rate"}),
        required_in=frozenset({"rate"}),
        per_host="divide",
    ),
    Setting(
        "processes",
        Maybe(Whole(1)),
        None,
        "engine processes sharing a measurement (null = the client's CPUs, at most the "
        "connections and requests)",
        "processes",
        modes=_LOADS,
    ),
    Setting(
        "block",
        Whole(1),
        25,
        "paired design: requests to one stack before the next",
        "requests",
        modes=frozenset(SEQUENTIAL_MODES),
        paired_only=True,
    ),
    # The sweep: its ladder of rates and its stop rule (docs/method.md).
    Setting(
        "sweep_start_rate",
        Real(0, MAX_RATE, above=True),
        50.0,
        "step 1's rate",
        "requests/s",
        modes=_SWEEP,
    ),
    Setting(
        "sweep_factor",
        Real(1, above=True),
        1.5,
        "each step's rate over the one before",
        modes=_SWEEP,
    ),
    Setting("sweep_steps", Whole(1), 12, "at most this many steps", "steps", modes=_SWEEP),
    Setting(
        "sweep_step_seconds", Real(0, above=True), 5.0, "each step's length", "s", modes=_SWEEP
    ),
    Setting(
        "sweep_latency_factor",
        Real(1, above=True),
        5.0,
        "stop after a step whose p99 is over this many times step 1's",
        modes=_SWEEP,
    ),
    Setting(
        "sweep_shortfall",
        Real(0, 1, above=True, below=True),
        0.1,
        "stop after a step whose throughput is this share below the rate offered",
        modes=_SWEEP,
    ),
    Setting(
        "sweep_max_failures",
        Real(0, 1, below=True),
        0.01,
        "stop after a step of whose requests more than this share failed",
        modes=_SWEEP,
    ),
)
SETTINGS: Mapping[str, Setting] = {setting.name: setting for setting in DECLARED}
CLIENT_SETTINGS: tuple[Setting, ...] = tuple(s for s in DECLARED if s.modes)
SWEEP_SETTINGS: tuple[str, ...] = tuple(s.name for s in DECLARED if s.name.startswith("sweep_"))


def defaults() -> dict[str, Any]:
    """Every setting's default, by name."""
    return {setting.name: setting.default for setting in DECLARED}


@dataclass(frozen=True)
class Resolved:
    """A run's settings: every value typed and checked, and where each came from."""

    values: Mapping[str, Any]
    sources: Mapping[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def for_mode(self, mode: str) -> dict[str, Any]:
        """The bench_client settings that mean something in ``mode``, as a run measures it."""
        return {s.name: self.values[s.name] for s in CLIENT_SETTINGS if s.applies_to(mode)}


def resolve(given: Mapping[str, Any], source: str = "given") -> Resolved:
    """Every setting: the one in ``given`` (by name, with or without the httplab_bench_
    prefix), else its default. Unknown and renamed names are refused, with the right one."""
    values = defaults()
    sources = dict.fromkeys(values, "default")
    for key, raw in given.items():
        name = key.removeprefix(PREFIX)
        if name in RENAMED:
            raise SettingError(
                f"{PREFIX}{name} is now {PREFIX}{RENAMED[name]}: rename it where you set it"
            )
        if name not in SETTINGS:
            raise SettingError(
                f"unknown setting {PREFIX}{name}"
                f"{_did_you_mean(PREFIX + name, [s.variable for s in DECLARED])}; the settings "
                "are in inventory/group_vars/all/benchmark.yml (`httplab settings` lists them)"
            )
        values[name] = SETTINGS[name].parse(raw)
        sources[name] = source
    return Resolved(values, sources)


def check_run(settings: Resolved, *, stacks: Sequence[str], requests: Sequence[str]) -> None:
    """What a run needs beyond each value alone: names that exist, values a mode requires."""
    for name, allowed in (("stacks", stacks), ("requests", requests)):
        try:
            check_names(settings[name], allowed)
        except ValueError as error:
            raise SettingError(f"{SETTINGS[name].variable}: {error}") from None
    modes = settings["modes"] or MODES
    for setting in DECLARED:
        needed = [mode for mode in modes if mode in setting.required_in]
        if needed and settings[setting.name] is None:
            raise SettingError(
                f"the {needed[0]} mode needs {setting.variable} ({setting.help}): set it "
                f"in your inventory or with -e {setting.variable}=VALUE"
            )


# bench_client's command line: the declared settings as options, and the one builder.


def add_options(parser: argparse.ArgumentParser) -> None:
    """bench_client's option for each of its settings. Left out, an option is None: the
    mode's default then applies (client_values), and a value given where the mode has no
    use for it is refused there."""
    group = parser.add_argument_group("measurement settings (a run's httplab_bench_*)")
    for setting in CLIENT_SETTINGS:
        unit = f" {setting.unit}" if setting.unit and setting.default is not None else ""
        shown = (
            "none"
            if setting.default is None
            else f"{setting.default:g}"
            if isinstance(setting.default, float)
            else setting.default
        )
        modes = (
            "all modes"
            if setting.modes == frozenset(MODES)
            else ", ".join(m for m in MODES if m in setting.modes)
        )
        group.add_argument(
            setting.flag,
            dest=setting.dest,
            type=_argument_type(setting),
            default=None,
            metavar=setting.unit.upper().replace("/", "_PER_").replace(" ", "_") or "VALUE",
            help=f"{setting.help} (default {shown}{unit}; {modes})",
        )


def _argument_type(setting: Setting) -> Any:
    def parse(text: str) -> Any:
        try:
            return setting.kind.parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parse.__name__ = setting.name  # argparse names the option's type in its errors
    return parse


def client_values(given: Mapping[str, Any], mode: str, *, paired: bool = False) -> dict[str, Any]:
    """bench_client's settings for one measurement in ``mode``: each given one (None: not
    given) checked, the mode's defaults for the rest; a setting given where ``mode`` has no
    use for it raises SettingError naming its option."""
    values: dict[str, Any] = {}
    for setting in CLIENT_SETTINGS:
        raw = given.get(setting.name)
        usable = setting.applies_to(mode) and (paired or not setting.paired_only)
        if raw is not None and not usable:
            where = "without --paired" if setting.applies_to(mode) else f"in {mode} mode"
            raise SettingError(f"{setting.flag} has no meaning {where}")
        if not usable:
            values[setting.name] = None
            continue
        value = setting.default if raw is None else setting.parse(raw, setting.flag)
        if value is None and mode in setting.required_in:
            raise SettingError(f"--mode {mode} needs {setting.flag} ({setting.help})")
        values[setting.name] = value
    return values


def client_argv(values: Mapping[str, Any], mode: str, *, paired: bool = False) -> list[str]:
    """The options that carry ``values`` (a run's, or one host's share) for ``mode``."""
    argv: list[str] = []
    for setting in CLIENT_SETTINGS:
        value = values.get(setting.name)
        if value is None or not setting.applies_to(mode) or (setting.paired_only and not paired):
            continue
        argv += [setting.flag, setting.kind.text(value)]
    return argv


def host_share(values: Mapping[str, Any], index: int, count: int) -> dict[str, Any]:
    """Client host ``index``'s (from 0) share of a cell that ``count`` hosts measure at once:
    the settings declared per_host="divide" divided (whole numbers: the first hosts take the
    remainder), the others as they are."""
    share = dict(values)
    for setting in DECLARED:
        value = values.get(setting.name)
        if setting.per_host != "divide" or value is None:
            continue
        if isinstance(value, int):
            if value < count:
                raise SettingError(
                    f"{setting.variable} {value} cannot be shared by {count} client hosts"
                )
            share[setting.name] = value // count + (1 if index < value % count else 0)
        else:
            share[setting.name] = value / count
    return share
