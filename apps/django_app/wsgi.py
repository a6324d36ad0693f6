"""WSGI entry point for Gunicorn: `apps.django_app.wsgi:application`."""

import os

from django.core.wsgi import get_wsgi_application

from apps import limits

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.django_app.settings")
application = limits.wsgi(get_wsgi_application())
