"""``train_many(configs) -> [Run]``: many GANs in one process, each in its own run folder.

``gankit train --seeds 0-7`` and ``--sweep lr_d=0.1,0.05`` make the member configs (:func:`members`);
each member gets a numbered run folder in today's format (config.json with its own seed and values,
stats.jsonl, sample grids, checkpoints, report), so ``sample``, ``eval``, ``export``, ``diagnose``,
``report`` and a lone ``--resume`` work on it unchanged; ``group.json`` in each lists the group's
folders, and ``gankit train --resume DIR DIR ...`` resumes the group exactly. The members train as
one stacked model (:mod:`gankit.engine.members`).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Sequence

import torch

from gankit.config import Config, coerce, config_from_dict
from gankit.engine.callbacks import Callback
from gankit.engine.loop import Aborted, Engine
from gankit.engine.members import Group, build_member_states, member_globals
from gankit.engine.session import session
from gankit.engine.state import check_config
from gankit.errors import ConfigError
from gankit.objectives import objective_for
from gankit.runs.lock import RunLock
from gankit.runs.run import Run, newest_good_checkpoint, run_dir_of
from gankit.runs.train import (CallbackLike, _check_data_fits, _data_files, _load_data,
                               _new_run_folder, _resumed_config, build_engine, restorer)
from gankit.utils.atomic import write_text_atomic

#: Scalar hyperparameters that may differ between members (everything else is one architecture and
#: one data set); ``lr`` sets both players' learning rates.
SWEEPABLE = ("lr", "lr_g", "lr_d", "momentum", "momentum_final", "adam_beta1", "adam_beta2",
             "label_smoothing", "r1_gamma", "r2_gamma", "instance_noise", "g_ema")
#: What members may differ in, besides the swept values: their seeds.
PER_MEMBER = ("seed", *SWEEPABLE)
MAX_MEMBERS = 1024


def parse_seeds(text: str) -> list[int]:
    """``"0-7"`` -> 0..7; ``"0,3,5"``; ``"0-3,10"``."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            lo, _, hi = part.strip().partition("-")
            seeds += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
    except ValueError:
        raise ConfigError(f"--seeds {text!r}: give seeds as 0-7 or 0,3,5") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ConfigError(f"--seeds {text!r}: give distinct seeds >= 0, e.g. 0-7")
    return seeds


def parse_sweep(items: Sequence[str]) -> dict[str, list[Any]]:
    """``["lr_d=0.1,0.05", "momentum=0.5,0.7"]`` -> {"lr_d": [0.1, 0.05], ...}."""
    sweep: dict[str, list[Any]] = {}
    for item in items:
        key, eq, values = item.partition("=")
        key = key.strip().replace("-", "_")
        if not eq or not values.strip():
            raise ConfigError(f"--sweep {item!r}: write KEY=v1,v2 (e.g. lr_d=0.1,0.05)")
        if key not in SWEEPABLE:
            raise ConfigError(f"--sweep {key}: members share one architecture and data set; "
                              f"sweep one of {', '.join(SWEEPABLE)}")
        field_name = "lr_d" if key == "lr" else key
        sweep[key] = [coerce(field_name, v.strip()) for v in values.split(",")]
    return sweep


def members(config: Config, seeds: Sequence[int] | None = None,
            sweep: dict[str, list[Any]] | None = None) -> list[Config]:
    """One config per member: every combination of the swept values, for each seed."""
    seeds = list(seeds) if seeds else [config.seed]
    sweep = sweep or {}
    combos = list(itertools.product(*sweep.values())) or [()]
    if len(combos) * len(seeds) > MAX_MEMBERS:
        raise ConfigError(f"{len(combos) * len(seeds)} members; at most {MAX_MEMBERS} train at once")
    out = []
    for values in combos:
        changes = dict(zip(sweep, values))
        if "lr" in changes:
            lr = changes.pop("lr")
            changes.setdefault("lr_g", lr)
            changes.setdefault("lr_d", lr)
        for seed in seeds:
            out.append(check_config(dataclasses.replace(config, seed=seed, **changes).validate()))
    return out


def check_group(configs: Sequence[Config]) -> None:
    """Members must be one architecture on one data set, in a form the stacked step has."""
    first = configs[0].to_dict()
    for config in configs[1:]:
        other = config.to_dict()
        differ = sorted(k for k in first if k not in PER_MEMBER and first[k] != other.get(k))
        if differ:
            raise ConfigError(f"the members differ in {', '.join(differ)}: members of a group may "
                              f"differ only in {', '.join(PER_MEMBER)}")
    c = configs[0]
    unsupported = [what for what, on in (
        ("--d-spectral-norm", c.d_spectral_norm), ("--minibatch-features", c.minibatch_features),
        ("--objective wgan-gp", objective_for(c.objective, c.g_loss).gradient_penalty)) if on]
    if unsupported:
        raise ConfigError(f"{', '.join(unsupported)} cannot train as a group yet; train these "
                          f"seeds one run at a time")
    if c.cuda_graph:
        if c.device == "cpu" or not torch.cuda.is_available():
            raise ConfigError("--cuda-graph needs a CUDA GPU (none is available here); drop "
                              "--cuda-graph")
        if any(cfg.instance_noise > 0 for cfg in configs):
            raise ConfigError("--cuda-graph cannot hold instance noise (its std changes every "
                              "step); drop --instance-noise or --cuda-graph")


class GroupProgress(Callback):
    """One line per logged row of the first member: the step, members running, steps/s."""

    def __init__(self, group_size: int):
        self.size, self.group = group_size, None
        self.t0 = time.perf_counter()

    def on_log(self, engine: Engine, row: dict[str, float]) -> None:
        running = len(self.group.active) if self.group is not None else self.size
        rate = engine.state.step / max(time.perf_counter() - self.t0, 1e-9)
        print(f"gankit: step {engine.state.step}/{engine.config.steps}, {running}/{self.size} "
              f"members training, {rate:.1f} steps/s ({rate * self.size:.0f} member-steps/s)",
              file=sys.stderr)


def train_many(configs: Sequence[Config], *, progress: bool = True,
               callbacks: Sequence[CallbackLike] = ()) -> list[Run]:
    """Train the member configs as one group; a Run per member, in order."""
    configs = [check_config(c.validate()) for c in configs]
    check_group(configs)
    with session(configs[0]) as (info, device):
        if info.active:
            raise ConfigError("a group trains in one process: run --seeds/--sweep without torchrun")
        dataset = _load_data(configs[0])
        with ExitStack() as locks:
            folders = []
            for config in configs:
                path, lock = _new_run_folder(config, device, info, extra=_data_files(dataset))
                locks.enter_context(lock)
                folders.append(path)
            _write_group(folders)
            states, streams = build_member_states(configs, dataset, device)
            return _train_group(configs, dataset, folders, states, streams, progress, callbacks,
                                info, device)


def resume_many(paths: Sequence[str | Path], *, progress: bool = True,
                overrides: dict[str, Any] | None = None,
                callbacks: Sequence[CallbackLike] = ()) -> list[Run]:
    """Resume a group from each member folder's newest good checkpoint, exactly."""
    found = [newest_good_checkpoint(Path(p)) for p in paths]
    configs = [_resumed_config(config_from_dict(meta["config"]), overrides or {})
               for _, _, meta in found]
    check_group(configs)
    with session(configs[0]) as (info, device):
        dataset = _load_data(configs[0])
        folders = [run_dir_of(ckpt) for ckpt, _, _ in found]
        with ExitStack() as locks:
            for folder in folders:
                locks.enter_context(RunLock(folder).acquire())
            for (ckpt, tensors, meta), config in zip(found, configs):
                _check_data_fits(dataset, config, tensors, meta)
            states, streams = build_member_states(configs, dataset, device)
            restores = []
            for folder, (ckpt, tensors, meta), config in zip(folders, found, configs):
                step = int(meta["step"])
                old_log_every = int(meta["config"].get("log_every", config.log_every))
                drop_row = (config.steps > step and step % old_log_every != 0
                            and isinstance(meta.get("log_interval"), dict))
                restores.append(restorer(folder, ckpt, tensors, meta, config, drop_row, False, info))
            return _train_group(configs, dataset, folders, states, streams, progress, callbacks,
                                info, device, restores)


def _write_group(folders: Sequence[Path]) -> None:
    text = json.dumps({"members": [str(f) for f in folders]}, indent=2) + "\n"
    for i, folder in enumerate(folders):
        write_text_atomic(folder / "group.json", text.replace("{", f'{{\n  "member": {i},', 1))


def _train_group(configs, dataset, folders, states, streams, progress, callbacks, info, device,
                 restores=None) -> list[Run]:
    pace = GroupProgress(len(configs))
    engines, checkpoints = [], []
    for i, (config, folder, state) in enumerate(zip(configs, folders, states)):
        extra = [*callbacks, pace] if progress and i == 0 else list(callbacks)
        engine, ckpts = build_engine(config, dataset, folder, False, extra, info, device, state)
        engines.append(engine)
        checkpoints.append(ckpts)
    group = Group(engines, streams)  # stacks the networks, rebuilds the optimisers
    pace.group = group
    for i, restore in enumerate(restores or []):
        with member_globals(streams[i]):  # the checkpoint's random state becomes member i's
            restore(engines[i])
    if progress:
        print(f"gankit: training {len(engines)} members as one group: {folders[0]} ... "
              f"{folders[-1]}", file=sys.stderr)
    try:
        group.run()
    except KeyboardInterrupt:
        raise Aborted(f"aborted by a second Ctrl-C at step {engines[0].state.step}, without "
                      f"saving; continue with `gankit train --resume {' '.join(map(str, folders))}`",
                      engines[0].state.step) from None
    runs = []
    for engine, ckpts, outcome in zip(engines, checkpoints, group.outcomes):
        st = engine.state
        run = Run(engine.run_dir, engine.config, st.G_sample, st.step, checkpoint=ckpts.last,
                  interrupted=engine.interrupted)
        run.error = outcome.error
        runs.append(run)
    return runs
