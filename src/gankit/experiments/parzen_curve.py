"""The Parzen curve: a training callback that scores G every N steps and stops at a time budget.

:class:`ParzenCurve` is an engine :class:`~gankit.engine.callbacks.Callback`. At every snapshot
that falls on its cadence (and at the run's last), it scores G with the paper's Parzen protocol
(the ``parzen`` metric, appended to the run's ``metrics.jsonl``) and records a :class:`CurvePoint`:
the LL against epochs, wall time, training time (wall time less the evaluations) and CPU time.
The evaluation with the best validation score has its checkpoint kept as
``checkpoints/selected.safetensors`` (:mod:`gankit.experiments.selection`).

The budget ends training with :class:`BudgetReached`, raised at the last snapshot whose successor
would end past the budget. The engine has already written that snapshot's checkpoint when its
callbacks run (the run folder's own callbacks come first), so the folder is complete.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from gankit.engine.callbacks import Callback
from gankit.errors import GankitError
from gankit.experiments.selection import keep_as_selected
from gankit.metrics import evaluate
from gankit.runs.run import Run
from gankit.utils.atomic import write_text_atomic
from gankit.utils.jsonl import append_jsonl, to_json

#: What the budget counts: the training loop's wall time, or this process's CPU time.
BUDGET_CLOCKS = ("wall", "cpu")


class BudgetReached(Exception):
    """Raised by :class:`ParzenCurve` to end training at the time budget (caught by reproduce).

    Not a :class:`GankitError`: it is control flow, not a user error.
    """

    run_state = "finished"  # what status.json records: the budget is a normal end


@dataclass
class CurvePoint:
    """One Parzen evaluation during training."""

    step: int
    epoch: int             # the data stream's epoch counter (completed passes, as train logs it)
    epochs: float          # training images seen / training-set size: step * batch / n_train
    train_seconds: float   # wall time of the training loop up to this snapshot, less the evaluations
    wall_seconds: float    # wall time of the training loop up to the end of this evaluation
    eval_seconds: float    # this evaluation's own time
    cpu_seconds: float     # CPU time of this process (all threads) spent training, evaluations
    #                        excluded: on a shared machine, the load-independent clock
    ll_mean: float
    ll_se: float
    sigma: float
    n_samples: int
    val_ll_mean: float | None = None  # mean LL of all validation images: what checkpoints are
    #                                   selected on (None in curves written before it existed)


@dataclass
class ParzenCurve(Callback):
    """Parzen LL every ``eval_every_steps`` steps, and the time budget.

    ``evaluate_fn(engine) -> dict`` scores the engine's G (default: the registry's ``parzen`` metric
    on ``n_samples`` samples, appended to the run's ``metrics.jsonl``). ``budget_seconds`` (training
    time, evaluations excluded) ends the run with :class:`BudgetReached` at the last snapshot before
    the budget would be passed, predicted from the previous snapshot interval; ``None``: no budget.
    ``budget_clock``: ``"wall"`` (training wall time) or ``"cpu"`` (this process's CPU time, which
    neighbours on a shared machine do not inflate; with one torch thread it is the time an idle
    core would take). ``log`` receives one line per evaluation. ``keep_selected``: copy the
    checkpoint of the evaluation with the best validation score to ``checkpoints/selected.safetensors``.
    Snapshots must fall on every evaluation step: make ``snapshot_every`` divide ``eval_every_steps``.
    """

    eval_every_steps: int
    budget_seconds: float | None = None
    n_samples: int = 10_000
    seed: int = 0
    log: Callable[[str], None] | None = None
    evaluate_fn: Callable[[Any], Mapping[str, float]] | None = None
    budget_clock: str = "wall"
    keep_selected: bool = True
    points: list[CurvePoint] = field(default_factory=list)
    eval_total: float = 0.0      # wall seconds spent evaluating so far
    eval_cpu_total: float = 0.0  # CPU seconds spent evaluating so far
    cpu_start: float = field(default_factory=time.process_time)  # reset by on_start
    stopped_by_budget: bool = False
    device: str | None = None    # the device the engine trained on (set by on_start)
    record: Path | None = None   # each point is appended here as it is made, for a resume
    _last: tuple[int, float] = (0, 0.0)  # (step, budget clock) at the previous snapshot
    _restored: list[dict] = field(default_factory=list)  # rows of ``record`` to resume from
    _resuming: bool = False

    def __post_init__(self) -> None:
        if self.budget_clock not in BUDGET_CLOCKS:
            raise GankitError(f"budget clock must be wall or cpu (got '{self.budget_clock}')")

    def resume_from(self, rows: list[dict]) -> None:
        """Continue the curve of an interrupted run: ``rows`` are what ``record`` held. The points
        after the step the run resumes from are dropped in :meth:`on_start` (they are redone)."""
        self._restored = [r for r in rows if isinstance(r.get("point"), dict)]
        self._resuming = True

    def on_start(self, engine) -> None:
        """Start the CPU clock as training starts, and note the device. A resumed run takes back
        its points up to the resumed step, and its clocks continue from the last of them."""
        self.cpu_start = time.process_time()
        self._last = (engine.state.step, 0.0)
        self.device = str(engine.state.device)
        kept = [r for r in self._restored if int(r["point"].get("step", 0)) <= engine.state.step]
        if kept and engine.state.step > 0:
            self.points = [CurvePoint(**r["point"]) for r in kept]
            last = kept[-1]
            self.eval_total = float(last.get("eval_total", 0.0))
            self.eval_cpu_total = float(last.get("eval_cpu_total", 0.0))
            # the CPU clock goes on from the last point (exact when it is the resumed step's)
            cpu_before = self.points[-1].cpu_seconds
            self.cpu_start = time.process_time() - cpu_before - self.eval_cpu_total
            clock = cpu_before if self.budget_clock == "cpu" else \
                engine.state.elapsed - self.eval_total
            self._last = (engine.state.step, clock)
        if self.record is not None:  # the record holds exactly the points kept
            write_text_atomic(self.record, "".join(to_json(r) + "\n" for r in kept))
        step = engine.state.step
        if (self._resuming and step > 0 and step % self.eval_every_steps == 0
                and not any(p.step == step for p in self.points)):
            # killed between this step's checkpoint and its evaluation: evaluate it now
            self._evaluate(engine, engine.state.elapsed - self.eval_total,
                           time.process_time() - self.cpu_start - self.eval_cpu_total)

    def on_snapshot(self, engine) -> None:
        st = engine.state
        train_seconds = st.elapsed - self.eval_total  # st.elapsed includes earlier evaluations
        cpu_seconds = time.process_time() - self.cpu_start - self.eval_cpu_total
        clock = cpu_seconds if self.budget_clock == "cpu" else train_seconds
        last_step, last_clock = self._last
        interval = clock - last_clock  # training time of the snapshot interval just ended
        self._last = (st.step, clock)
        # The loop's own last snapshot is always evaluated: all steps done, or Ctrl-C (the only
        # snapshot off the snapshot_every grid).
        final = st.step >= engine.config.steps or st.step % engine.config.snapshot_every != 0
        # Would the next snapshot, as far off as this one was from the last, end past the budget?
        over = (self.budget_seconds is not None and st.step > last_step
                and clock + interval * engine.config.snapshot_every / (st.step - last_step)
                > self.budget_seconds)
        if st.step % self.eval_every_steps == 0 or final or over:
            self._evaluate(engine, train_seconds, cpu_seconds)
        if over and not final:
            self.stopped_by_budget = True
            raise BudgetReached(f"training {self.budget_clock} time {clock / 60:.1f} min: the next "
                                f"snapshot would pass the {self.budget_seconds / 60:.1f} min budget")

    def _evaluate(self, engine, train_seconds: float, cpu_seconds: float) -> None:
        st = engine.state
        t0, c0 = time.perf_counter(), time.process_time()
        values = (self.evaluate_fn or self._parzen)(engine)
        seconds = time.perf_counter() - t0
        self.eval_total += seconds
        self.eval_cpu_total += time.process_time() - c0
        n_train = len(getattr(getattr(engine, "dataset", None), "train", ())) or None
        epochs = st.step * engine.config.batch / n_train if n_train else float(st.stream.epoch)
        val = values.get("val_ll_mean")
        point = CurvePoint(st.step, st.stream.epoch, round(epochs, 3), round(train_seconds, 3),
                           round(st.elapsed + seconds, 3), round(seconds, 3), round(cpu_seconds, 3),
                           float(values["ll_mean"]), float(values["ll_se"]), float(values["sigma"]),
                           int(values["n_samples"]), None if val is None else float(val))
        if self.keep_selected and point.val_ll_mean is not None and all(
                p.val_ll_mean is None or point.val_ll_mean > p.val_ll_mean for p in self.points):
            keep_as_selected(Path(engine.run_dir) / "checkpoints", st.step)
        self.points.append(point)
        if self.record is not None:
            append_jsonl(self.record, {"point": asdict(point), "eval_total": self.eval_total,
                                       "eval_cpu_total": self.eval_cpu_total})
        if self.log is not None:
            self.log(f"step {point.step} epoch {point.epochs:.1f} train {train_seconds / 60:.1f} min "
                     f"(CPU {cpu_seconds / 60:.1f} min): "
                     f"Parzen LL {point.ll_mean:.1f} +- {point.ll_se:.1f} (sigma {point.sigma:.3f}"
                     + ("" if point.val_ll_mean is None else f", validation {point.val_ll_mean:.1f}")
                     + f", eval {seconds:.1f} s)")

    def _parzen(self, engine) -> Mapping[str, float]:
        run = Run(engine.run_dir, engine.config, engine.state.G_sample, engine.state.step)
        [row] = evaluate(run, ["parzen"], seed=self.seed, data=engine.dataset,
                         options={"parzen": {"n_samples": self.n_samples, "reference": False}})
        return row


__all__ = ["BUDGET_CLOCKS", "BudgetReached", "CurvePoint", "ParzenCurve"]
