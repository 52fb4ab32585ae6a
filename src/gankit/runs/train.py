"""``train(config) -> Run``: the engine, given a run folder and the callbacks that fill it.

Over 400 lines on purpose: starting, resuming, branching and restarting a run folder share their
rules (locks, the run folder's callbacks, what a resume redoes), kept in one place.

The run folder's callbacks (sample grids, checkpoints, curves, loggers, the end-of-run diagnosis)
are the only difference between this and any other use of :class:`~gankit.engine.loop.Engine`.
Resume rules live here too: a resumed run continues exactly, in the same folder, unless it
resumes from a checkpoint older than the folder's newest: then it branches into a new run folder
that records its parent (``branch.json``), and the original folder is left as it was. One process
trains in a run folder at a time (:mod:`gankit.runs.lock`).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence, Union

import torch

from gankit.config import Config, coerce, config_from_dict, resolve_config
from gankit.data import Dataset, load_dataset
from gankit.engine.callbacks import Callback, OnSnapshot
from gankit.engine.loggers import LOGGERS
from gankit.engine.distributed import DistInfo, broadcast_path, mean_across_ranks
from gankit.engine.loop import Aborted, Engine, TrainingDiverged
from gankit.engine.session import session
from gankit.engine.state import TrainingState, check_config, logger_names
from gankit.errors import CheckpointError, ConfigError, DataError, GankitError
from gankit.figures import plot_curves, save_samples
from gankit.objectives import Objective
from gankit.runs.checkpoint import (checkpoint_files, prune_checkpoints, restore_state,
                                    save_checkpoint, state_to_checkpoint)
from gankit.runs.diagnosis import diagnose_run, write_report
from gankit.runs.report import write_run_report
from gankit.runs.lock import RunLock
from gankit.runs.run import Run, create_run_dir, newest_good_checkpoint, run_dir_of
from gankit.runs.status import RunStatus
from gankit.utils.atomic import write_text_atomic
from gankit.utils.disk import DISK_ERRNOS, WriteFailed, error_code, write_failure, writing
from gankit.utils.environment import environment
from gankit.utils.jsonl import read_jsonl, to_json

#: A callback: a :class:`Callback`, or a function ``fn(engine)`` called after every snapshot.
CallbackLike = Union[Callback, Callable[[Engine], None]]

# --- the run folder's callbacks ----------------------------------------------------------------------

GRID_CHUNK = 16  # samples drawn through G at a time for a snapshot grid


class SampleGrids(Callback):
    """``samples/reals.png`` once, and G (the weight average if any) on the fixed noise batch at
    step 0 and every snapshot: ``samples/fakes-NNNNNN.png``."""

    def __init__(self, run_dir: Path):
        self.folder = run_dir / "samples"

    def on_start(self, engine: Engine) -> None:
        if engine.state.step == 0:
            save_samples(engine.dataset.head(engine.config.grid_size), self.folder / "reals.png",
                         title="training data")
            self.on_snapshot(engine)

    def on_snapshot(self, engine: Engine) -> None:
        st = engine.state
        G = st.G_sample
        was = G.training
        G.eval()
        try:
            with torch.no_grad():  # a chunk at a time: 100 samples at 128 px through G at once
                # hold ~0.2 GB of activations; in eval mode each sample is G's alone, whatever the chunk
                x = torch.cat([G(z.to(st.device)).cpu() for z in st.fixed_z.split(GRID_CHUNK)])
        finally:
            G.train(was)
        if engine.dataset.is_image:
            save_samples(x, self.folder / f"fakes-{st.step:06d}.png", title=f"step {st.step}")
        else:  # 1-D and 2-D data: D drawn with the samples, as in Figure 1, where D judges each
            # point alone (not packs of points, nor points against their minibatch)
            alone = engine.config.pack == 1 and engine.config.minibatch_features == 0
            save_samples(x, self.folder / f"fakes-{st.step:06d}.png", real=engine.dataset.train,
                         title=f"step {st.step}",
                         D=_d_values(st.D, st.device, engine.objective) if alone else None,
                         critic=engine.objective.is_critic)


def _d_values(D: torch.nn.Module, device: torch.device, objective: Objective):
    """D(x) at numpy points (a critic's score f(x)), D in eval mode (no dropout) and its mode
    restored."""
    to_value = objective.probability or (lambda out: out)

    def values(points):
        was = D.training
        D.eval()
        try:
            with torch.no_grad():
                x = torch.as_tensor(points, dtype=torch.float32, device=device)
                return to_value(D(x)).flatten().cpu().numpy()
        finally:
            D.train(was)

    return values


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
        log_interval = pending_to_meta(engine)  # collective too
        if not engine.is_main:
            return None
        meta["log_interval"] = log_interval  # the statistics since the last logged row
        path = self.folder / f"step-{engine.state.step:06d}.safetensors"
        with writing(path):  # safetensors' SafetensorError included: one line naming the file
            save_checkpoint(path, tensors, meta)
        prune_checkpoints(self.folder, engine.config.keep_checkpoints)
        self.last = path
        return path


class Curves(Callback):
    """``curves.png``: losses and D's outputs with the equilibrium lines, redrawn every snapshot."""

    def __init__(self, run_dir: Path):
        self.stats, self.out = run_dir / "stats.jsonl", run_dir / "curves.png"

    def on_snapshot(self, engine: Engine) -> None:
        if self.stats.is_file() and self.stats.stat().st_size:
            plot_curves(self.stats, self.out, engine.objective)


class DiagnosisReport(Callback):
    """At the end: ``report.md`` and ``diagnosis.png`` (:mod:`gankit.runs.diagnosis`), and the
    verdicts on stderr. A run stopped by Ctrl-C is judged as interrupted, never as diverged."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir

    def on_end(self, engine: Engine) -> None:
        report(self.run_dir, interrupted=engine.interrupted)


def report(run_dir: Path, interrupted: bool | None = None) -> None:
    """Write report.md, report.html and diagnosis.png and print the verdicts on stderr. ``interrupted``: the
    engine's Ctrl-C flag (None: inferred from a log that ends before the planned steps)."""
    try:
        verdicts = diagnose_run(run_dir, interrupted=interrupted)
        write_report(run_dir, verdicts, compute_toy_metrics=False, interrupted=interrupted)
        write_run_report([run_dir])  # report.html: the page to look at
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
    folder; ``steps`` is then the run's new total. A checkpoint older than its folder's newest
    branches into a new run folder (``branch.json`` names the parent), leaving the original as it
    was; a folder stopped before its first checkpoint starts afresh in place. ``callbacks`` are
    :class:`Callback` objects, or functions called with the :class:`Engine` after every snapshot
    (``engine.state.step``, ``engine.state.G_sample``, ``engine.run_dir``).
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
    if config.cuda_graph:
        raise ConfigError("--cuda-graph trains through the group engine: use `gankit train "
                          "--cuda-graph` or gankit.runs.group.train_many([config])")
    with session(config) as (info, device):
        dataset = _load_data(config)
        path, lock = _made_on_rank0(  # only rank 0 creates and writes the run folder
            lambda: _new_run_folder(config, device, info, extra=_data_files(dataset)), info,
            "the run folder")
        with lock:
            return _run(config, dataset, path, progress, callbacks, info, device)


def _made_on_rank0(make: Callable[[], tuple[Path, RunLock]], info: DistInfo,
                   what: str) -> tuple[Path, RunLock]:
    """Rank 0 makes a folder (``make``) and every rank learns its path; rank 0's error stops all."""
    path, error, lock = None, None, RunLock(None)
    if info.is_main:
        try:
            made, lock = make()
            path = str(made)
        except GankitError as e:
            error = e
    path = broadcast_path(path, info)
    if error is not None:
        raise error
    if not path:
        raise GankitError(f"rank 0 could not create {what}; see its error message")
    return Path(path), lock


def _new_run_folder(config: Config, device, info: DistInfo, runs_dir: str | Path | None = None,
                    extra: dict[str, str] | None = None) -> tuple[Path, RunLock]:
    """Create the next numbered run folder (locked at once) with config.json and environment.json
    (and ``extra`` files); a folder whose first files cannot be written is removed again."""
    runs_dir = Path(runs_dir if runs_dir is not None else config.runs_dir)
    try:
        run_dir = create_run_dir(runs_dir, config.run_tag)
    except OSError as e:  # e.g. a read-only file system or a full disk
        failure = write_failure(e, runs_dir)
        raise WriteFailed(f"cannot create a run folder in {runs_dir} ({_error_text(e)}); pass a "
                          f"writable --runs-dir", runs_dir, failure.errno if failure else None) from None
    lock = RunLock(run_dir).acquire()  # before config.json: a folder with one is resumable
    try:
        files = {"config.json": config.to_json() + "\n",
                 "environment.json": json.dumps(environment(device, world_size=info.world_size),
                                                indent=2) + "\n", **(extra or {})}
        for name, text in files.items():
            write_text_atomic(run_dir / name, text)
    except GankitError:
        lock.release()
        shutil.rmtree(run_dir, ignore_errors=True)  # ours, just made: leave nothing half-made
        raise
    return run_dir, lock


def _data_files(dataset: Dataset) -> dict[str, str]:
    """An image folder's full list of used, skipped and duplicate files, kept in the run folder."""
    report = getattr(dataset, "report", None)
    return {"data-files.tsv": report.table()} if report is not None else {}


def _error_text(e: BaseException) -> str:
    return (getattr(e, "strerror", None) or str(e).splitlines()[0]) if str(e) else type(e).__name__


def build_engine(config: Config, dataset: Dataset, run_dir: Path, progress: bool,
                 callbacks: Sequence[CallbackLike] = (), info: DistInfo = DistInfo(),
                 device=torch.device("cpu"), state: TrainingState | None = None
                 ) -> tuple[Engine, "Checkpoints"]:
    """An engine whose callbacks fill ``run_dir`` (loggers, status, sample grids, checkpoints,
    curves, the caller's callbacks, the end-of-run report), and its checkpoint callback."""
    if info.is_main:
        with writing(run_dir / "checkpoints"):
            (run_dir / "checkpoints").mkdir(exist_ok=True)
            for stale in (run_dir / "checkpoints").glob(".*.tmp-*"):  # left by a killed write
                stale.unlink(missing_ok=True)
        with writing(run_dir / "samples"):
            (run_dir / "samples").mkdir(exist_ok=True)
    checkpoints = Checkpoints(run_dir)
    loggers = [LOGGERS.get(name)(run_dir, config, progress) for name in logger_names(config)]
    own: list[Callback] = [*loggers, RunStatus(run_dir), SampleGrids(run_dir), checkpoints,
                          Curves(run_dir)]
    extra = [cb if isinstance(cb, Callback) else OnSnapshot(cb) for cb in callbacks]
    engine = Engine(config, dataset, [*own, *extra, DiagnosisReport(run_dir)], info, device, state)
    engine.run_dir = run_dir
    return engine, checkpoints


def _run(config: Config, dataset: Dataset, run_dir: Path, progress: bool,
         callbacks: Sequence[CallbackLike], info: DistInfo, device, restore=None) -> Run:
    """Build the engine with the run folder's callbacks (then the caller's), run it, return a Run."""
    engine, checkpoints = build_engine(config, dataset, run_dir, progress, callbacks, info, device)
    if restore is not None:
        restore(engine)
    if info.is_main and progress:
        print(watch_hint(run_dir, config), file=sys.stderr)

    def kept() -> str:
        ckpts = checkpoint_files(run_dir / "checkpoints")
        return f"the last good checkpoint is {ckpts[0]}" if ckpts else "no checkpoint was written yet"

    try:
        engine.run()
    except TrainingDiverged as e:
        if info.is_main:
            report(run_dir)  # the "diverged" verdict, with its evidence, in report.md
        raise TrainingDiverged(f"{e}; {kept()}; try lower learning rates (--lr-d/--lr-g) or the "
                               f"non-saturating loss", e.bad, e.step) from None
    except KeyboardInterrupt:  # a second Ctrl-C: stop now; every write is atomic, none is half-done
        raise Aborted(f"aborted by a second Ctrl-C at step {engine.state.step}, without saving; "
                      f"{kept()}; continue with `gankit train --resume {run_dir}`",
                      engine.state.step) from None
    except GankitError as e:
        # a WriteFailed, or a GankitError raised over an OSError (write_text_atomic's)
        code = e.errno if isinstance(e, WriteFailed) else error_code(e.__context__)
        if not isinstance(e, WriteFailed) and code not in DISK_ERRNOS:
            raise
        raise WriteFailed(_after_write_failure(e, run_dir, kept()), getattr(e, "path", None),
                          code) from None
    except Exception as e:  # noqa: BLE001: an I/O failure in a callback (the caller's too)
        failure = write_failure(e) if error_code(e) in DISK_ERRNOS else None
        if failure is None:
            raise
        raise WriteFailed(_after_write_failure(failure, run_dir, kept()), failure.path,
                          failure.errno) from None
    st = engine.state
    run = Run(run_dir, config, st.G_sample, st.step, checkpoint=checkpoints.last,
              interrupted=engine.interrupted)
    run.is_main = info.is_main
    return run


def _after_write_failure(e: WriteFailed, run_dir: Path, kept: str) -> str:
    return (f"{e}; checkpoints written before are untouched ({kept}); once fixed, continue with "
            f"`gankit train --resume {run_dir}`")


def watch_hint(run_dir: Path, config: Config) -> str:
    """How to watch the run while it trains (printed once at its start)."""
    hint = (f"gankit: watch it with `gankit report {run_dir}` (writes {run_dir / 'report.html'}; "
            f"run it again for the latest)")
    if "tensorboard" in logger_names(config):
        hint += f" or `tensorboard --logdir {run_dir.parent}`"
    return hint


#: What may change when a run is resumed: how long it runs and its bookkeeping, never the maths.
RESUME_CHANGEABLE = ("steps", "log_every", "snapshot_every", "keep_checkpoints", "data_dir", "threads",
                     "device", "dist_timeout", "loggers")


def _resumed_config(config: Config, overrides: dict[str, Any]) -> Config:
    changes = {k: coerce(k, v) for k, v in overrides.items() if v is not None and k != "preset"}
    changes = {k: v for k, v in changes.items() if v != getattr(config, k)}
    fixed = sorted(set(changes) - set(RESUME_CHANGEABLE))
    if fixed:
        raise ConfigError(f"cannot change {', '.join(fixed)} when resuming (only "
                          f"{', '.join(RESUME_CHANGEABLE)}); start a new run to change them")
    return check_config(dataclasses.replace(config, **changes).validate())


def _step_of(checkpoint: Path) -> int:
    return int(checkpoint.stem.split("-")[1])


def _resume(path: Path, progress: bool, overrides: dict[str, Any],
            callbacks: Sequence[CallbackLike] = ()) -> Run:
    if path.is_dir() and not checkpoint_files(path / "checkpoints") and (path / "config.json").is_file():
        return _restart_in_place(path, progress, overrides, callbacks)
    ckpt, tensors, meta = newest_good_checkpoint(path)
    run_dir = run_dir_of(ckpt)
    config = _resumed_config(config_from_dict(meta["config"]), overrides)
    step = int(meta["step"])
    if config.steps < step:
        raise ConfigError(f"the checkpoint is at step {step}, beyond --steps {config.steps}; pass "
                          f"a larger --steps to continue the run")
    # An older checkpoint than the folder's newest, named explicitly: its future in this folder
    # is another history, which stays as it was. The new history goes into a new run folder.
    newest = max((_step_of(p) for p in checkpoint_files(run_dir / "checkpoints")), default=step)
    branch = path.is_file() and newest > step
    # The row logged off the log grid at this step (a Ctrl-C, or the old last step) is replaced by
    # the one an uninterrupted run logs; the checkpoint carries the statistics it summed.
    old_log_every = int(meta["config"].get("log_every", config.log_every))
    drop_row = (config.steps > step and step % old_log_every != 0
                and isinstance(meta.get("log_interval"), dict))
    with session(config) as (info, device):
        lock = RunLock(run_dir if info.is_main and not branch else None).acquire()
        with lock:
            dataset = _load_data(config)
            _check_data_fits(dataset, config, tensors, meta)
            target, lock_new = str(run_dir), RunLock(None)
            if branch:
                target_dir, lock_new = _made_on_rank0(
                    lambda: _branch(run_dir, ckpt, step, config, device, info, drop_row), info,
                    "the branch's run folder")
                target = str(target_dir)
                if info.is_main:
                    print(f"gankit: {ckpt.name} (step {step}) is older than the newest checkpoint "
                          f"of {run_dir} (step {newest}): branching into {target} (its parent is "
                          f"recorded in branch.json); {run_dir} is left as it was", file=sys.stderr)
            out = Path(target)

            restore = restorer(out, ckpt, tensors, meta, config, drop_row, branch, info)

            with lock_new:
                return _run(config, dataset, out, progress, callbacks, info, device, restore)


def restorer(out: Path, ckpt: Path, tensors: dict, meta: dict, config: Config, drop_row: bool,
             branch: bool, info: DistInfo) -> Callable[[Engine], None]:
    """What resuming does to a freshly built engine: the checkpoint's state and pending log
    interval put back; in the original folder, the rows logged after the checkpoint removed (they
    are redone) and config.json rewritten (e.g. a new --steps)."""
    step = int(meta["step"])

    def restore(engine: Engine) -> None:
        restore_state(engine.state, tensors, meta)
        pending_from_meta(engine, meta.get("log_interval"))
        if info.is_main and not branch:  # rows after the checkpoint: redone
            _write_stats(out / "stats.jsonl", _stats_until(out / "stats.jsonl", step, drop_row))
            metrics = read_jsonl(out / "metrics.jsonl")
            redone = [r for r in metrics if _step_after(r, step)]
            if redone:
                _write_stats(out / "metrics.jsonl",
                             [r for r in metrics if not _step_after(r, step)])
            write_text_atomic(out / "config.json", config.to_json() + "\n")
        if info.is_main:
            print(f"gankit: resuming {out} from {ckpt.name} (step {step} of {config.steps})",
                  file=sys.stderr)

    return restore


def _check_data_fits(dataset: Dataset, config: Config, tensors: dict, meta: dict) -> None:
    """The resumed data must be the checkpoint's: its shape, and as many examples as its order."""
    where = config.data_dir or config.dataset
    if list(dataset.sample_shape) != list(meta["sample_shape"]):
        raise CheckpointError(f"the data in {where} have shape {dataset.sample_shape}, the "
                              f"checkpoint {tuple(meta['sample_shape'])}")
    order = tensors.get("data.order")
    if order is not None and order.dim() == 1 and len(order) != len(dataset.train):
        raise DataError(f"the data in {where} have {len(dataset.train)} training examples, but the "
                        f"run was trained on {len(order)}: resume with the same data (--data-dir), "
                        f"or start a new run to train on these")


def _branch(parent: Path, ckpt: Path, step: int, config: Config, device, info: DistInfo,
            drop_row: bool) -> tuple[Path, RunLock]:
    """A new run folder beside ``parent`` continuing its history up to ``step``: the statistics,
    metrics and sample grids up to that step, the checkpoint resumed from, and ``branch.json``."""
    record = {"parent_run": str(parent.resolve()), "parent_checkpoint": str(ckpt.resolve()),
              "parent_step": step, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    run_dir, lock = _new_run_folder(config, device, info, runs_dir=parent.parent,
                                    extra={"branch.json": json.dumps(record, indent=2) + "\n"})
    try:
        _write_stats(run_dir / "stats.jsonl", _stats_until(parent / "stats.jsonl", step, drop_row))
        metrics = [r for r in read_jsonl(parent / "metrics.jsonl")
                   if isinstance(r.get("step"), (int, float)) and r["step"] <= step]
        if metrics:
            _write_stats(run_dir / "metrics.jsonl", metrics)
        with writing(run_dir / "samples"):
            (run_dir / "samples").mkdir(exist_ok=True)
            (run_dir / "checkpoints").mkdir(exist_ok=True)
            for png in sorted((parent / "samples").glob("*.png")):
                grid_step = png.stem.rpartition("-")[2]
                if png.name == "reals.png" or (png.stem.startswith("fakes-") and grid_step.isdigit()
                                               and int(grid_step) <= step):
                    shutil.copyfile(png, run_dir / "samples" / png.name)
        with writing(run_dir / "checkpoints" / ckpt.name):
            shutil.copyfile(ckpt, run_dir / "checkpoints" / ckpt.name)
    except GankitError:
        lock.release()
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    return run_dir, lock


def _restart_in_place(run_dir: Path, progress: bool, overrides: dict[str, Any],
                      callbacks: Sequence[CallbackLike]) -> Run:
    """A run folder stopped before its first checkpoint: train it afresh, in place, from its
    config.json (a fresh start from the same config is the same run)."""
    try:
        config = config_from_dict(json.loads((run_dir / "config.json").read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, AttributeError) as e:
        raise CheckpointError(f"{run_dir} holds no checkpoints and its config.json is unreadable "
                              f"({_error_text(e)}); start a new run") from None
    config = _resumed_config(config, overrides)
    with session(config) as (info, device):
        with RunLock(run_dir if info.is_main else None):
            dataset = _load_data(config)
            if info.is_main:
                print(f"gankit: {run_dir} stopped before its first checkpoint; starting it afresh in "
                      f"place from its config.json", file=sys.stderr)
                _write_stats(run_dir / "stats.jsonl", [])
                write_text_atomic(run_dir / "config.json", config.to_json() + "\n")
            return _run(config, dataset, run_dir, progress, callbacks, info, device)


def _load_data(config: Config) -> Dataset:
    dataset = load_dataset(config.dataset, config.data_dir, config)
    if config.batch > len(dataset.train):
        raise ConfigError(f"batch {config.batch} is larger than the {config.dataset} training set "
                          f"({len(dataset.train)} examples); pass a smaller --batch")
    return dataset


def _stats_until(path: Path, step: int, drop_row_at_step: bool = False) -> list[dict]:
    """The rows of ``path`` up to ``step`` (without the one at ``step`` if asked)."""
    return [r for r in read_jsonl(path) if isinstance(r.get("step", 0), (int, float))
            and (r.get("step", 0) < step or (r.get("step", 0) == step and not drop_row_at_step))]


def _step_after(row: dict, step: int) -> bool:
    return isinstance(row.get("step"), (int, float)) and row["step"] > step


def _write_stats(path: Path, rows: Sequence[dict]) -> None:
    if rows or path.exists():
        write_text_atomic(path, "".join(to_json(r) + "\n" for r in rows))


# --- the statistics of the current log interval, in a checkpoint ----------------------------------

_SUM_DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16,
               "float16": torch.float16}


def pending_to_meta(engine: Engine) -> dict[str, Any]:
    """The engine's sums since the last logged row on the grid, as JSON (exact for float32 and
    float64). Collective in a distributed run (the means over the ranks)."""
    sums = mean_across_ranks(engine.pending, engine.dist)
    return {"steps": engine.pending_n, "sums": {k: float(v) for k, v in sums.items()},
            "dtypes": {k: str(v.dtype).removeprefix("torch.") for k, v in sums.items()}}


def pending_from_meta(engine: Engine, record: Any) -> None:
    """Put :func:`pending_to_meta`'s record back (a checkpoint without one: nothing pending)."""
    if not isinstance(record, dict) or not isinstance(record.get("sums"), dict):
        return
    dtypes = record.get("dtypes") if isinstance(record.get("dtypes"), dict) else {}
    try:
        engine.pending = {
            k: torch.tensor(float(v), dtype=_SUM_DTYPES[str(dtypes.get(k, "float32"))],
                            device=engine.state.device)
            for k, v in record["sums"].items()}
        engine.pending_n = int(record.get("steps", 0))
    except (TypeError, ValueError, AttributeError, KeyError):  # not ours to trust: log sums only, start afresh
        engine.pending, engine.pending_n = {}, 0
    if not engine.pending_n:
        engine.pending = {}
