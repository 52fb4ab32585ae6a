"""Report pages: one Markdown text written as ``NAME.md`` and ``NAME.html``, both atomically.

Used by ``gankit reproduce`` (its results page, one run or several restarts) and ``gankit diagnose``
(a run's report). The HTML is the Markdown converted by the ``markdown`` package (tables and fenced
code blocks) in a self-contained page (:mod:`gankit.utils.webpage`): the pictures the Markdown shows
from its own folder are inlined, so the page works on its own, offline, wherever it goes.
"""

from __future__ import annotations

import re
from pathlib import Path

from gankit.utils.atomic import write_text_atomic
from gankit.utils.webpage import data_uri, page

_IMG_SRC = re.compile(r'(<img [^>]*src=")([^"]+)(")')
_MIME = {".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
         ".svg": "image/svg+xml"}

#: Markdown extensions the pages use: tables (Table 1 beside the run) and ```json blocks (configs).
EXTENSIONS = ("tables", "fenced_code")


def markdown_to_html(markdown_text: str, title: str, folder: str | Path | None = None) -> str:
    """A complete, self-contained HTML page: ``title`` in the head, the converted Markdown as the
    body, its pictures from ``folder`` inlined."""
    import markdown  # late: only report writers need it

    body = markdown.markdown(markdown_text, extensions=list(EXTENSIONS))
    if folder is not None:
        body = _IMG_SRC.sub(lambda m: m.group(1) + _inline(Path(folder), m.group(2)) + m.group(3),
                            body)
    return page(title, body)


def _inline(folder: Path, src: str) -> str:
    """A picture of ``folder`` (a relative path inside it) as a data URI; anything else unchanged."""
    path = (folder / src).resolve()
    mime = _MIME.get(path.suffix.lower())
    if mime is None or not path.is_file() or not path.is_relative_to(folder.resolve()):
        return src
    return data_uri(path.read_bytes(), mime)


def write_report_pages(folder: str | Path, markdown_text: str, title: str,
                       name: str = "results") -> tuple[Path, Path]:
    """Write ``folder/NAME.md`` and ``folder/NAME.html`` (each atomically); return both paths."""
    folder = Path(folder)
    md, html = folder / f"{name}.md", folder / f"{name}.html"
    write_text_atomic(md, markdown_text)
    write_text_atomic(html, markdown_to_html(markdown_text, title, folder))
    return md, html


__all__ = ["markdown_to_html", "write_report_pages"]
