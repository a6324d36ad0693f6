"""Django settings, read from the environment; DEBUG is always off."""

from __future__ import annotations

import os

from apps import contract


def _required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise SystemExit(f"{name} is not set; the httplab role writes it to the unit's env")
    return value


SECRET_KEY = _required("DJANGO_SECRET_KEY")
DEBUG = False
ALLOWED_HOSTS = [host for host in _required("DJANGO_ALLOWED_HOSTS").split(",") if host]

ROOT_URLCONF = "apps.django_app.urls"
WSGI_APPLICATION = "apps.django_app.wsgi.application"
INSTALLED_APPS: list[str] = []
DATABASES: dict[str, dict[str, str]] = {}
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]
# No CommonMiddleware: APPEND_SLASH redirects are exactly what the contract forbids.
APPEND_SLASH = False
DATA_UPLOAD_MAX_MEMORY_SIZE = contract.MAX_BODY_BYTES
USE_TZ = True
USE_I18N = False
CSRF_FAILURE_VIEW = "apps.django_app.views.forbidden"
# Nothing per request (Django would warn on every 4xx); server errors go to
# stderr, that is the service's journal.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"django": {"handlers": ["stderr"], "level": "ERROR", "propagate": False}},
}
