"""ASGI entry point: `apps.django_app.asgi:application` (Daphne, Uvicorn, Granian, Hypercorn)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

from apps import limits

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.django_app.settings_asgi")

# Django's ASGI handler reads a whole body (into a temporary file, with no limit) before the
# view runs: the body limit is enforced in front of it, while the server receives the body.
application = limits.ASGIHeadLimits(limits.ASGIBodyLimit(get_asgi_application()))
