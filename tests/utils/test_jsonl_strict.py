"""Strict JSON everywhere gankit writes or prints it: NaN and Inf become null."""

import json
import math
from pathlib import Path

from gankit.utils.jsonl import append_jsonl, finite, read_jsonl, to_json


def strict_loads(text):
    def refuse(name):
        raise ValueError(f"bare {name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_numbers_become_null_at_any_depth():
    value = {"a": float("nan"), "b": [1.0, float("inf"), {"c": -float("inf")}], "d": (2, "x")}
    assert finite(value) == {"a": None, "b": [1.0, None, {"c": None}], "d": [2, "x"]}
    assert strict_loads(to_json(value)) == {"a": None, "b": [1.0, None, {"c": None}], "d": [2, "x"]}


def test_logs_are_strict_json(tmp_path, tiny):
    import gankit

    path = tmp_path / "m.jsonl"
    append_jsonl(path, {"metric": "toy_modes", "kl": float("nan"), "modes": 0.0})
    (row,) = [strict_loads(line) for line in path.read_text().splitlines()]
    assert row["kl"] is None and read_jsonl(path)[0]["modes"] == 0.0
    run = gankit.train(preset="digits", progress=False, **tiny)
    for name in ("stats.jsonl", "status.json"):
        for line in (run.path / name).read_text().splitlines():
            strict_loads(line)


def test_a_diverged_run_logs_null_not_nan(tiny):
    import pytest

    import gankit
    from gankit.engine.loop import TrainingDiverged

    with pytest.raises(TrainingDiverged):
        gankit.train(preset="digits", progress=False, **{**tiny, "lr_d": 1e30, "lr_g": 1e30})
    (run_dir,) = Path(tiny["runs_dir"]).iterdir()
    rows = [strict_loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    assert any(v is None for row in rows for v in row.values())  # the NaN, as null
    assert not any(isinstance(v, float) and math.isnan(v) for row in rows for v in row.values())
