"""Where the books are: one SQLite file in the service's state directory."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# systemd's StateDirectory= (httplab: `state: true`) says where; a local run may say too.
DATABASE = Path(os.environ.get("STATE_DIRECTORY", ".")) / "bookshelf.sqlite3"
COLUMNS = ("id", "title", "author", "year")


@contextmanager
def connection() -> Iterator[sqlite3.Connection]:
    """A connection for one request, committed on success; several processes share the file
    (WAL: readers never wait for the writer)."""
    db = sqlite3.connect(DATABASE, timeout=10)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        yield db
        db.commit()
    finally:
        db.close()


def book(row: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(COLUMNS, row, strict=True))


def list_books(limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    with connection() as db:
        rows = db.execute(
            "SELECT id, title, author, year FROM books ORDER BY id LIMIT ? OFFSET ?",
            (limit, offset),
        ).fetchall()
        (total,) = db.execute("SELECT count(*) FROM books").fetchone()
    return [book(row) for row in rows], total


def get_book(book_id: int) -> dict[str, Any] | None:
    with connection() as db:
        row = db.execute(
            "SELECT id, title, author, year FROM books WHERE id = ?", (book_id,)
        ).fetchone()
    return book(row) if row else None


def add_book(title: str, author: str, year: int) -> dict[str, Any]:
    with connection() as db:
        cursor = db.execute(
            "INSERT INTO books (title, author, year) VALUES (?, ?, ?)", (title, author, year)
        )
        book_id = cursor.lastrowid
    return {"id": book_id, "title": title, "author": author, "year": year}
