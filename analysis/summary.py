"""The last words of a run: what it measured, and where its report is.

One owner for the end of every run (`httplab report` prints it, `make run` and
`ansible-playbook run_all.yml` end with it): later parts add their lines here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench_client.documents import Status
from orchestrator.phases import MANIFEST_KEY, phase_lines


def run_summary(
    manifest: dict[str, Any] | None, report: Path, verdict: Sequence[str] = ()
) -> list[str]:
    """Lines a person reads at the end of a run: what it measured, its verdict compactly (one
    line per mode and request, analysis/report.py's verdict_lines), where its report is."""
    lines = []
    if manifest is not None:
        entries = manifest.get("measurements") or []
        complete = [e for e in entries if e["status"] == Status.COMPLETE]
        settings = manifest.get("settings") or {}
        lines.append(
            f"Run {manifest['run_id']}: {len(complete)} of {len(entries)} measurements complete, "
            f"{settings.get('repetitions', 1)} repetition(s), seed {manifest.get('seed')}"
        )
        lines += [
            f"  {e['status']}: {e['mode']}/{e['stack']}/{e['request']} rep {e['repetition']}: "
            f"{e.get('message') or 'no message'}"
            for e in entries
            if e["status"] != Status.COMPLETE
        ]
        # Recorded by `make run` after the playbook (httplab phases): a later report shows it.
        lines += phase_lines(manifest.get(MANIFEST_KEY))
    if verdict:
        lines.append("Verdict (fastest group; slowest as its time over the fastest's [interval]):")
        lines += [f"  {line}" for line in verdict]
    lines.append(f"Report: {report.resolve() / 'index.html'}")
    return lines
