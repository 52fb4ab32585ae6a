"""Matplotlib set up once (the Agg backend: files, no screen) and figures saved atomically."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from gankit.utils.atomic import atomic_path
from gankit.utils.disk import writing


def pyplot():
    """matplotlib.pyplot on the Agg backend (imported late: matplotlib is slow to import)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path, **savefig_kw: Any) -> Path:
    """``fig.savefig`` to a temporary file beside ``path``, then one rename; returns ``path``.
    A full disk or a read-only folder is one :class:`~gankit.utils.disk.WriteFailed` line."""
    path = Path(path)
    with writing(path), atomic_path(path) as tmp:
        fig.savefig(tmp, **savefig_kw)
    return path


def figure_svg(fig: Any) -> str:
    """The figure as an SVG document (text), for pages that inline their pictures."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    text = buf.getvalue()
    return text[text.index("<svg"):]  # without the XML prolog and DOCTYPE


def save_animation(anim: Any, path: str | Path, **save_kw: Any) -> Path:
    """``anim.save`` atomically, as :func:`save_figure`."""
    path = Path(path)
    with writing(path), atomic_path(path) as tmp:
        anim.save(tmp, **save_kw)
    return path
