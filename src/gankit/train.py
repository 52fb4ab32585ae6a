"""The training loop: Algorithm 1 repeated, with logging, snapshots, checkpoints and Ctrl-C.

``train(config) -> Run`` is the whole public surface; the CLI is a thin layer over it.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import math
import os
import platform
import random
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from . import __version__
from .atomic import write_text_atomic as _write_text
from .algorithm1 import NO_REMEDIES, Remedies, training_iteration
from .checkpoint import (flatten_optimizer, load_module, module_tensors, prune_checkpoints,
                         save_checkpoint, unflatten_optimizer)
from .config import STEPS_UNBOUNDED, Config, coerce, config_from_dict, resolve_config
from .data import Dataset, MinibatchStream, load_dataset
from .distributed import (DistInfo, any_rank, broadcast_path, gather_rng_states, mean_across_ranks,
                          resolve_device, setup, teardown)
from .errors import CheckpointError, ConfigError, GankitError
from .figures import plot_curves, save_samples
from .losses import G_LOSSES
from .nets import Discriminator, Generator, build_networks, sample_noise
from .optim import apply_schedules, build_optimizers
from .run import Run, create_run_dir, newest_good_checkpoint, run_dir_of


class TrainingDiverged(GankitError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""

    exit_code = 1


@dataclass
class TrainingState:
    """Everything that changes during training (and so goes into a checkpoint)."""

    G: Generator
    D: Discriminator
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer
    stream: MinibatchStream
    noise_gen: torch.Generator
    fixed_z: torch.Tensor
    step: int = 0
    elapsed: float = 0.0
    schedule_values: dict[str, float] = field(default_factory=dict)
    dist: DistInfo = field(default_factory=DistInfo)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    G_ema: Generator | None = None  # the moving average of G's weights (config.g_ema > 0)

    @property
    def G_sample(self) -> Generator:
        """The generator to sample from: the weight average when there is one, else G."""
        return self.G_ema if self.G_ema is not None else self.G

    def update_ema(self, decay: float) -> None:
        """G_ema <- decay G_ema + (1 - decay) G (Yazici et al., 2019: averaging G's iterates damps
        the oscillation of the game and gives cleaner samples). The decay is warmed up as
        (1 + t) / (10 + t), so early averages do not remember the random initialisation."""
        if self.G_ema is None:
            return
        decay = min(decay, (1 + self.step) / (10 + self.step))
        with torch.no_grad():
            torch._foreach_lerp_(list(self.G_ema.parameters()), list(self.G.parameters()),
                                 1.0 - decay)
            for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):  # BatchNorm statistics
                b_ema.copy_(b)

    def next_noise(self, m: int, config: Config) -> torch.Tensor:
        """m noise vectors (the global batch; a distributed rank keeps its own slice)."""
        z = sample_noise(m, config.z_dim, config.z_dist, self.noise_gen)
        if self.dist.active:
            local = m // self.dist.world_size
            z = z[self.dist.rank * local:(self.dist.rank + 1) * local]
        return z.to(self.device, non_blocking=True)

    def next_real(self) -> torch.Tensor:
        return self.stream.next().to(self.device, non_blocking=True)


def choose_threads(config: Config, world_size: int = 1) -> int:
    """CPU threads: the config's, else 1 for small nets (where threading costs more than it
    saves, and a busy neighbour process slows every thread) and up to 2 for large ones; the cores
    are shared among the ranks of a distributed run."""
    if config.threads:
        return config.threads
    width = max(max(config.g_hidden), max(config.d_hidden) * max(config.d_maxout_pieces, 1))
    cores = max(1, (os.cpu_count() or 1) // world_size)
    return 1 if width * config.batch < 200_000 else min(2, cores)


def build_state(config: Config, dataset: Dataset, info: DistInfo = DistInfo(),
                device: torch.device = torch.device("cpu")) -> TrainingState:
    """Fresh networks, optimisers and random streams, all derived from ``config.seed``."""
    torch.manual_seed(config.seed)  # initialisation and dropout masks
    random.seed(config.seed)  # unused by gankit itself; seeded so that user callbacks repeat too
    np.random.seed(config.seed % 2**32)
    G, D = build_networks(config, dataset)
    G, D = G.to(device), D.to(device)
    if info.active:  # the same initial weights everywhere, then per-rank dropout masks
        torch.manual_seed(config.seed + 1_000_003 * (info.rank + 1))
    opt_G, opt_D = build_optimizers(config, G, D)
    data_gen = torch.Generator().manual_seed(config.seed + 1)
    noise_gen = torch.Generator().manual_seed(config.seed + 2)
    fixed_z = sample_noise(config.grid_size, config.z_dim, config.z_dist,
                           torch.Generator().manual_seed(config.seed + 3))
    stream = MinibatchStream(dataset.train, config.batch, data_gen, info.rank, info.world_size)
    G_ema = copy.deepcopy(G).requires_grad_(False).eval() if config.g_ema > 0 else None
    return TrainingState(G, D, opt_G, opt_D, stream, noise_gen, fixed_z, dist=info, device=device,
                         G_ema=G_ema)


def state_to_checkpoint(state: TrainingState, config: Config, dataset: Dataset
                        ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors = {**module_tensors("G", state.G), **module_tensors("D", state.D)}
    if state.G_ema is not None:
        tensors.update(module_tensors("G_ema", state.G_ema))
    meta: dict[str, Any] = {
        "config": config.to_dict(), "step": state.step, "epoch": state.stream.epoch,
        "elapsed_seconds": state.elapsed, "sample_shape": list(dataset.sample_shape),
        "unit_range": dataset.unit_range, "gankit_version": __version__,
        "torch_version": torch.__version__,
        "opt_G": flatten_optimizer("opt_G", state.opt_G, tensors),
        "opt_D": flatten_optimizer("opt_D", state.opt_D, tensors),
    }
    for name, value in state.stream.state_dict().items():
        tensors[f"data.{name}"] = value
    tensors["rng.torch"] = torch.get_rng_state()
    if state.dist.active:  # each rank's dropout stream, so that a distributed resume is exact too
        for rank, rng in enumerate(gather_rng_states(state.dist)):
            tensors[f"rng.torch.rank{rank}"] = rng
    tensors["rng.noise"] = state.noise_gen.get_state()
    tensors["rng.data"] = state.stream.generator.get_state()
    # gankit draws nothing from Python's or NumPy's generators, but user code (callbacks) may.
    meta["rng_python"] = _jsonable(random.getstate())
    np_state = np.random.get_state()
    tensors["rng.numpy"] = torch.from_numpy(np_state[1].astype(np.int64))
    meta["rng_numpy"] = [np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])]
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    tensors["fixed_z"] = state.fixed_z
    return tensors, meta


def _jsonable(value: Any) -> Any:
    return [_jsonable(v) for v in value] if isinstance(value, (tuple, list)) else value


def restore_state(state: TrainingState, tensors: dict[str, torch.Tensor], meta: dict[str, Any]
                  ) -> None:
    """Put a checkpoint back into a freshly built state (exact resume)."""
    load_module("G", state.G, tensors)
    load_module("D", state.D, tensors)
    if state.G_ema is not None:
        load_module("G_ema", state.G_ema, tensors)
    unflatten_optimizer("opt_G", state.opt_G, tensors, meta["opt_G"])
    unflatten_optimizer("opt_D", state.opt_D, tensors, meta["opt_D"])
    state.stream.load_state_dict({"order": tensors["data.order"],
                                  "counters": tensors["data.counters"]})
    torch.set_rng_state(tensors.get(f"rng.torch.rank{state.dist.rank}", tensors["rng.torch"]))
    state.noise_gen.set_state(tensors["rng.noise"])
    state.stream.generator.set_state(tensors["rng.data"])
    if "rng_python" in meta:
        v = meta["rng_python"]
        random.setstate((v[0], tuple(v[1]), v[2]))
    if "rng.numpy" in tensors:
        name, pos, has_gauss, gauss = meta["rng_numpy"]
        np.random.set_state((name, tensors["rng.numpy"].numpy().astype(np.uint32), pos, has_gauss,
                             gauss))
    cuda_states = [tensors[f"rng.cuda.{i}"] for i in range(torch.cuda.device_count())
                   if f"rng.cuda.{i}" in tensors]
    if cuda_states and len(cuda_states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda_states)
    state.fixed_z = tensors["fixed_z"]
    state.step, state.elapsed = int(meta["step"]), float(meta.get("elapsed_seconds", 0.0))


class _StopFlag:
    """First Ctrl-C: finish the current iteration, save, stop. Second Ctrl-C: stop at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> "_StopFlag":
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


class Trainer:
    """Runs Algorithm 1 for ``config.steps`` generator steps, writing the run folder."""

    def __init__(self, config: Config, dataset: Dataset, run_dir: Path, progress: bool = True,
                 callbacks: Sequence[Callable[["Trainer"], None]] = (),
                 dist_info: DistInfo = DistInfo(), device: torch.device = torch.device("cpu")):
        self.config, self.dataset, self.run_dir = config, dataset, run_dir
        self.dist = dist_info
        self.writes = dist_info.is_main  # only rank 0 writes the run folder
        self.progress = progress and self.writes
        self.callbacks = list(callbacks) if self.writes else []  # called after every snapshot
        self.state = build_state(config, dataset, dist_info, device)
        self.G_train = self.D_train = None
        if dist_info.active:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [device.index] if device.type == "cuda" else None
            self.G_train = DDP(self.state.G, device_ids=ids)
            self.D_train = DDP(self.state.D, device_ids=ids)
        self.g_loss = G_LOSSES[config.g_loss]
        self.stats_path = run_dir / "stats.jsonl"
        if self.writes:
            (run_dir / "checkpoints").mkdir(exist_ok=True)
            for stale in (run_dir / "checkpoints").glob(".*.tmp-*"):  # left by a killed write
                stale.unlink(missing_ok=True)
            (run_dir / "samples").mkdir(exist_ok=True)

    # --- outputs -------------------------------------------------------------------------------
    def save_checkpoint(self) -> Path | None:
        tensors, meta = state_to_checkpoint(self.state, self.config, self.dataset)  # collective
        if not self.writes:
            return None
        path = self.run_dir / "checkpoints" / f"step-{self.state.step:06d}.safetensors"
        try:
            save_checkpoint(path, tensors, meta)
        except OSError as e:
            raise GankitError(f"cannot write checkpoint {path} ({e.strerror or e}); free disk "
                              f"space or fix permissions; earlier checkpoints are untouched") from None
        prune_checkpoints(self.run_dir / "checkpoints", self.config.keep_checkpoints)
        return path

    @torch.no_grad()
    def save_grid(self) -> None:
        if not self.writes:
            return
        G = self.state.G_sample
        was = G.training
        G.eval()
        try:
            x = G(self.state.fixed_z.to(self.state.device)).cpu()
        finally:
            G.train(was)
        real = self.dataset.train if not self.dataset.is_image else None
        save_samples(x, self.run_dir / "samples" / f"fakes-{self.state.step:06d}.png", real=real,
                     title=f"step {self.state.step}")

    def save_curves(self) -> None:
        if self.writes and self.stats_path.is_file() and self.stats_path.stat().st_size:
            plot_curves(self.stats_path, self.run_dir / "curves.png", self.config.g_loss)

    # --- the loop ------------------------------------------------------------------------------
    def iterate(self) -> dict[str, torch.Tensor]:
        """One training iteration (Algorithm 1) at this step's scheduled lr and momentum."""
        cfg, st = self.config, self.state
        st.schedule_values = apply_schedules(cfg, st.opt_G, st.opt_D, st.step, st.stream.epoch)
        # bf16 autocast: matmuls in bfloat16, weights and optimiser state in float32; softplus
        # (the losses) is on autocast's float32 list. No loss scaling is needed for bf16. No cast
        # cache: it would keep D's pre-update bf16 weights for the next of k D steps.
        with torch.autocast(st.device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16",
                            cache_enabled=False):
            stats = self._iteration()
        st.update_ema(cfg.g_ema)
        st.step += 1
        return stats

    def _iteration(self) -> dict[str, torch.Tensor]:
        cfg, st = self.config, self.state
        return training_iteration(st.G, st.D, st.opt_G, st.opt_D, st.next_real,
                                   lambda: st.next_noise(cfg.batch, cfg), self.g_loss, cfg.k,
                                   cfg.schedule, self.G_train, self.D_train, self.remedies())

    def remedies(self) -> Remedies:
        """This step's remedies; instance noise decays linearly to 0 at the last step."""
        cfg = self.config
        if not (cfg.r1_gamma or cfg.r2_gamma or cfg.instance_noise or cfg.label_smoothing):
            return NO_REMEDIES
        noise = cfg.instance_noise * max(0.0, 1.0 - self.state.step / cfg.steps)
        return Remedies(cfg.r1_gamma, cfg.r2_gamma, noise, cfg.label_smoothing)

    def gradient_stats(self) -> dict[str, float]:
        """Norms of the last updates' gradients, and of D's input gradient on real data (cheap:
        only at log steps; the global RNG is forked so logging never changes the run)."""
        st = self.state
        out = {"Grad/D": _grad_norm(st.D), "Grad/G": _grad_norm(st.G)}
        with torch.random.fork_rng(devices=[]):
            x = self.dataset.train[:self.config.batch].to(st.device).requires_grad_(True)
            (grad,) = torch.autograd.grad(st.D(x).sum(), x)
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

    def run(self) -> Run:
        cfg, st = self.config, self.state
        if st.step == 0:
            if self.writes:
                save_samples(self.dataset.train[:cfg.grid_size],
                             self.run_dir / "samples" / "reals.png", title="training data")
            self.save_grid()
            self.save_checkpoint()  # step 0: a good state to return to even if step 1 diverges
        sums: dict[str, torch.Tensor] = {}
        n_summed = 0
        bar = _progress_bar(cfg.steps, st.step, self.progress)
        t_start = time.perf_counter() - st.elapsed
        interrupted = False
        checkpoint = None
        saved_last = False  # the same on every rank (rank >= 1 gets no checkpoint path back)
        log_file = (open(self.stats_path, "a", encoding="utf-8") if self.writes
                    else contextlib.nullcontext())
        with _StopFlag() as stop, log_file as log:
            while st.step < cfg.steps:
                stats = self.iterate()
                for key, v in stats.items():
                    sums[key] = sums[key] + v if key in sums else v.clone()
                n_summed += 1
                bar.update(1)
                log_now = st.step % cfg.log_every == 0 or st.step == cfg.steps
                # Ranks agree on stopping only at log steps, so no rank leaves a collective early.
                stop_now = (any_rank(stop.requested, self.dist, st.device) if log_now
                            else False) if self.dist.active else stop.requested
                last = st.step == cfg.steps or stop_now
                if log_now or last:
                    st.elapsed = time.perf_counter() - t_start
                    row = self._log_row(sums, n_summed)  # collective: means over the ranks
                    if log is not None:
                        log.write(json.dumps(row) + "\n")
                        log.flush()
                    sums, n_summed = {}, 0
                    bar.set_postfix_str(_postfix(row), refresh=False)
                    self._check_finite(row, bar)
                if st.step % cfg.snapshot_every == 0 or last:
                    st.elapsed = time.perf_counter() - t_start
                    self._check_finite({}, bar)  # weights: identical on every rank
                    self.save_grid()
                    checkpoint = self.save_checkpoint()
                    saved_last = last
                    self.save_curves()
                    for callback in self.callbacks:  # e.g. periodic metrics (gankit reproduce)
                        callback(self)
                if stop_now:
                    interrupted = True
                    break
        bar.close()
        if not saved_last:  # e.g. resumed at the end: no step ran, but the caller gets a checkpoint
            checkpoint = self.save_checkpoint()
        self.report()
        run = Run(self.run_dir, cfg, st.G_sample, st.step, checkpoint=checkpoint,
                  interrupted=interrupted)
        run.is_main = self.writes
        return run

    def _log_row(self, sums: dict[str, torch.Tensor], n: int) -> dict[str, float]:
        st = self.state
        row: dict[str, float] = {"step": st.step, "epoch": st.stream.epoch,
                                 "time": round(st.elapsed, 3)}
        sums = mean_across_ranks(sums, self.dist)
        row.update({k: (v / n).item() for k, v in sums.items()})  # means over the interval
        row.update(self.gradient_stats())
        row.update(st.schedule_values)
        return row

    def report(self) -> None:
        """Write report.md and diagnosis.png (diagnose.py) and print the verdicts on stderr."""
        if not self.writes:
            return
        from .diagnose import diagnose_run, write_report

        try:
            verdicts = diagnose_run(self.run_dir)
            write_report(self.run_dir, verdicts, compute_toy_metrics=False)
        except GankitError as e:  # e.g. too few logged rows to judge: say so, keep the run
            print(f"gankit: no diagnosis: {e}", file=sys.stderr)
            return
        for v in verdicts:
            print(f"gankit: {v}", file=sys.stderr)

    def _check_finite(self, row: dict[str, float], bar) -> None:
        """Stop before a NaN/Inf reaches a checkpoint: the last good one must stay usable."""
        bad = [k for k, v in row.items() if not math.isfinite(v)]
        for name, net in (("G", self.state.G), ("D", self.state.D)):
            if not all(torch.isfinite(p).all() for p in net.parameters()):
                bad.append(f"{name}'s weights")
        if bad:
            bar.close()
            self.report()  # the "diverged" verdict, with its evidence, in report.md
            raise TrainingDiverged(self._diverged_message(bad))

    def _diverged_message(self, bad: list[str]) -> str:
        bad = ", ".join(bad)
        ckpts = sorted((self.run_dir / "checkpoints").glob("step-*.safetensors"))
        kept = f"the last good checkpoint is {ckpts[-1]}" if ckpts else "no checkpoint was written yet"
        return (f"training diverged: {bad} became NaN/Inf by step {self.state.step}; {kept}; "
                f"try lower learning rates (--lr-d/--lr-g) or the non-saturating loss")


def _grad_norm(net: torch.nn.Module) -> float:
    grads = [p.grad.double().pow(2).sum() for p in net.parameters() if p.grad is not None]
    return math.sqrt(sum(g.item() for g in grads)) if grads else 0.0


def _progress_bar(total: int, initial: int, enabled: bool):
    from tqdm.auto import tqdm

    total = None if total >= STEPS_UNBOUNDED else total  # a budgeted run: no meaningless ETA
    return tqdm(total=total, initial=initial, disable=not enabled, unit="step", dynamic_ncols=True,
                file=sys.stderr, mininterval=0.5)


def _postfix(row: dict[str, float]) -> str:
    return (f"loss_D={row['Loss/D']:.3f} loss_G={row['Loss/G']:.3f} "
            f"D(x)={row['Prob/D(x)']:.3f} D(G(z))={row['Prob/D(G(z))']:.3f}")


def train(config: Config | None = None, *, progress: bool = True, resume: str | Path | None = None,
          callbacks: Sequence[Callable[[Trainer], None]] = (), **overrides: Any) -> Run:
    """Train a GAN and return its :class:`Run`; ``config`` defaults to the ``digits`` preset.

    Keyword overrides are config fields, e.g. ``gankit.train(preset="paper-mnist", steps=2000,
    data_dir="mnist/")``. The run folder is created only once the data have loaded.
    ``resume`` (a run folder or one of its checkpoints) continues that run exactly, in the same
    folder; ``steps`` is then the run's new total. ``callbacks`` are called with the
    :class:`Trainer` after every snapshot (``trainer.state.step``, ``.state.G``, ``.run_dir``).
    """
    if resume is not None:
        if config is not None:
            raise ConfigError("pass either a config or resume=..., not both: a resumed run keeps "
                              "the config stored in its checkpoint")
        return _resume(Path(resume), progress, overrides, callbacks)
    if config is None:
        config = resolve_config(**overrides)
    elif overrides:
        config = resolve_config(**{**config.to_dict(), **overrides})
    config.validate()
    with _session(config) as (info, device):
        dataset = _load_data(config)
        path, error = None, None
        if info.is_main:  # only rank 0 creates and writes the run folder
            try:
                run_dir = create_run_dir(config.runs_dir, config.run_tag)
                _write_text(run_dir / "config.json", config.to_json() + "\n")
                _write_text(run_dir / "environment.json",
                            json.dumps(_environment(info, device), indent=2) + "\n")
                path = str(run_dir)
            except GankitError as e:
                error = e
        path = broadcast_path(path, info)
        if error is not None:
            raise error
        if not path:
            raise GankitError("rank 0 could not create the run folder; see its error message")
        return Trainer(config, dataset, Path(path), progress, callbacks, info, device).run()


@contextlib.contextmanager
def _session(config: Config):
    """Join a torchrun job if there is one; pick threads and the device; leave the job at the end."""
    info = setup(config.device if config.device != "auto" else
                 ("cuda" if torch.cuda.is_available() else "cpu"), config.dist_timeout)
    finished = False
    try:
        if info.active and (config.r1_gamma or config.r2_gamma):
            raise ConfigError("R1/R2 penalties need double backward, which DistributedDataParallel "
                              "does not support; train them in one process")
        if info.active and config.batch % info.world_size:
            raise ConfigError(f"--batch {config.batch} (the global minibatch m) must be divisible "
                              f"by the {info.world_size} ranks")
        if info.active and (config.batch // info.world_size) % config.pack:
            per_rank = config.batch // info.world_size
            raise ConfigError(f"each of the {info.world_size} ranks gets {per_rank} examples, not "
                              f"a multiple of --pack {config.pack}; pick --batch divisible by "
                              f"{info.world_size * config.pack}")
        torch.set_num_threads(choose_threads(config, info.world_size))
        yield info, resolve_device(config.device, info)
        finished = True
    except TrainingDiverged:  # every rank sees it at the same step; rank 0 writes the report
        finished = True       # first, so all wait for it before leaving
        raise
    finally:
        teardown(info, finished)


#: What may change when a run is resumed: how long it runs and its bookkeeping, never the maths.
RESUME_CHANGEABLE = ("steps", "log_every", "snapshot_every", "keep_checkpoints", "data_dir", "threads",
                     "device", "dist_timeout")


def _resume(path: Path, progress: bool, overrides: dict[str, Any],
            callbacks: Sequence[Callable[[Trainer], None]] = ()) -> Run:
    ckpt, tensors, meta = newest_good_checkpoint(path)
    run_dir = run_dir_of(ckpt)
    config = config_from_dict(meta["config"])
    changes = {k: coerce(k, v) for k, v in overrides.items() if v is not None and k != "preset"}
    changes = {k: v for k, v in changes.items() if v != getattr(config, k)}
    fixed = sorted(set(changes) - set(RESUME_CHANGEABLE))
    if fixed:
        raise ConfigError(f"cannot change {', '.join(fixed)} when resuming (only "
                          f"{', '.join(RESUME_CHANGEABLE)}); start a new run to change them")
    config = dataclasses.replace(config, **changes).validate()
    step = int(meta["step"])
    if config.steps < step:
        raise ConfigError(f"the checkpoint is at step {step}, beyond --steps {config.steps}; pass "
                          f"a larger --steps to continue the run")
    with _session(config) as (info, device):
        dataset = _load_data(config)
        if list(dataset.sample_shape) != list(meta["sample_shape"]):
            raise CheckpointError(f"the data in {config.data_dir or config.dataset} have shape "
                                  f"{dataset.sample_shape}, the checkpoint "
                                  f"{tuple(meta['sample_shape'])}")
        trainer = Trainer(config, dataset, run_dir, progress, callbacks, info, device)
        restore_state(trainer.state, tensors, meta)
        if info.is_main:
            _truncate_stats(trainer.stats_path, step)  # lines logged after the checkpoint: redone
            _write_text(run_dir / "config.json", config.to_json() + "\n")
            print(f"gankit: resuming {run_dir} from {ckpt.name} (step {step} of {config.steps})",
                  file=sys.stderr)
        return trainer.run()


def _load_data(config: Config) -> Dataset:
    dataset = load_dataset(config.dataset, config.data_dir, config)
    if config.batch > len(dataset.train):
        raise ConfigError(f"batch {config.batch} is larger than the {config.dataset} training set "
                          f"({len(dataset.train)} examples); pass a smaller --batch")
    return dataset


def _truncate_stats(path: Path, step: int) -> None:
    if not path.is_file():
        return
    from .figures.curves import read_stats

    rows = [r for r in read_stats(path) if r.get("step", 0) <= step]
    _write_text(path, "".join(json.dumps(r) + "\n" for r in rows))


def _environment(info: DistInfo, device: torch.device) -> dict[str, Any]:
    return {"gankit": __version__, "torch": torch.__version__, "python": platform.python_version(),
            "platform": platform.platform(), "threads": torch.get_num_threads(),
            "device": str(device), "world_size": info.world_size,
            "cuda": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
