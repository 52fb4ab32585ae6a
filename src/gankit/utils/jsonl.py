"""JSON-lines logs (stats.jsonl, metrics.jsonl): append one row at a time, read them robustly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from gankit.utils.disk import writing


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
    line = json.dumps(row, allow_nan=True) + "\n"
    with writing(path), open(path, "a", encoding="utf-8") as f:
        f.write(line)
