"""Self-contained HTML pages: figures embedded as base64 PNG, tables inline, no external files."""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from typing import Any

import jinja2
from markupsafe import Markup

from analysis.figures import Figure

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("analysis", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


@dataclass(frozen=True)
class Section:
    heading: str
    body: Markup  # already-safe HTML
    anchor: str = ""  # the id a link reaches it by (default: its place on the page)


@dataclass(frozen=True)
class Card:
    """One answer of a verdict: its title, its sentence, a line per stack, and what to know."""

    title: str
    headline: str
    items: list[str]
    notes: list[str]


def cards_html(cards: list[Card]) -> str:
    """The verdict's answers side by side, to be read at a glance."""
    return (
        "<div class='cards'>"
        + "".join(
            f"<div class='card'><h3>{html.escape(c.title)}</h3>"
            f"<p class='headline'>{html.escape(c.headline)}</p>"
            + (
                "<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in c.items) + "</ul>"
                if c.items
                else ""
            )
            + "".join(f"<p class='note'>{html.escape(n)}</p>" for n in c.notes if n)
            + "</div>"
            for c in cards
        )
        + "</div>"
    )


def link(text: str, anchor: str) -> str:
    return f"<a href='#{html.escape(anchor)}'>{html.escape(text)}</a>"


def figure_html(figure: Figure) -> str:
    data = base64.b64encode(figure.png).decode("ascii")
    return (
        f"<figure><img src='data:image/png;base64,{data}' alt='{html.escape(figure.title)}'>"
        f"<figcaption>{html.escape(figure.caption)}</figcaption></figure>"
    )


def paragraph(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


def json_details(summary: str, document: Any) -> str:
    """A collapsed block with a JSON document, for the curious."""
    text = html.escape(json.dumps(document, indent=2, sort_keys=True, default=str))
    return f"<details><summary>{html.escape(summary)}</summary><pre>{text}</pre></details>"


def section(heading: str, *parts: str, anchor: str = "") -> Section:
    return Section(heading, Markup("\n".join(parts)), anchor)  # noqa: S704 - parts are escaped by their makers


def render_page(
    title: str,
    intro: list[str],
    sections: list[Section],
    lead: Section | None = None,
    problems: list[str] | None = None,
) -> str:
    """A page: its title and intro, the problems met reading the input, the ``lead`` (the
    answer, before anything else), then the sections with a list of links to them."""
    return _templates.get_template("page.html.j2").render(
        title=title,
        intro=intro,
        sections=sections,
        lead=lead,
        problems=problems or [],
    )
