"""Diagnosis of a run folder: :mod:`gankit.diagnose`'s verdicts on its ``stats.jsonl`` and
``metrics.jsonl``, written as ``report.md`` and ``diagnosis.png`` (``gankit diagnose``, and at the
end of every run)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from gankit.data import load_dataset
from gankit.diagnose import Thresholds, Verdict, diagnose, report_markdown
from gankit.figures.diagnosis import plot_diagnosis
from gankit.errors import GankitError
from gankit.metrics.modes import toy_modes_metric
from gankit.runs.run import load_run
from gankit.utils.jsonl import read_jsonl
from gankit.utils.report import write_report_pages


def _toy_metric_row(run_dir: Path, dataset: str) -> dict | None:
    """toy_modes for a ring8/grid25 run, computed from its newest checkpoint (2,500 samples: fast)."""
    try:
        run = load_run(run_dir)
        values = toy_modes_metric(run.sample, load_dataset(dataset), seed=0)
        return {"metric": "toy_modes", **values, "step": int(run.step)}
    except Exception as e:  # noqa: BLE001: a diagnosis must not fail for want of a metric
        return {"metric": "toy_modes_error", "error": str(e)}


def diagnose_run(run_dir: str | Path, compute_toy_metrics: bool = True,
                 thresholds: Thresholds = Thresholds()) -> list[Verdict]:
    """Verdicts for a run folder: its ``stats.jsonl``, ``metrics.jsonl`` and ``config.json``.

    For a ring8/grid25 run without a ``toy_modes`` line, the metric is computed from the newest
    checkpoint (2,500 samples, well under a second) unless ``compute_toy_metrics`` is False;
    nothing is written. Use :func:`write_report` to write ``report.md`` and ``diagnosis.png``.
    """
    verdicts, _, _, _ = _diagnose_folder(Path(run_dir), compute_toy_metrics, thresholds)
    return verdicts


def _diagnose_folder(run_dir: Path, compute_toy_metrics: bool, th: Thresholds
                     ) -> tuple[list[Verdict], list[dict], list[dict], dict]:
    if not run_dir.is_dir():
        raise GankitError(f"{run_dir} is not a folder; pass a run folder such as "
                          f"runs/00001-digits-ns-k1")
    stats = read_jsonl(run_dir / "stats.jsonl")
    if not stats:
        raise GankitError(f"{run_dir} has no stats.jsonl rows to diagnose; pass a run folder made "
                          f"by `gankit train` (it logs every --log-every steps)")
    metrics = read_jsonl(run_dir / "metrics.jsonl")
    config = {}
    try:
        config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    dataset = config.get("dataset")
    if (compute_toy_metrics and dataset in ("ring8", "grid25")
            and not any(r.get("metric") == "toy_modes" for r in metrics)
            and (run_dir / "checkpoints").is_dir()):
        row = _toy_metric_row(run_dir, dataset)
        if row and row.get("metric") == "toy_modes":
            metrics = [*metrics, row]
    return diagnose(stats, metrics, config.get("g_loss"), th), stats, metrics, config


def write_report(run_dir: str | Path, verdicts: Sequence[Verdict] | None = None,
                 compute_toy_metrics: bool = True) -> Path:
    """Write ``RUN_DIR/report.md`` (and ``report.html``) and ``RUN_DIR/diagnosis.png``; return the
    report's path."""
    run_dir = Path(run_dir)
    found, stats, metrics, config = _diagnose_folder(run_dir, compute_toy_metrics, Thresholds())
    verdicts = list(verdicts) if verdicts is not None else found
    plot_diagnosis(stats, [v.title for v in verdicts], run_dir / "diagnosis.png",
                   Thresholds().window, g_loss=config.get("g_loss"))
    path, _html = write_report_pages(run_dir, report_markdown(run_dir.name, verdicts, metrics),
                                     title=f"gankit diagnose: {run_dir.name}", name="report")
    return path
