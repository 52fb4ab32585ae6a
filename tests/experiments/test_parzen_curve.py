"""gankit.experiments.parzen_curve: the evaluation cadence, the budget rule and its clocks, and the
checkpoint kept on validation, with fake engines (no training) and fake evaluations."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from gankit.engine.callbacks import Callback
from gankit.errors import GankitError
from gankit.experiments.parzen_curve import BudgetReached, ParzenCurve
from gankit.experiments.selection import SELECTED
from gankit.runs.checkpoint import checkpoint_files, prune_checkpoints


def fake_engine(step, elapsed, snapshot_every=10, steps=1000, run_dir=None):
    """What ParzenCurve reads of an engine: state (step, elapsed, epoch, device), config, run_dir."""
    return SimpleNamespace(state=SimpleNamespace(step=step, elapsed=elapsed, device="cpu",
                                                 stream=SimpleNamespace(epoch=step // 100)),
                           config=SimpleNamespace(snapshot_every=snapshot_every, steps=steps,
                                                  batch=100),
                           run_dir=run_dir)


def scores(calls, val=None):
    """A fake evaluation that records the steps it scored; LL = step."""
    def evaluate(engine):
        calls.append(engine.state.step)
        row = {"ll_mean": float(engine.state.step), "ll_se": 1.0, "sigma": 0.2, "n_samples": 5}
        if val is not None:
            row["val_ll_mean"] = val[engine.state.step]
        return row
    return evaluate


def test_parzen_curve_is_an_engine_callback_run_at_snapshots():
    curve = ParzenCurve(eval_every_steps=10)
    assert isinstance(curve, Callback)
    curve.on_start(fake_engine(0, 0.0))
    assert curve.device == "cpu"


def test_parzen_curve_budget_rule_and_clocks():
    calls = []
    curve = ParzenCurve(eval_every_steps=20, budget_seconds=35.0, evaluate_fn=scores(calls))
    curve.on_snapshot(fake_engine(10, 10.0))   # not an evaluation step; next snapshot ~20 s < 35 s
    assert calls == []
    curve.on_snapshot(fake_engine(20, 20.0))   # evaluation step; next snapshot at ~30 s
    assert calls == [20]
    spent = curve.eval_total
    with pytest.raises(BudgetReached):  # next snapshot at ~40 s > 35 s: evaluate now and stop
        curve.on_snapshot(fake_engine(30, 30.0 + spent))
    assert calls == [20, 30] and curve.stopped_by_budget
    # training time excludes the time already spent evaluating
    assert curve.points[1].train_seconds == pytest.approx(30.0, abs=1e-3)
    # no budget: never stops; the run's final step is always evaluated
    free = ParzenCurve(eval_every_steps=20, evaluate_fn=scores(calls))
    free.on_snapshot(fake_engine(10, 1.0, steps=15))
    free.on_snapshot(fake_engine(15, 2.0, steps=15))
    assert calls[-1] == 15 and not free.stopped_by_budget
    # Ctrl-C: a snapshot off the snapshot_every grid is the run's last, so it is evaluated too
    free.on_snapshot(fake_engine(23, 3.0))
    assert calls[-1] == 23 and not free.stopped_by_budget


def test_epochs_count_training_images_seen():
    curve = ParzenCurve(eval_every_steps=10, evaluate_fn=scores([]))
    engine = fake_engine(10, 1.0)
    engine.dataset = SimpleNamespace(train=range(400))
    curve.on_snapshot(engine)
    assert curve.points[0].epochs == pytest.approx(10 * 100 / 400)


def test_cpu_budget_clock_ignores_wall_time():
    # hours of wall time but (almost) no CPU time: the CPU clock does not stop the run
    curve = ParzenCurve(eval_every_steps=10, budget_seconds=60.0, budget_clock="cpu",
                        evaluate_fn=scores([]))
    curve.on_start(fake_engine(0, 0.0))  # the CPU clock starts with training
    curve.on_snapshot(fake_engine(10, 7200.0))
    curve.on_snapshot(fake_engine(20, 14400.0))
    assert not curve.stopped_by_budget and len(curve.points) == 2
    assert 0 <= curve.points[1].cpu_seconds < 60 and curve.points[1].train_seconds == 14400.0
    with pytest.raises(GankitError, match="wall or cpu"):
        ParzenCurve(eval_every_steps=10, budget_clock="gpu")


def test_parzen_curve_keeps_the_checkpoint_with_the_best_validation_score(tmp_path):
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    val = {10: 5.0, 20: 7.0, 30: 6.0}
    curve = ParzenCurve(eval_every_steps=10, evaluate_fn=scores([], val))
    for step in val:  # as the engine does: write the step checkpoint, prune to 1, then callbacks
        (checkpoints / f"step-{step:06d}.safetensors").write_bytes(f"weights {step}".encode())
        prune_checkpoints(checkpoints, 1)
        curve.on_snapshot(fake_engine(step, float(step), run_dir=tmp_path))
    assert (checkpoints / SELECTED).read_bytes() == b"weights 20"  # kept though step 20 was pruned
    # not a step checkpoint: pruning, resume and load_run(run folder) never see it
    assert checkpoint_files(checkpoints) == [checkpoints / "step-000030.safetensors"]
