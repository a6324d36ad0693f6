"""The test types' views for Django's ASGI handler (settings_asgi): async views, whose
database work goes through Django's async ORM (aget, async iteration). That ORM is the sync
one run in a thread (sync_to_async): every query hops to a thread of the request's own and
back. Django has no async transactions, so /updates runs its transaction, synchronous, the
same way in one hop (docs/traps.md)."""

from __future__ import annotations

import asyncio

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse

from apps import workloads
from apps.django_app import views
from apps.django_app.models import Fortune, World


async def json_type(request: HttpRequest) -> HttpResponse:
    return views.json_type(request)


async def plaintext(request: HttpRequest) -> HttpResponse:
    return views.plaintext(request)


@views.needs_database
async def db(request: HttpRequest) -> HttpResponse:
    return JsonResponse(views.as_row(await World.objects.aget(id=workloads.random_id())))


@views.needs_database
async def queries(request: HttpRequest) -> HttpResponse:
    count = views.queries_of(request)
    worlds = [await World.objects.aget(id=workloads.random_id()) for _ in range(count)]
    return JsonResponse([views.as_row(world) for world in worlds], safe=False)


@views.needs_database
async def fortunes(request: HttpRequest) -> HttpResponse:
    rows = [row async for row in Fortune.objects.values_list("id", "message")]
    return views.fortunes_page(request, rows)


@views.needs_database
async def updates(request: HttpRequest) -> HttpResponse:
    rows = await sync_to_async(views.update_worlds)(views.queries_of(request))
    return JsonResponse(rows, safe=False)


async def io(request: HttpRequest) -> HttpResponse:
    ms = workloads.io_ms(request.GET.get("ms"))
    await asyncio.sleep(ms / 1000)
    return views.sized(JsonResponse(workloads.io_payload(ms)))
