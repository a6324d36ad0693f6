"""Django settings, read from the environment; DEBUG is always off.

The database of the test types is PostgreSQL through the psycopg 3 backend and Django's
own pool (OPTIONS "pool", Django >= 5.1: psycopg_pool, one per process, opened on first
use), reached through libpq's environment variables alone: NAME is PGDATABASE (Django
needs one), the host, port, user and password are left to libpq. Without any of them
there is no database (DATABASES is empty) and the test types that need one answer 503.
"""

from __future__ import annotations

import os

from apps import contract, workloads


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
# The app of the test types' models (World, Fortune: apps/django_app/models.py).
INSTALLED_APPS = ["apps.django_app"]
DATABASES = (
    {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": workloads.database_name(),
            "OPTIONS": {"pool": workloads.pool_options()},
        }
    }
    if workloads.database_configured()
    else {}
)
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
# /fortunes: apps/templates/fortunes.html, by Django's own engine (autoescaping).
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [workloads.TEMPLATES],
    }
]
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
