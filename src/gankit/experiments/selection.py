"""Choosing on validation, never on the test set: which checkpoint of a run, and which restart.

Every Parzen evaluation of ``gankit reproduce`` also scores all validation images
(``val_ll_mean``). The evaluation with the best such score is the run's *selected* one: its
checkpoint is kept as ``checkpoints/selected.safetensors`` and its *test* score is the number quoted.
Between restarts, the one whose selected checkpoint scores best on validation wins. The best test
score of a curve is reported too, labelled as such: picking it reads the test set, so it flatters.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any, Mapping, Sequence

from gankit.constants import TABLE1_MNIST
from gankit.errors import GankitError
from gankit.utils.atomic import atomic_path

#: The checkpoint with the best validation score so far, beside the run's step checkpoints. Pruning
#: and the newest-checkpoint search (resume, load_run of a run folder) only see step-N files, so it
#: is never pruned and a resume of the run folder never starts from it.
SELECTED = "selected.safetensors"
#: LL levels whose first passing time is reported: 200 (about Table 1's Deep GSN row, 214) and the
#: adversarial nets' 225.
THRESHOLDS: tuple[float, ...] = (200.0, float(TABLE1_MNIST[0]))


def keep_as_selected(checkpoints: Path, step: int) -> None:
    """Make ``checkpoints/selected.safetensors`` the step-``step`` checkpoint (atomically)."""
    source = checkpoints / f"step-{step:06d}.safetensors"
    if not source.is_file():  # pruned, or never written (a checkpoint-less run)
        return
    try:
        with atomic_path(checkpoints / SELECTED) as tmp:
            try:  # step files are replaced, never rewritten in place: a hard link is a safe copy
                os.link(source, tmp)
            except OSError:
                shutil.copyfile(source, tmp)
                with open(tmp, "rb+") as f:
                    os.fsync(f.fileno())
    except OSError as e:
        raise GankitError(f"cannot keep the selected checkpoint {checkpoints / SELECTED} "
                          f"({e.strerror or e}); free disk space or fix permissions") from None


def summarise(points: Sequence[Any], thresholds: Sequence[float] = THRESHOLDS) -> dict[str, Any]:
    """Final and best points, the point selected on validation, and when the curve first reached
    each threshold (or ``None``). ``points`` are :class:`~gankit.experiments.parzen_curve.CurvePoint`.

    ``best`` is the highest *test* score: picking it reads the test set, so it flatters the run.
    ``selected`` is the point with the highest validation score (``val_ll_mean``), its test score
    the honest one to quote for early stopping; ``None`` unless every point has a validation score
    (a curve begun before they existed would be searched only in part).
    """
    best = max(points, key=lambda p: p.ll_mean)
    scored = all(p.val_ll_mean is not None for p in points)
    selected = max(points, key=lambda p: p.val_ll_mean) if scored else None
    passed = {}
    for level in thresholds:
        first = next((p for p in points if p.ll_mean >= level), None)
        passed[f"{level:g}"] = None if first is None else {
            "step": first.step, "epochs": first.epochs,
            "train_minutes": round(first.train_seconds / 60, 2),
            "wall_minutes": round(first.wall_seconds / 60, 2),
            "cpu_minutes": round(first.cpu_seconds / 60, 2), "ll_mean": first.ll_mean}
    return {"final": asdict(points[-1]), "best": asdict(best),
            "selected": None if selected is None else asdict(selected), "passed": passed}


def choose(summaries: Mapping[int, Mapping[str, Any]]) -> int:
    """The seed whose selected checkpoint has the best validation score (test scores unread).

    ``summaries`` maps each restart's seed to its :func:`summarise` output. Restarts without a
    validation-selected checkpoint cannot compete; if none has one, an error.
    """
    scored = {s: m["selected"]["val_ll_mean"] for s, m in summaries.items() if m.get("selected")}
    if not scored:
        raise GankitError("no restart has a checkpoint selected on validation; nothing to choose from")
    return max(scored, key=lambda s: (scored[s], -s))  # ties: the lowest seed


__all__ = ["SELECTED", "THRESHOLDS", "choose", "keep_as_selected", "summarise"]
