"""Bookshelf: a small JSON API of books, kept in SQLite; an example of an app of yours."""
