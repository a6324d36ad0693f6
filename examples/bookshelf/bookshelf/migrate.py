"""Create the bookshelf's table and its first books, once: `python -m bookshelf.migrate`.

httplab runs it before each start of the service (the app's `setup`); a second run
changes nothing.
"""

from __future__ import annotations

from bookshelf.store import DATABASE, connection

FIRST_BOOKS = [
    ("A Pattern Language", "Christopher Alexander", 1977),
    ("The Mythical Man-Month", "Frederick P. Brooks Jr.", 1975),
    ("Structure and Interpretation of Computer Programs", "Abelson and Sussman", 1985),
    ("The Art of Computer Programming", "Donald E. Knuth", 1968),
    ("Thinking, Fast and Slow", "Daniel Kahneman", 2011),
]


def migrate() -> int:
    """Bring the database up to date; the number of books added."""
    with connection() as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS books ("
            " id INTEGER PRIMARY KEY,"
            " title TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200),"
            " author TEXT NOT NULL CHECK (length(author) BETWEEN 1 AND 200),"
            " year INTEGER NOT NULL)"
        )
        (count,) = db.execute("SELECT count(*) FROM books").fetchone()
        if count:
            return 0
        db.executemany("INSERT INTO books (title, author, year) VALUES (?, ?, ?)", FIRST_BOOKS)
    return len(FIRST_BOOKS)


if __name__ == "__main__":
    added = migrate()
    print(f"bookshelf: {DATABASE}: {added} books added")
