"""The ASGI entry point's settings (apps.yml: django-asgi): the project's, with the test
types' async views (urls_asgi), as Django's ASGI handler runs them without a thread."""

from __future__ import annotations

from apps.django_app.settings import *  # noqa: F403

ROOT_URLCONF = "apps.django_app.urls_asgi"
