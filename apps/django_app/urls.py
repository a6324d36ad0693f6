"""Routes: each endpoint with and without the trailing slash, never a redirect."""

from __future__ import annotations

from django.urls import URLPattern, path

from apps import contract
from apps.django_app import views


def _both(paths: tuple[str, ...], view: views.View) -> list[URLPattern]:
    return [path(route.lstrip("/"), view) for route in paths]


urlpatterns = [
    *_both(contract.GET_PATHS, views.get),
    *_both(contract.POST_PATHS, views.post),
    *_both(contract.HEALTH_PATHS, views.health),
]

handler400 = views.bad_request
handler403 = views.forbidden
handler404 = views.not_found
handler500 = views.server_error
