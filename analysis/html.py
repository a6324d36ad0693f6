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


def section(heading: str, *parts: str) -> Section:
    return Section(heading, Markup("\n".join(parts)))  # noqa: S704 - parts are escaped by their makers


def render_page(
    title: str,
    intro: list[str],
    sections: list[Section],
    warnings: list[str] | None = None,
    problems: list[str] | None = None,
) -> str:
    return _templates.get_template("page.html.j2").render(
        title=title,
        intro=intro,
        sections=sections,
        warnings=warnings or [],
        problems=problems or [],
    )
