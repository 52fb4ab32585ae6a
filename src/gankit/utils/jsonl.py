"""JSON-lines logs (stats.jsonl, metrics.jsonl): append one row at a time, read them robustly."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping

from gankit.utils.disk import writing


def finite(value: Any) -> Any:
    """``value`` with every NaN/Inf float (in dicts, lists, tuples) replaced by None: JSON (RFC 8259)
    has no NaN, and many readers (jq, browsers, other languages) refuse a bare ``NaN``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def to_json(value: Any, **dumps_kw: Any) -> str:
    """Strict JSON text of ``value``: a NaN or infinite number becomes null (see :func:`finite`).
    gankit's readers of its own logs take null as NaN."""
    return json.dumps(finite(value), allow_nan=False, **dumps_kw)


def read_jsonl(path: str | Path) -> list[dict]:
    """Rows of a JSON-lines file; a missing file is empty, a line cut short by a crash is skipped."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(row, dict):
                    rows.append(row)
    return rows


def read_json_object(path: str | Path) -> dict:
    """A JSON file holding an object (config.json, environment.json); {} if missing or unreadable."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def append_jsonl(path: str | Path, row: Mapping[str, Any]) -> None:
    """Append one JSON line (one write call, flushed) to ``path``."""
    line = to_json(row) + "\n"
    with writing(path), open(path, "a", encoding="utf-8") as f:
        f.write(line)
