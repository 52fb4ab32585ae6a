"""Self-contained HTML pages: everything inlined (pictures as data: URIs, SVG, style, script), and a
Content-Security-Policy that forbids the browser to fetch anything, so a page works offline, from
an e-mail attachment, and cannot leak that it was opened."""

from __future__ import annotations

import base64
import html
import json
from typing import Any, Iterable, Sequence

#: Nothing may be loaded from anywhere: only what the page itself carries.
CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
       "script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'")

_STYLE = """
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:78em;padding:0 1.2em 3em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;
text-align:left;vertical-align:top}th{background:#f3f3f3}
.error{color:#b00020;font-weight:bold}.warning{color:#a15c00;font-weight:bold}.ok{color:#1b7a1b;
font-weight:bold}.info{color:#1a4f9c;font-weight:bold}.muted{color:#777}svg{max-width:100%;height:auto}
.film{display:flex;flex-wrap:wrap;gap:1em}.film figure{margin:0}.film img{image-rendering:pixelated;
width:26em;max-width:100%;border:1px solid #ddd}input[type=range]{width:min(40em,100%)}
details{margin:.4em 0}pre{background:#f6f6f6;padding:.5em;overflow-x:auto}
"""


def escape(text: Any) -> str:
    return html.escape(str(text), quote=True)


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], raw: bool = False) -> str:
    """An HTML table; cells are escaped unless ``raw`` (cells already HTML)."""
    cell = (lambda c: str(c)) if raw else escape
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def script_data(name: str, value: Any) -> str:
    """A JSON value for the page's script, safe inside <script> (no '</' can close the tag)."""
    text = json.dumps(value, allow_nan=False).replace("</", "<\\/")
    return f"<script>const {name} = {text};</script>"


def page(title: str, body: str, script: str = "") -> str:
    """A complete page: the CSP, the style, the body and a closing script."""
    return (f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{escape(title)}</title><style>{_STYLE}</style></head>\n<body>\n{body}\n"
            f"{f'<script>{script}</script>' if script else ''}\n</body></html>\n")


__all__ = ["CSP", "data_uri", "escape", "page", "script_data", "table"]
