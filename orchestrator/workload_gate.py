"""Before a group's workload cells are timed: each test type verified on the running stack, and
the World table reseeded at the start of each repetition.

**Verification per test type.** The first time a stack runs for its cells of a workload (json,
plaintext, db, queries, fortunes, updates, io, at any level), the workload's own rules are
checked on the server against that stack alone (`verify_command`: the probe that verifies
every stack in playbooks/verify.yml, ``python -m apps.probe``, with ``--test-types``). A type
that fails is not measured on that stack in this run: its cells are recorded
``not-measured`` with the failing check (the manifest's ``verification`` keeps every type's
verdict); the stack's other types and the other stacks go on, and a resume verifies again.

**Reseeding.** A repetition's cells of ``updates`` write to World. So that every repetition
starts from the same kind of table, the first group of each repetition of a run that measures
``updates`` reseeds it: ``TRUNCATE world`` and apps/database.sql (idempotent: it makes what is
missing), in one transaction, with the stacks' own credentials (the role's env file), and
records the table's row count and checksum (``database.reseeds`` in the manifest). A run
without ``updates`` never changes World: its state is recorded once, not reseeded.

**Warm-up.** The database is warmed before timing by the cells' own untimed requests: the
checked first request and the warm-up (at least one per connection at a level), which open
the stack's pool connections and bring World's pages (well under 1 MiB) into PostgreSQL's
cache.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from bench_client.request import DATABASE_TYPES, WORKLOADS, Request
from orchestrator.manifest import Manifest, utc_now
from orchestrator.plan import Group

# Where the role puts things on the server (roles/httplab: httplab_app_root, its default).
APP_DIR = "/opt/httplab/app"
# libpq's PGHOST... for the stacks (roles/httplab_postgres: httplab_postgres_env_file).
DATABASE_ENV = "/opt/httplab/secrets/postgres.env"
SEED = "apps/database.sql"  # in APP_DIR
WRITES_WORLD = "updates"
WORLD_STATE = "SELECT count(*), coalesce(sum(randomnumber), 0) FROM world"


@dataclass(frozen=True)
class TypeVerdict:
    """One test type of one stack: ``ok``, or the first ``failed`` check and its detail."""

    test_type: str
    ok: bool
    failed: str | None = None
    detail: str = ""

    @property
    def why(self) -> str:
        return f"failed verification of {self.test_type}: {self.failed}: {self.detail}"


def verify_command(python: str, app_dir: str, url: str, test_types: list[str]) -> str:
    """The server's command that verifies ``test_types`` of the stack at ``url``.

    THE interface this module calls (apps/probe.py, branch workloads: ``verify_test_types``
    and its command line): run in the deployed app's directory, it prints one JSON object,
    ``{type: {"test_type", "ok", "failed", "results": [{"check", "ok", "detail"}, ...]}}``,
    one entry per type asked, in that order; ``failed`` names the first check that did not
    pass (null when ok) and its result carries the detail. It exits 0 when every type
    passed, 1 when one failed, anything else when it could not run (`parse_verdicts`).
    """
    argv = [python, "-m", "apps.probe", "--base-url", url, "--test-types", ",".join(test_types)]
    return f"cd {shlex.quote(app_dir)} && {shlex.join([*argv, '--json'])}"


def parse_verdicts(exit_code: int, stdout: str, test_types: list[str]) -> dict[str, TypeVerdict]:
    """Each type's verdict from the probe's answer; a probe that could not run (another exit
    code, no JSON, a type missing) fails every type asked with what it said."""
    problem = ""
    found: dict[str, Any] = {}
    if exit_code not in (0, 1):
        problem = f"the probe exited {exit_code}: {stdout.strip()[-300:]}"
    else:
        try:
            found = json.loads(stdout)
        except ValueError:
            problem = f"the probe's answer is not JSON: {stdout.strip()[:300]!r}"
    verdicts = {}
    for name in test_types:
        entry = found.get(name) if isinstance(found, dict) else None
        if not isinstance(entry, dict):
            verdicts[name] = TypeVerdict(name, False, "probe", problem or "no verdict for it")
            continue
        failed = entry.get("failed")
        detail = next(
            (str(r.get("detail", "")) for r in entry.get("results") or []
             if isinstance(r, dict) and r.get("check") == failed),
            "",
        )  # fmt: skip
        verdicts[name] = TypeVerdict(name, bool(entry.get("ok")), failed, detail)
    return verdicts


def reseed_command(app_dir: str, env_file: str) -> str:
    """The server's command that reseeds World (TRUNCATE world, then the seed file, in one
    transaction) with the stacks' credentials and prints its row count and sum."""
    psql = ["psql", "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-At", "-c", "TRUNCATE world"]
    psql += ["-f", f"{app_dir}/{SEED}", "-c", WORLD_STATE]
    return f"set -a && . {shlex.quote(env_file)} && set +a && {shlex.join(psql)}"


def state_command(env_file: str) -> str:
    """The server's command that prints World's row count and sum (its state, recorded)."""
    psql = ["psql", "-X", "-At", "-c", WORLD_STATE]
    return f"set -a && . {shlex.quote(env_file)} && set +a && {shlex.join(psql)}"


# How the gate reaches the server: (command) -> (exit code, output); bound to the run's
# server connection by orchestrator/benchmark.py, a fake in the tests.
RunOnServer = Callable[[str], tuple[int, str]]


def workload_of(request: Request) -> str | None:
    """The test type a request measures (``db`` for ``db-c64``), or None."""
    return request.base if request.base in WORKLOADS else None


class WorkloadGate:
    """Called before each group is measured (after its switch): which of its cells are not
    to be measured, and why."""

    def __init__(
        self,
        manifest: Manifest,
        requests: Mapping[str, Request],
        urls: Mapping[str, str],  # each stack's URL as the server reaches it
        run: RunOnServer,
        python: str = "python3",
        app_dir: str = APP_DIR,
        database_env: str = DATABASE_ENV,
    ) -> None:
        self.manifest = manifest
        self.requests = requests
        self.urls = urls
        self.run = run
        self.python = python
        self.app_dir = app_dir
        self.database_env = database_env
        self.verdicts: dict[str, dict[str, TypeVerdict]] = {}
        self.seeded: set[int] = set()
        types = {workload_of(r) for r in requests.values()}
        self.reseeds = WRITES_WORLD in types
        self.database = bool(types & set(DATABASE_TYPES))

    def before_group(self, group: Group) -> dict[tuple[str, str], str]:
        """Reseed at a new repetition, verify what is not verified yet; {(stack, request):
        why} of the group's cells not to measure."""
        repetition = group.cells[0].repetition if group.cells else 0
        if self.database and repetition and repetition not in self.seeded:
            self.seeded.add(repetition)
            self._seed(repetition)
        skipped = {}
        for stack in group.running:
            asked = [c.request for c in group.cells if stack in c.stacks]
            types = list(dict.fromkeys(t for r in asked if (t := workload_of(self.requests[r]))))
            verdicts = self.verify(stack, types)
            for request in asked:
                verdict = verdicts.get(workload_of(self.requests[request]) or "")
                if verdict is not None and not verdict.ok:
                    skipped[(stack, request)] = verdict.why
        return skipped

    def verify(self, stack: str, test_types: list[str]) -> dict[str, TypeVerdict]:
        """The verdict of each of ``test_types`` on ``stack``, verified once per run."""
        known = self.verdicts.setdefault(stack, {})
        missing = [t for t in test_types if t not in known]
        if missing:
            command = verify_command(self.python, self.app_dir, self.urls[stack], missing)
            code, output = self.run(command)
            known.update(parse_verdicts(code, output, missing))
            recorded = self.manifest.data.setdefault("verification", {}).setdefault(stack, {})
            for name in missing:
                recorded[name] = {**asdict(known[name]), "verified": utc_now()}
            self.manifest.save()
        return {t: known[t] for t in test_types}

    def _seed(self, repetition: int) -> None:
        """Reseed World (a run that measures updates) or record its state (one that does
        not), before the repetition's first group; a failure is recorded, not raised: the
        repetition is still measured, on the table as it is."""
        if self.reseeds:
            code, output = self.run(reseed_command(self.app_dir, self.database_env))
        elif repetition == min(self.seeded):
            code, output = self.run(state_command(self.database_env))
        else:
            return
        database = self.manifest.data.setdefault("database", {})
        entry: dict[str, Any] = {
            "repetition": repetition,
            "action": "reseeded" if self.reseeds else "recorded",
            "at": utc_now(),
        }
        rows = output.strip().splitlines()[-1:] if code == 0 else []
        if rows and rows[0].count("|") == 1:
            count, total = rows[0].split("|")
            entry.update(ok=True, world_rows=int(count), world_sum=int(total))
        else:
            entry.update(ok=False, problem=f"exit {code}: {output.strip()[-300:]}")
        database.setdefault("reseeds", []).append(entry)
        self.manifest.save()
