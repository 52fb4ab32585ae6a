"""Report pages: one Markdown text written as ``NAME.md`` and ``NAME.html``, both atomically.

Used by ``gankit reproduce`` (its results page, one run or several restarts) and ``gankit diagnose``
(a run's report). The HTML is the Markdown converted by the ``markdown`` package (tables and fenced
code blocks), in a minimal page: images stay relative, so the page works wherever the folder goes.
"""

from __future__ import annotations

import html
from pathlib import Path

from gankit.utils.atomic import write_text_atomic

#: Markdown extensions the pages use: tables (Table 1 beside the run) and ```json blocks (configs).
EXTENSIONS = ("tables", "fenced_code")

_STYLE = ("body{font-family:sans-serif;max-width:60em;margin:auto;padding:0 1em}"
          "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
          "img{max-width:100%}pre{background:#f6f6f6;padding:.5em;overflow-x:auto}")


def markdown_to_html(markdown_text: str, title: str) -> str:
    """A complete, minimal HTML page: ``title`` in the head, the converted Markdown as the body."""
    import markdown  # late: only report writers need it

    body = markdown.markdown(markdown_text, extensions=list(EXTENSIONS))
    return (f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head>\n<body>\n{body}\n</body></html>\n")


def write_report_pages(folder: str | Path, markdown_text: str, title: str,
                       name: str = "results") -> tuple[Path, Path]:
    """Write ``folder/NAME.md`` and ``folder/NAME.html`` (each atomically); return both paths."""
    folder = Path(folder)
    md, page = folder / f"{name}.md", folder / f"{name}.html"
    write_text_atomic(md, markdown_text)
    write_text_atomic(page, markdown_to_html(markdown_text, title))
    return md, page


__all__ = ["markdown_to_html", "write_report_pages"]
