"""An app of yours, served behind the lab's request limits: ``apps.serve:app``.

The unit names your app in HTTPLAB_APP ("module:callable") and its protocol in
HTTPLAB_PROTOCOL (wsgi or asgi). Every stack, yours too, then answers a request line, head
or body over the lab's limits with the same 414, 431 or 413 before the app sees it, whatever
its server lets through (apps/limits.py); everything else reaches your app untouched.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from apps import limits


def load(target: str) -> Any:
    """The object "package.module:callable" names."""
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def serve(target: str, protocol: str) -> Any:
    yours = load(target)
    if protocol == "asgi":
        return limits.ASGIHeadLimits(limits.ASGIBodyLimit(yours))
    if protocol == "wsgi":
        return limits.wsgi(limits.wsgi_body(yours))
    raise SystemExit(f"HTTPLAB_PROTOCOL must be wsgi or asgi, not {protocol!r}")


app = serve(os.environ["HTTPLAB_APP"], os.environ.get("HTTPLAB_PROTOCOL", ""))
