"""``train(config) -> Run``: the engine, given a run folder and the callbacks that fill it.

The run folder's callbacks (sample grids, checkpoints, curves, loggers, the end-of-run diagnosis)
are the only difference between this and any other use of :class:`~gankit.engine.loop.Engine`.
Resume rules live here too: a resumed run continues exactly, in the same folder.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any, Callable, Sequence, Union

import torch

from gankit.config import Config, coerce, config_from_dict, resolve_config
from gankit.data import Dataset, load_dataset
from gankit.engine.callbacks import Callback, OnSnapshot
from gankit.engine.loggers import LOGGERS
from gankit.engine.distributed import DistInfo, broadcast_path
from gankit.engine.loop import Engine, TrainingDiverged
from gankit.engine.session import session
from gankit.engine.state import check_config, logger_names
from gankit.errors import CheckpointError, ConfigError, GankitError
from gankit.figures import plot_curves, save_samples
from gankit.runs.checkpoint import prune_checkpoints, restore_state, save_checkpoint, state_to_checkpoint
from gankit.runs.diagnosis import diagnose_run, write_report
from gankit.runs.run import Run, create_run_dir, newest_good_checkpoint, run_dir_of
from gankit.utils.atomic import write_text_atomic
from gankit.utils.environment import environment
from gankit.utils.jsonl import read_jsonl

#: A callback: a :class:`Callback`, or a function ``fn(engine)`` called after every snapshot.
CallbackLike = Union[Callback, Callable[[Engine], None]]

# --- the run folder's callbacks ----------------------------------------------------------------------

class SampleGrids(Callback):
    """``samples/reals.png`` once, and G (the weight average if any) on the fixed noise batch at
    step 0 and every snapshot: ``samples/fakes-NNNNNN.png``."""

    def __init__(self, run_dir: Path):
        self.folder = run_dir / "samples"

    def on_start(self, engine: Engine) -> None:
        if engine.state.step == 0:
            save_samples(engine.dataset.train[:engine.config.grid_size], self.folder / "reals.png",
                         title="training data")
            self.on_snapshot(engine)

    def on_snapshot(self, engine: Engine) -> None:
        st = engine.state
        G = st.G_sample
        was = G.training
        G.eval()
        try:
            with torch.no_grad():
                x = G(st.fixed_z.to(st.device)).cpu()
        finally:
            G.train(was)
        real = engine.dataset.train if not engine.dataset.is_image else None
        save_samples(x, self.folder / f"fakes-{st.step:06d}.png", real=real, title=f"step {st.step}")


class Checkpoints(Callback):
    """``checkpoints/step-NNNNNN.safetensors`` at step 0, every snapshot and at the end; the last
    ``keep_checkpoints`` are kept. Capturing the state is collective in a distributed run (every
    rank's RNG), so this runs on all ranks; only rank 0 writes."""

    all_ranks = True

    def __init__(self, run_dir: Path):
        self.folder = run_dir / "checkpoints"
        self.last: Path | None = None

    def on_start(self, engine: Engine) -> None:
        if engine.state.step == 0:  # a good state to return to even if step 1 diverges
            self.save(engine)

    def on_snapshot(self, engine: Engine) -> None:
        self.save(engine)

    def on_end(self, engine: Engine) -> None:
        if not engine.saved_last:  # e.g. resumed at the end: no step ran, but a checkpoint is due
            self.save(engine)

    def save(self, engine: Engine) -> Path | None:
        tensors, meta = state_to_checkpoint(engine.state, engine.config, engine.dataset)  # collective
        if not engine.is_main:
            return None
        path = self.folder / f"step-{engine.state.step:06d}.safetensors"
        try:
            save_checkpoint(path, tensors, meta)
        except OSError as e:
            raise GankitError(f"cannot write checkpoint {path} ({e.strerror or e}); free disk "
                              f"space or fix permissions; earlier checkpoints are untouched") from None
        prune_checkpoints(self.folder, engine.config.keep_checkpoints)
        self.last = path
        return path


class Curves(Callback):
    """``curves.png``: losses and D's outputs with the equilibrium lines, redrawn every snapshot."""

    def __init__(self, run_dir: Path):
        self.stats, self.out = run_dir / "stats.jsonl", run_dir / "curves.png"

    def on_snapshot(self, engine: Engine) -> None:
        if self.stats.is_file() and self.stats.stat().st_size:
            plot_curves(self.stats, self.out, engine.config.g_loss)


class DiagnosisReport(Callback):
    """At the end: ``report.md`` and ``diagnosis.png`` (:mod:`gankit.runs.diagnosis`), and the
    verdicts on stderr. A run stopped by Ctrl-C is judged as interrupted, never as diverged."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir

    def on_end(self, engine: Engine) -> None:
        report(self.run_dir, interrupted=engine.interrupted)


def report(run_dir: Path, interrupted: bool | None = None) -> None:
    """Write report.md and diagnosis.png and print the verdicts on stderr. ``interrupted``: the
    engine's Ctrl-C flag (None: inferred from a log that ends before the planned steps)."""
    try:
        verdicts = diagnose_run(run_dir, interrupted=interrupted)
        write_report(run_dir, verdicts, compute_toy_metrics=False, interrupted=interrupted)
    except GankitError as e:  # e.g. too few logged rows to judge: say so, keep the run
        print(f"gankit: no diagnosis: {e}", file=sys.stderr)
        return
    for v in verdicts:
        print(f"gankit: {v}", file=sys.stderr)


# --- training -----------------------------------------------------------------------------------------

def train(config: Config | None = None, *, progress: bool = True, resume: str | Path | None = None,
          callbacks: Sequence[CallbackLike] = (), **overrides: Any) -> Run:
    """Train a GAN and return its :class:`Run`; ``config`` defaults to the ``digits`` preset.

    Keyword overrides are config fields, e.g. ``gankit.train(preset="paper-mnist", steps=2000,
    data_dir="mnist/")``. The run folder is created only once the data have loaded.
    ``resume`` (a run folder or one of its checkpoints) continues that run exactly, in the same
    folder; ``steps`` is then the run's new total. ``callbacks`` are :class:`Callback` objects, or
    functions called with the :class:`Engine` after every snapshot (``engine.state.step``,
    ``engine.state.G_sample``, ``engine.run_dir``).
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
    check_config(config.validate())
    with session(config) as (info, device):
        dataset = _load_data(config)
        path, error = None, None
        if info.is_main:  # only rank 0 creates and writes the run folder
            try:
                run_dir = create_run_dir(config.runs_dir, config.run_tag)
                write_text_atomic(run_dir / "config.json", config.to_json() + "\n")
                write_text_atomic(run_dir / "environment.json", json.dumps(
                    environment(device, world_size=info.world_size), indent=2) + "\n")
                path = str(run_dir)
            except GankitError as e:
                error = e
        path = broadcast_path(path, info)
        if error is not None:
            raise error
        if not path:
            raise GankitError("rank 0 could not create the run folder; see its error message")
        return _run(config, dataset, Path(path), progress, callbacks, info, device)


def _run(config: Config, dataset: Dataset, run_dir: Path, progress: bool,
         callbacks: Sequence[CallbackLike], info: DistInfo, device, restore=None) -> Run:
    """Build the engine with the run folder's callbacks (then the caller's), run it, return a Run."""
    if info.is_main:
        (run_dir / "checkpoints").mkdir(exist_ok=True)
        for stale in (run_dir / "checkpoints").glob(".*.tmp-*"):  # left by a killed write
            stale.unlink(missing_ok=True)
        (run_dir / "samples").mkdir(exist_ok=True)
    checkpoints = Checkpoints(run_dir)
    loggers = [LOGGERS.get(name)(run_dir, config, progress) for name in logger_names(config)]
    own: list[Callback] = [*loggers, SampleGrids(run_dir), checkpoints, Curves(run_dir)]
    extra = [cb if isinstance(cb, Callback) else OnSnapshot(cb) for cb in callbacks]
    engine = Engine(config, dataset, [*own, *extra, DiagnosisReport(run_dir)], info, device)
    engine.run_dir = run_dir
    if restore is not None:
        restore(engine)
    try:
        engine.run()
    except TrainingDiverged as e:
        if info.is_main:
            report(run_dir)  # the "diverged" verdict, with its evidence, in report.md
        ckpts = sorted((run_dir / "checkpoints").glob("step-*.safetensors"))
        kept = f"the last good checkpoint is {ckpts[-1]}" if ckpts else "no checkpoint was written yet"
        raise TrainingDiverged(f"{e}; {kept}; try lower learning rates (--lr-d/--lr-g) or the "
                               f"non-saturating loss", e.bad, e.step) from None
    st = engine.state
    run = Run(run_dir, config, st.G_sample, st.step, checkpoint=checkpoints.last,
              interrupted=engine.interrupted)
    run.is_main = info.is_main
    return run


#: What may change when a run is resumed: how long it runs and its bookkeeping, never the maths.
RESUME_CHANGEABLE = ("steps", "log_every", "snapshot_every", "keep_checkpoints", "data_dir", "threads",
                     "device", "dist_timeout", "loggers")


def _resume(path: Path, progress: bool, overrides: dict[str, Any],
            callbacks: Sequence[CallbackLike] = ()) -> Run:
    ckpt, tensors, meta = newest_good_checkpoint(path)
    run_dir = run_dir_of(ckpt)
    config = config_from_dict(meta["config"])
    changes = {k: coerce(k, v) for k, v in overrides.items() if v is not None and k != "preset"}
    changes = {k: v for k, v in changes.items() if v != getattr(config, k)}
    fixed = sorted(set(changes) - set(RESUME_CHANGEABLE))
    if fixed:
        raise ConfigError(f"cannot change {', '.join(fixed)} when resuming (only "
                          f"{', '.join(RESUME_CHANGEABLE)}); start a new run to change them")
    config = check_config(dataclasses.replace(config, **changes).validate())
    step = int(meta["step"])
    if config.steps < step:
        raise ConfigError(f"the checkpoint is at step {step}, beyond --steps {config.steps}; pass "
                          f"a larger --steps to continue the run")
    with session(config) as (info, device):
        dataset = _load_data(config)
        if list(dataset.sample_shape) != list(meta["sample_shape"]):
            raise CheckpointError(f"the data in {config.data_dir or config.dataset} have shape "
                                  f"{dataset.sample_shape}, the checkpoint "
                                  f"{tuple(meta['sample_shape'])}")

        def restore(engine: Engine) -> None:
            restore_state(engine.state, tensors, meta)
            if info.is_main:
                _truncate_stats(run_dir / "stats.jsonl", step)  # rows after the checkpoint: redone
                write_text_atomic(run_dir / "config.json", config.to_json() + "\n")
                print(f"gankit: resuming {run_dir} from {ckpt.name} (step {step} of {config.steps})",
                      file=sys.stderr)

        return _run(config, dataset, run_dir, progress, callbacks, info, device, restore)


def _load_data(config: Config) -> Dataset:
    dataset = load_dataset(config.dataset, config.data_dir, config)
    if config.batch > len(dataset.train):
        raise ConfigError(f"batch {config.batch} is larger than the {config.dataset} training set "
                          f"({len(dataset.train)} examples); pass a smaller --batch")
    return dataset


def _truncate_stats(path: Path, step: int) -> None:
    if not path.is_file():
        return
    rows = [r for r in read_jsonl(path) if r.get("step", 0) <= step]
    write_text_atomic(path, "".join(json.dumps(r) + "\n" for r in rows))
