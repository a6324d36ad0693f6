"""The bookshelf's HTTP API (Starlette, ASGI): ``bookshelf.app:app``.

GET  /health                 200 {"status": "ok"}
GET  /books?limit=&offset=   200 {"books": [...], "total": N}   (limit 1-100, default 20)
GET  /books/{id}             200 the book, or 404
POST /books                  201 the new book; 400 unless a JSON object with a title and
                             an author (text, 1-200 characters) and a year (a whole number)
"""

from __future__ import annotations

import json
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bookshelf import store


def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def _whole(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise HTTPException(400, f"{name} must be a whole number, not {raw!r}") from None
    if not low <= value <= high:
        raise HTTPException(400, f"{name} must be {low}-{high}")
    return value


# Plain functions: Starlette runs them in its thread pool, so SQLite never blocks the loop.
def list_books(request: Request) -> JSONResponse:
    limit = _whole(request, "limit", 20, 1, 100)
    offset = _whole(request, "offset", 0, 0, 2**31)
    books, total = store.list_books(limit, offset)
    return JSONResponse({"books": books, "total": total})


def get_book(request: Request) -> JSONResponse:
    found = store.get_book(request.path_params["book_id"])
    if found is None:
        raise HTTPException(404, "no such book")
    return JSONResponse(found)


def _text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not 1 <= len(value.strip()) <= 200:
        raise HTTPException(400, f"{name} must be text of 1-200 characters")
    return value.strip()


async def add_book(request: Request) -> JSONResponse:
    try:
        data = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise HTTPException(400, "the body must be JSON") from None
    if not isinstance(data, dict):
        raise HTTPException(400, "the body must be a JSON object")
    year = data.get("year")
    if not isinstance(year, int) or isinstance(year, bool):
        raise HTTPException(400, "year must be a whole number")
    title, author = _text(data, "title"), _text(data, "author")
    added = await run_in_threadpool(store.add_book, title, author, year)
    return JSONResponse(added, status_code=201)


async def _error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    return JSONResponse({"error": error.detail}, status_code=error.status_code)


app = Starlette(
    routes=[
        Route("/health", health),
        Route("/books", list_books, methods=["GET"]),
        Route("/books", add_book, methods=["POST"]),
        Route("/books/{book_id:int}", get_book),
    ],
    exception_handlers={HTTPException: _error},
)
