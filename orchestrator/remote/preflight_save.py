"""What the preflight saw, in one JSON file to attach to a report of a problem.

``--save FILE`` writes each finding and every raw observation (probe outputs, the
client's facts, the TCP probe, errors), with what could be a secret taken out:
private key blocks, a URL's user and password (a proxy's), values named like a
password, token or key, and long token-like strings. No key file is read for it.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

REDACTED = "<redacted>"
_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.S
)
_URL_USER = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]+@")
_NAMED_SECRET = re.compile(
    r"(?i)\b([\w.-]*(?:passw(?:or)?d|pwd|secret|token|api[_-]?key|auth)[\w.-]*)"
    r"(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&]+)"
)
# GitHub, AWS, Slack tokens, JWTs, and any 32+ run of token characters (no path has one).
_TOKEN = re.compile(
    r"\b(?:gh[pousr]_\w{20,}|github_pat_\w{20,}|AKIA[0-9A-Z]{16}|xox[abprs]-[\w-]{10,}"
    r"|eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}|[A-Za-z0-9+/_-]{32,}={0,2})"
)


def redact(value: Any) -> Any:
    """``value`` (JSON-like) with every string cleaned of what may be a secret."""
    if isinstance(value, dict):
        return {key: redact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    if not isinstance(value, str):
        return value
    text = _PRIVATE_KEY.sub(REDACTED, value)
    text = _URL_USER.sub(rf"\1{REDACTED}@", text)
    text = _NAMED_SECRET.sub(rf"\1\2{REDACTED}", text)
    return _TOKEN.sub(REDACTED, text)


def save(path: Path, findings: list[dict[str, Any]], seen: list[dict[str, Any]]) -> None:
    """Write the findings and observations, redacted, as one JSON document."""
    document = {
        "saved_by": "python -m orchestrator.remote check --save",
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "findings": findings,
        "seen": seen,
    }
    path.write_text(json.dumps(redact(document), indent=2, ensure_ascii=False) + "\n")
