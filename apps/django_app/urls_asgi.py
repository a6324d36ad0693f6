"""Routes of the ASGI entry point (settings_asgi): the contract's, and the test types'
async views."""

from __future__ import annotations

from apps.django_app import async_views, views
from apps.django_app.urls import contract_patterns, test_types

urlpatterns = [*contract_patterns, *test_types(async_views)]

handler400 = views.bad_request
handler403 = views.forbidden
handler404 = views.not_found
handler500 = views.server_error
