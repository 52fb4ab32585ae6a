"""Everything that changes during training, built fresh from a config (and a dataset).

A checkpoint is this state as data (:mod:`gankit.runs.checkpoint` captures and restores it), so a
resumed run continues exactly where it stopped.
"""

from __future__ import annotations

import copy
import os
import random
from dataclasses import dataclass, field

import numpy as np
import torch

from gankit.config import Config
from gankit.data import DATASETS, Dataset, MinibatchStream
from gankit.engine.loggers import DEFAULT_LOGGERS, LOGGERS
from gankit.engine.distributed import DistInfo
from gankit.errors import ConfigError
from gankit.nets import NETWORKS, build_networks, conv_plan, sample_noise
from gankit.objectives import OBJECTIVES
from gankit.optim import build_optimizers
from gankit.utils.registry import unknown_name_message


@dataclass
class TrainingState:
    """Networks, optimisers, data order, random streams and counters of one run."""

    G: torch.nn.Module
    D: torch.nn.Module
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
    G_ema: torch.nn.Module | None = None  # the moving average of G's weights (config.g_ema > 0)

    @property
    def G_sample(self) -> torch.nn.Module:
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


def check_config(config: Config) -> Config:
    """The checks a :class:`Config` cannot make itself: the names it gives to registries above it
    (dataset, network family, objective) and what the networks need of the data's size. One
    :class:`ConfigError` line naming the problem; the config itself if fine."""
    if config.dataset not in DATASETS:
        raise ConfigError(unknown_name_message("dataset", config.dataset, DATASETS))
    NETWORKS.get(config.arch)
    OBJECTIVES.get(config.g_loss)
    for name in logger_names(config):
        getattr(LOGGERS.get(name), "requires", lambda: None)()  # e.g. an optional package
    if config.arch == "conv" and config.dataset == "folder":
        try:
            conv_plan(config.image_size)
        except ValueError as e:
            raise ConfigError(f"{e}; pass e.g. --image-size 64") from None
    return config


def logger_names(config: Config) -> list[str]:
    """The loggers of a run: stats.jsonl and the progress bar, then the config's ``loggers``."""
    extra = [n.strip() for n in config.loggers.split(",") if n.strip()]
    return list(dict.fromkeys([*DEFAULT_LOGGERS, *extra]))


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
