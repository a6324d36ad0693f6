"""Settings come from the environment; missing or bad ones stop the app with a clear message."""

from __future__ import annotations

import subprocess
import sys

from tests.apps.conftest import REPO


def _import(module: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", f"import {module} as m; print(m.DEBUG, m.ALLOWED_HOSTS)"],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
    )


def test_django_settings_read_the_environment_and_keep_debug_off():
    result = _import(
        "apps.django_app.settings",
        {"DJANGO_SECRET_KEY": "k", "DJANGO_ALLOWED_HOSTS": "203.0.113.2,localhost"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False ['203.0.113.2', 'localhost']"


def test_django_settings_refuse_to_start_without_a_secret_key():
    result = _import("apps.django_app.settings", {"DJANGO_ALLOWED_HOSTS": "localhost"})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_a_bad_body_limit_stops_the_app():
    result = subprocess.run(
        [sys.executable, "-c", "import apps.contract"],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "HTTPLAB_MAX_BODY_BYTES": "lots"},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "HTTPLAB_MAX_BODY_BYTES must be a positive integer" in result.stderr
