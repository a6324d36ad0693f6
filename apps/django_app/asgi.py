"""ASGI entry point for Daphne: `apps.django_app.asgi:application`."""

from __future__ import annotations

import os
from email.utils import formatdate
from typing import Any

from django.core.asgi import get_asgi_application

from apps import limits

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.django_app.settings")

ASGIApp = Any  # django.core.handlers.asgi.ASGIHandler; typed loosely to avoid a stub package


def with_date_header(app: ASGIApp) -> ASGIApp:
    """Add a Date header where the server does not (Daphne sends none, the others do)."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def send_with_date(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"date" for name, _ in headers):
                    headers.append((b"date", formatdate(usegmt=True).encode("ascii")))
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_with_date)

    return wrapped


application = with_date_header(limits.ASGIHeadLimits(get_asgi_application()))
