"""The one training loop: Algorithm 1 repeated, with callbacks for everything else.

Every place that trains (``gankit train``, the figures, ``gankit reproduce``, the benchmarks) runs
this loop through :func:`gankit.runs.train.train`; what differs between them is only the callbacks
(checkpoints, sample grids, Figure 1's snapshots, Parzen evaluations, loggers).
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Sequence

import torch

from gankit.algorithm1 import NO_REMEDIES, Remedies, training_iteration
from gankit.config import Config
from gankit.data import Dataset
from gankit.engine.callbacks import Callback
from gankit.engine.distributed import DistInfo, any_rank, mean_across_ranks
from gankit.engine.state import TrainingState, build_state
from gankit.errors import GankitError
from gankit.nets import sample_noise
from gankit.objectives import objective_for
from gankit.optim import apply_schedules


class TrainingDiverged(GankitError):
    """A loss or a weight became NaN or infinite; the last good checkpoint is kept."""

    exit_code = 1

    def __init__(self, message: str, bad: Sequence[str] = (), step: int = 0):
        super().__init__(message)
        self.bad, self.step = list(bad), step


class Aborted(KeyboardInterrupt):
    """A second Ctrl-C: training stopped at once, without saving (files are never half-written:
    every write is atomic). Still a KeyboardInterrupt (``except Exception`` does not swallow it);
    its message is the one line the CLI prints, with exit status 130 as for a first Ctrl-C."""

    def __init__(self, message: str, step: int = 0):
        super().__init__(message)
        self.step = step


class StopFlag:
    """First Ctrl-C: finish the current iteration, save, stop. Second Ctrl-C: stop at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> "StopFlag":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\ngankit: interrupted; finishing this step and saving a checkpoint "
              "(Ctrl-C again to abort without saving)", file=sys.stderr)

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


class Engine:
    """Runs Algorithm 1 until ``config.steps`` generator steps, calling the callbacks.

    ``engine.state`` (a :class:`TrainingState`) is what callbacks read: ``state.step``, ``state.G``,
    ``state.G_sample`` (the weight average when there is one), ``state.D``. ``interrupted`` is True
    after a Ctrl-C; ``saved_last`` whether the last snapshot was at the loop's final step.
    """

    def __init__(self, config: Config, dataset: Dataset, callbacks: Sequence[Callback] = (),
                 dist_info: DistInfo = DistInfo(), device: torch.device = torch.device("cpu"),
                 state: TrainingState | None = None):
        self.config, self.dataset, self.dist = config, dataset, dist_info
        self.is_main = dist_info.is_main  # only rank 0 writes files
        self.callbacks = [cb for cb in callbacks if self.is_main or cb.all_ranks]
        self.state = state if state is not None else build_state(config, dataset, dist_info, device)
        self.objective = objective_for(config.objective, config.g_loss)
        self.G_train = self.D_train = None
        if dist_info.active:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [device.index] if device.type == "cuda" else None
            self.G_train = DDP(self.state.G, device_ids=ids)
            self.D_train = DDP(self.state.D, device_ids=ids)
        self.interrupted = False
        self.saved_last = False  # the same on every rank
        # Sums of the statistics since the last step on the log grid (a multiple of log_every),
        # and how many steps they hold. A row logged off the grid (Ctrl-C, the last step) does not
        # reset them, and a checkpoint carries them: a resumed run logs the rows of an
        # uninterrupted one.
        self.pending: dict[str, torch.Tensor] = {}
        self.pending_n = 0
        self.run_dir: Path | None = None  # the run folder, when gankit.runs.train attaches one
        self.t_start = time.perf_counter()  # wall-clock origin of state.elapsed (set by run())

    # --- one iteration -------------------------------------------------------------------------
    def iterate(self) -> dict[str, torch.Tensor]:
        """One training iteration (Algorithm 1) at this step's scheduled lr and momentum."""
        cfg, st = self.config, self.state
        self.begin_iteration()
        # bf16 autocast: matmuls in bfloat16, weights and optimiser state in float32; softplus
        # (the losses) is on autocast's float32 list. No loss scaling is needed for bf16.
        with autocast(cfg, st.device):
            stats = training_iteration(st.G, st.D, st.opt_G, st.opt_D, st.next_real,
                                       lambda: st.next_noise(cfg.batch, cfg), self.objective, cfg.k,
                                       cfg.schedule, self.G_train, self.D_train, self.remedies())
        self.end_iteration()
        return stats

    def begin_iteration(self) -> None:
        """Before an iteration: this step's scheduled learning rates (and momentum)."""
        st = self.state
        st.schedule_values = apply_schedules(self.config, st.opt_G, st.opt_D, st.step,
                                             st.stream.epoch)

    def end_iteration(self) -> None:
        """After an iteration: G's weight average, and the step count."""
        self.state.update_ema(self.config.g_ema)
        self.state.step += 1

    def remedies(self) -> Remedies:
        """This step's remedies; instance noise decays linearly to 0 at the last step."""
        cfg = self.config
        if not (cfg.r1_gamma or cfg.r2_gamma or cfg.instance_noise or cfg.label_smoothing
                or self.objective.gradient_penalty):
            return NO_REMEDIES
        noise = cfg.instance_noise * max(0.0, 1.0 - self.state.step / cfg.steps)
        return Remedies(cfg.r1_gamma, cfg.r2_gamma, noise, cfg.label_smoothing, cfg.gp_lambda)

    # --- the loop ------------------------------------------------------------------------------
    def run(self) -> "Engine":
        cfg, st = self.config, self.state
        self.t_start = time.perf_counter() - st.elapsed
        ended = False
        try:
            # The first Ctrl-C anywhere in here (also while on_start or on_end write files) stops
            # at the next safe point; a second raises KeyboardInterrupt, which gankit.runs.train
            # reports as Aborted (one line: atomic writes leave no half-written file behind).
            with StopFlag() as stop:
                self._call("on_start")
                while st.step < cfg.steps:
                    if self.after_iteration(self.iterate(), stop):
                        break
                self._call("on_end")
            ended = True
        finally:
            self._close(failing=not ended)
        return self

    def after_iteration(self, stats: dict[str, torch.Tensor], stop: StopFlag) -> bool:
        """Everything after an iteration's updates: sums for the log, ``on_step``, a log row and
        a snapshot when due. True when the loop must stop here (the last step, or a Ctrl-C, read
        after ``on_step``: a Ctrl-C during the step's callbacks stops at this step)."""
        cfg, st = self.config, self.state
        for key, v in stats.items():
            self.pending[key] = self.pending[key] + v if key in self.pending else v.clone()
        self.pending_n += 1
        self._call("on_step", stats)
        on_grid = st.step % cfg.log_every == 0
        log_now = on_grid or st.step == cfg.steps
        # Ranks agree on stopping only at log steps, so no rank leaves a collective early.
        stop_now = (any_rank(stop.requested, self.dist, st.device) if log_now
                    else False) if self.dist.active else stop.requested
        last = st.step == cfg.steps or stop_now
        if log_now or last:
            st.elapsed = time.perf_counter() - self.t_start
            row = self._log_row(self.pending, self.pending_n)  # collective: rank means
            if on_grid:  # off the grid (Ctrl-C, the last step) the interval goes on
                self.pending, self.pending_n = {}, 0
            self._call("on_log", row)
            self.check_finite(row)
        if st.step % cfg.snapshot_every == 0 or last:
            st.elapsed = time.perf_counter() - self.t_start
            self.check_finite({})  # weights: identical on every rank
            self.saved_last = last
            self._call("on_snapshot")
        if stop_now:
            self.interrupted = True
        return last

    def _close(self, failing: bool) -> None:
        """``on_close`` on every callback. While an error propagates (a full disk, a second
        Ctrl-C), that error is the one to report: a callback failing to close after it (e.g. on
        the same full disk) neither hides it nor keeps the others from closing."""
        for callback in self.callbacks:
            try:
                callback.on_close(self)
            except Exception:  # noqa: BLE001
                if not failing:
                    raise

    def _call(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(self, *args)

    def _log_row(self, sums: dict[str, torch.Tensor], n: int) -> dict[str, float]:
        st = self.state
        row: dict[str, float] = {"step": st.step, "epoch": st.stream.epoch,
                                 "time": round(st.elapsed, 3)}
        sums = mean_across_ranks(sums, self.dist)
        row.update({k: (v / n).item() for k, v in sums.items()})  # means over the interval
        row.update(self.gradient_stats())
        row.update(st.schedule_values)
        return row

    def gradient_stats(self) -> dict[str, float]:
        """Norms of the last updates' gradients, and of D's input gradient on real data (cheap:
        only at log steps; the global RNG is forked so logging never changes the run)."""
        st = self.state
        out = {"Grad/D": _grad_norm(st.D), "Grad/G": _grad_norm(st.G)}
        # D's buffers are put back after: a spectrally normalised D's power iteration runs in
        # every training-mode forward pass, and logging must not change the run
        kept = [b.clone() for b in st.D.buffers()]
        with torch.random.fork_rng(devices=[]):
            x = self.dataset.head(self.config.batch).to(st.device).requires_grad_(True)
            (grad,) = torch.autograd.grad(st.D(x).sum(), x)
        with torch.no_grad():
            for b, saved in zip(st.D.buffers(), kept):
                b.copy_(saved)
        out["Grad/D_input_real"] = grad.flatten(1).norm(dim=1).mean().item()
        # Diversity/G: spread of a fake batch over that of a real one (near 0: mode collapse).
        with torch.no_grad():
            z = sample_noise(len(x), self.config.z_dim, self.config.z_dist,
                             torch.Generator().manual_seed(st.step)).to(st.device)
            was = st.G.training
            st.G.eval()
            fake = st.G(z)
            st.G.train(was)
            spread = lambda b: b.flatten(1).std(dim=0).mean()  # noqa: E731
            out["Diversity/G"] = (spread(fake) / spread(x.detach()).clamp_min(1e-12)).item()
        return out

    def check_finite(self, row: dict[str, float]) -> None:
        """Stop before a NaN/Inf reaches a checkpoint: the last good one must stay usable."""
        bad = [k for k, v in row.items() if not math.isfinite(v)]
        for name, net in (("G", self.state.G), ("D", self.state.D)):
            if not all(torch.isfinite(p).all() for p in net.parameters()):
                bad.append(f"{name}'s weights")
        if bad:
            raise TrainingDiverged(f"training diverged: {', '.join(bad)} became NaN/Inf by step "
                                   f"{self.state.step}", bad, self.state.step)


def autocast(config: Config, device: torch.device):
    """The iteration's precision: bf16 autocast when ``config.precision`` is bf16 (no cast cache:
    it would keep D's pre-update bf16 weights for the next of k D steps)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16",
                          cache_enabled=False)


def _grad_norm(net: torch.nn.Module) -> float:
    grads = [p.grad.double().pow(2).sum() for p in net.parameters() if p.grad is not None]
    return math.sqrt(sum(g.item() for g in grads)) if grads else 0.0
