"""``gankit runs``: one summary per run folder, read from its files (nothing is loaded or trained).

A summary holds the folder's name, preset, steps done and total, status (:mod:`.status`), D's last
logged outputs, the best value of each headline metric in ``metrics.jsonl``, the most severe verdict
of :mod:`gankit.diagnose` and the age of its last write.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gankit.config import STEPS_UNBOUNDED
from gankit.diagnose import SEVERITY_ORDER
from gankit.runs.checkpoint import checkpoint_files
from gankit.runs.diagnosis import diagnose_run
from gankit.runs.status import read_status
from gankit.utils.jsonl import read_json_object, read_jsonl

#: metric -> (its headline value, True if higher is better); other metrics are listed by neither.
HEADLINES: dict[str, tuple[str, bool]] = {
    "parzen": ("ll_mean", True),
    "toy_modes": ("hq_percent", True),
    "mnist_fd10k": ("fd", False),
    "mnist_classes10k": ("classes", True),
    "mnist_pr10k": ("recall", True),
    "stacked_modes26k": ("modes", True),
}
SORT_KEYS = ("age", "name", "step", "status", "preset")


@dataclass
class RunSummary:
    name: str
    path: str
    preset: str | None
    step: int | None
    steps: int | None  # None: a time budget rather than a step count
    status: str
    d_real: float | None  # Prob/D(x) of the last logged row
    d_fake: float | None  # Prob/D(G(z))
    metrics: dict[str, float] = field(default_factory=dict)  # "parzen ll_mean" -> best value
    verdict: str | None = None
    age_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_run_folder(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file()


def summarize_run(run_dir: str | Path, now: float | None = None) -> RunSummary:
    """The summary of one run folder; missing or unreadable files leave their fields empty."""
    run_dir = Path(run_dir)
    config = read_json_object(run_dir / "config.json")
    stats = read_jsonl(run_dir / "stats.jsonl")
    metrics = read_jsonl(run_dir / "metrics.jsonl")
    status = read_status(run_dir)
    last = stats[-1] if stats else {}
    ckpts = checkpoint_files(run_dir / "checkpoints")
    ckpt_step = int(ckpts[0].name[5:11]) if ckpts else None
    step = status.get("step") if isinstance(status.get("step"), int) else None
    step = max(s for s in (step, ckpt_step, _int(last.get("step")), 0) if s is not None)
    steps = _int(config.get("steps"))
    state = status["state"]
    if state == "unknown":  # a folder from before status.json
        state = "finished" if steps is not None and ckpt_step == steps else "incomplete"
    return RunSummary(
        name=run_dir.name, path=str(run_dir), preset=config.get("preset"), step=step,
        steps=None if steps is not None and steps >= STEPS_UNBOUNDED else steps, status=state,
        d_real=_float(last.get("Prob/D(x)")), d_fake=_float(last.get("Prob/D(G(z))")),
        metrics=best_metrics(metrics), verdict=_worst_verdict(run_dir, stats),
        age_seconds=_age(run_dir, now))


def list_runs(runs_dir: str | Path, sort: str = "age") -> list[RunSummary]:
    """Summaries of the run folders directly inside ``runs_dir``, newest first by default."""
    runs_dir = Path(runs_dir)
    now = time.time()
    found = [summarize_run(p, now) for p in sorted(runs_dir.iterdir()) if is_run_folder(p)]
    order = {
        "age": lambda s: (s.age_seconds if s.age_seconds is not None else float("inf")),
        "name": lambda s: s.name,
        "step": lambda s: -(s.step or 0),
        "status": lambda s: (s.status, s.name),
        "preset": lambda s: (s.preset or "", s.name),
    }[sort]
    return sorted(found, key=order)


def best_metrics(rows: list[dict]) -> dict[str, float]:
    """The best headline value of each metric in ``metrics.jsonl`` rows."""
    best: dict[str, float] = {}
    for row in rows:
        headline = HEADLINES.get(row.get("metric"))
        value = _float(row.get(headline[0])) if headline else None
        if value is None:
            continue
        key = f"{row['metric']} {headline[0]}"
        better = max if headline[1] else min
        best[key] = better(best[key], value) if key in best else value
    return best


def format_table(summaries: list[RunSummary]) -> str:
    """A plain-text table, one line per run."""
    header = ["RUN", "PRESET", "STEP", "STATUS", "D(x)", "D(G(z))", "BEST METRIC", "VERDICT", "AGE"]
    lines = [header]
    for s in summaries:
        total = "budget" if s.steps is None else str(s.steps)
        metric = ", ".join(f"{k} {v:.4g}" for k, v in s.metrics.items()) or "-"
        lines.append([s.name, s.preset or "-", f"{s.step}/{total}", s.status, _fmt(s.d_real),
                      _fmt(s.d_fake), metric, s.verdict or "-", format_age(s.age_seconds)])
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
                     for row in lines)


def format_age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def _worst_verdict(run_dir: Path, stats: list[dict]) -> str | None:
    if not stats:
        return None
    try:
        verdicts = diagnose_run(run_dir, compute_toy_metrics=False)
    except Exception:  # noqa: BLE001: a listing must not fail on one odd folder
        return None
    if not verdicts:
        return None
    worst = min(verdicts, key=lambda v: SEVERITY_ORDER.get(v.severity, len(SEVERITY_ORDER)))
    return worst.title


def _age(run_dir: Path, now: float | None) -> float | None:
    times = [p.stat().st_mtime for p in (run_dir / "stats.jsonl", run_dir / "status.json",
                                         run_dir / "config.json") if p.is_file()]
    return max(0.0, (now or time.time()) - max(times)) if times else None


def _int(v: Any) -> int | None:
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v else None


def _float(v: Any) -> float | None:
    """A finite number, else None (JSON has no NaN)."""
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    return float(v) if ok else None


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"
