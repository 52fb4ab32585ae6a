"""Diagnosis of a run folder: :mod:`gankit.diagnose`'s verdicts on its ``stats.jsonl`` and
``metrics.jsonl``, written as ``report.md`` and ``diagnosis.png`` (``gankit diagnose``, and at the
end of every run)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from gankit.data import load_dataset
from gankit.diagnose import Thresholds, Verdict, diagnose, period2_peak, report_markdown
from gankit.figures.diagnosis import plot_diagnosis
from gankit.errors import GankitError
from gankit.metrics.modes import toy_modes_metric
from gankit.objectives import objective_of
from gankit.runs.run import load_run
from gankit.runs.status import read_status
from gankit.utils.jsonl import read_jsonl
from gankit.utils.atomic import write_text_atomic


_UNBOUNDED = 10**9


def _toy_metric_row(run_dir: Path, dataset: str) -> dict | None:
    """toy_modes for a ring8/grid25 run, computed from its newest checkpoint (2,500 samples: fast)."""
    try:
        run = load_run(run_dir)
        values = toy_modes_metric(run.sample, load_dataset(dataset), seed=0)
        return {"metric": "toy_modes", **values, "step": int(run.step)}
    except Exception as e:  # noqa: BLE001: a diagnosis must not fail for want of a metric
        return {"metric": "toy_modes_error", "error": str(e)}


def _grid_tiles(path: Path, n: int) -> np.ndarray | None:
    """The images of a sample grid written by :func:`gankit.figures.samples.image_grid` (``n``
    tiles, 1-pixel white padding, small images enlarged by an integer factor), at their own
    resolution, as floats [N, H, W(, C)] in [0, 1]; None when ``path`` is not such a grid (e.g.
    the scatter plot of a toy run)."""
    try:
        from PIL import Image

        with Image.open(path) as im:
            grid = np.asarray(im.convert("RGB" if im.mode not in ("L",) else "L"), dtype=np.float64)
    except Exception:  # noqa: BLE001: no grid, no artefact statistic
        return None
    if n < 1:
        return None
    ncols = math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    size_w, size_h = (grid.shape[1] - 1) / ncols - 1, (grid.shape[0] - 1) / nrows - 1
    if size_w != size_h or size_w < 4 or not float(size_w).is_integer():
        return None
    t = int(size_w)
    pads = np.concatenate([grid[r * (t + 1)].reshape(-1) for r in range(nrows + 1)]
                          + [grid[:, c * (t + 1)].reshape(-1) for c in range(ncols + 1)])
    if not (pads == 255).all():  # a plot, not a grid
        return None
    tiles = np.stack([grid[1 + r * (t + 1):1 + r * (t + 1) + t, 1 + c * (t + 1):1 + c * (t + 1) + t]
                      for r, c in (divmod(i, ncols) for i in range(n))]) / 255.0
    for s in range(t // 4, 1, -1):  # undo the enlargement: the largest s whose s x s blocks are flat
        if t % s == 0:
            small = tiles[:, ::s, ::s]
            if np.array_equal(np.repeat(np.repeat(small, s, axis=1), s, axis=2), tiles):
                return small
    return tiles


def image_statistics(run_dir: str | Path, grid_size: int | None = None) -> dict[str, float] | None:
    """Period-2 peaks (:func:`gankit.diagnose.period2_peak`) of the newest fake grid
    (``samples/fakes-NNNNNN.png``) and of ``samples/reals.png``; None for a run whose samples are
    not image grids."""
    folder = Path(run_dir) / "samples"
    fakes = sorted((p for p in folder.glob("fakes-*.png") if re.fullmatch(r"fakes-\d+\.png", p.name)),
                   key=lambda p: int(p.stem.split("-")[1]))
    if not fakes or not (folder / "reals.png").is_file() or not grid_size:
        return None
    fake, real = _grid_tiles(fakes[-1], grid_size), _grid_tiles(folder / "reals.png", grid_size)
    if fake is None or real is None or fake.shape[1:] != real.shape[1:]:
        return None
    return {"fake_peak": period2_peak(fake), "real_peak": period2_peak(real),
            "step": float(int(fakes[-1].stem.split("-")[1]))}


def diagnose_run(run_dir: str | Path, compute_toy_metrics: bool = True,
                 thresholds: Thresholds = Thresholds(), interrupted: bool | None = None
                 ) -> list[Verdict]:
    """Verdicts for a run folder: its ``stats.jsonl``, ``metrics.jsonl``, ``config.json`` and, for
    image runs, the newest sample grid against ``samples/reals.png``.

    For a ring8/grid25 run without a ``toy_modes`` line, the metric is computed from the newest
    checkpoint (2,500 samples, well under a second) unless ``compute_toy_metrics`` is False;
    nothing is written. ``interrupted``: True when the engine stopped on Ctrl-C; None infers an
    unfinished run from a log that ends before ``config.json``'s ``steps``. Use
    :func:`write_report` to write ``report.md`` and ``diagnosis.png``.
    """
    verdicts, _, _, _ = _diagnose_folder(Path(run_dir), compute_toy_metrics, thresholds, interrupted)
    return verdicts


def _diagnose_folder(run_dir: Path, compute_toy_metrics: bool, th: Thresholds,
                     interrupted: bool | None = None
                     ) -> tuple[list[Verdict], list[dict], list[dict], dict]:
    if not run_dir.is_dir():
        raise GankitError(f"{run_dir} is not a folder; pass a run folder such as "
                          f"runs/00001-digits-ns-k1")
    stats = read_jsonl(run_dir / "stats.jsonl")
    if not stats:
        raise GankitError(f"{run_dir} has no stats.jsonl rows to diagnose; pass a run folder made "
                          f"by `gankit train` (it logs every --log-every steps)")
    metrics = read_jsonl(run_dir / "metrics.jsonl")
    config: dict[str, Any] = {}
    try:
        loaded = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
        config = loaded if isinstance(loaded, dict) else {}
    except (OSError, ValueError):
        pass
    dataset = config.get("dataset")
    if (compute_toy_metrics and dataset in ("ring8", "grid25")
            and not any(r.get("metric") == "toy_modes" for r in metrics)
            and (run_dir / "checkpoints").is_dir()):
        row = _toy_metric_row(run_dir, dataset)
        if row and row.get("metric") == "toy_modes":
            metrics = [*metrics, row]
    if interrupted is None:  # status.json (gankit >= 0.1 run folders) says how the run ended
        state = read_status(run_dir)["state"]
        interrupted = True if state == "stopped" else False if state == "finished" else None
    steps, grid = config.get("steps"), config.get("grid_size")
    # a run with a time budget instead of a length (`gankit reproduce`) stores steps = 10**9
    # (config.STEPS_UNBOUNDED): it has no planned last step to stop short of
    planned = steps if isinstance(steps, int) and 0 < steps < _UNBOUNDED else None
    verdicts = diagnose(stats, metrics, config.get("g_loss"), th, planned_steps=planned,
                        interrupted=interrupted, objective=str(config.get("objective", "gan")),
                        image_stats=image_statistics(run_dir, grid if isinstance(grid, int) else None))
    return verdicts, stats, metrics, config


def write_report(run_dir: str | Path, verdicts: Sequence[Verdict] | None = None,
                 compute_toy_metrics: bool = True, interrupted: bool | None = None) -> Path:
    """Write ``RUN_DIR/report.md`` and ``RUN_DIR/diagnosis.png``; return the report's path. (The
    page ``RUN_DIR/report.html`` is :func:`gankit.runs.report.write_run_report`'s.)"""
    run_dir = Path(run_dir)
    found, stats, metrics, config = _diagnose_folder(run_dir, compute_toy_metrics, Thresholds(),
                                                     interrupted)
    verdicts = list(verdicts) if verdicts is not None else found
    plot_diagnosis(stats, [v.title for v in verdicts], run_dir / "diagnosis.png",
                   Thresholds().window, objective_of(config))
    path = run_dir / "report.md"
    write_text_atomic(path, report_markdown(run_dir.name, verdicts, metrics))
    return path
