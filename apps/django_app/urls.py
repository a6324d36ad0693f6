"""Routes: each endpoint of the contract with and without the trailing slash, never a
redirect; the test types at their paths (apps/workloads.py), synchronous views (WSGI)."""

from __future__ import annotations

from types import ModuleType

from django.urls import URLPattern, path

from apps import contract, workloads
from apps.django_app import views


def _both(paths: tuple[str, ...], view: views.View) -> list[URLPattern]:
    return [path(route.lstrip("/"), view) for route in paths]


def test_types(module: ModuleType) -> list[URLPattern]:
    """A route for each test type, to the view of its name in `module`."""
    names = {"json": "json_type"}
    return [
        path(route.lstrip("/"), getattr(module, names.get(name, name)))
        for name, route in workloads.PATHS.items()
    ]


contract_patterns = [
    *_both(contract.GET_PATHS, views.get),
    *_both(contract.POST_PATHS, views.post),
    *_both(contract.HEALTH_PATHS, views.health),
]
urlpatterns = [*contract_patterns, *test_types(views)]

handler400 = views.bad_request
handler403 = views.forbidden
handler404 = views.not_found
handler500 = views.server_error
