"""Everything that changes during training, built fresh from a config (and a dataset).

A checkpoint is this state as data (:mod:`gankit.runs.checkpoint` captures and restores it), so a
resumed run continues exactly where it stopped.
"""

from __future__ import annotations

import copy
import dataclasses
import math
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
from gankit.objectives import check_objective
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
        return self.stream.next(self.device)  # uint8 pixels travel as bytes, converted there


def check_config(config: Config) -> Config:
    """The checks a :class:`Config` cannot make itself: the names it gives to registries above it
    (dataset, network family, objective and what it cannot be combined with) and what the
    networks need of the data's size. One :class:`ConfigError` line naming the problem; the config
    itself if fine."""
    if config.dataset not in DATASETS:
        raise ConfigError(unknown_name_message("dataset", config.dataset, DATASETS))
    NETWORKS.get(config.arch)
    check_objective(config)
    for name in logger_names(config):
        getattr(LOGGERS.get(name), "requires", lambda: None)()  # e.g. an optional package
    if config.arch == "conv" and config.dataset == "folder":
        try:
            conv_plan(config.image_size)
        except ValueError as e:
            raise ConfigError(f"{e}; pass e.g. --image-size 64") from None
    check_size(config)
    return config


# --- what the networks will need, before anything is built -----------------------------------------

#: The sample shape of each built-in dataset (the image folder's follows --image-size), so that the
#: networks' size can be known before the data are loaded and any run folder exists.
SAMPLE_SHAPES: dict[str, tuple[int, ...]] = {
    "digits": (1, 8, 8), "mnist": (1, 28, 28), "cifar10": (3, 32, 32),
    "stacked_mnist": (3, 28, 28), "tfd": (1, 48, 48), "gauss1d": (1,), "mixture1d": (1,),
    "ring8": (2,), "grid25": (2,)}
#: The most parameters G and D may have together (4 GiB of float32 weights, before gradients and
#: optimiser state): far beyond the paper's networks (~3 M) and DCGAN's at 256 pixels (~90 M).
MAX_PARAMETERS = 2**30


def sample_shape_of(config: Config) -> tuple[int, ...] | None:
    """The shape of one example of the config's dataset (an upper bound for an image folder: RGB
    unless gray is asked for); None for a dataset gankit does not know the shape of in advance."""
    if config.dataset == "folder":
        channels = 1 if config.image_channels == "gray" else 3
        return (channels, config.image_size, config.image_size)
    return SAMPLE_SHAPES.get(config.dataset)


def estimate_memory(config: Config, sample_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(parameters of G, of D, estimated bytes to train) for the config on examples of
    ``sample_shape``; the networks are built on PyTorch's meta device (shapes, no memory).

    Bytes: float32 weights, gradients, optimiser state (1 slot for SGD, 2 for Adam) and the weight
    average; activations of G on the batch and D on real and fake examples (:func:`activations`),
    kept for the backward pass and matched by gradients (x 3).
    """
    unit_range = len(sample_shape) == 3
    data = Dataset(config.dataset, torch.empty((1, *sample_shape), device="meta"),
                   unit_range=unit_range)
    with torch.random.fork_rng(devices=[]), torch.device("meta"):
        # no output bias from the data: the same shapes, without meta-device maths (slow to set up)
        G, D = build_networks(dataclasses.replace(config, g_output_bias_from_data=False), data)
    p_G = sum(p.numel() for p in G.parameters())
    p_D = sum(p.numel() for p in D.parameters())
    slots = 2 if config.optimizer == "adam" else 1
    weights = p_G * (2 + slots + (1 if config.g_ema > 0 else 0)) + p_D * (2 + slots)
    return p_G, p_D, 4 * (weights + 3 * config.batch * activations(config, sample_shape))


def activations(config: Config, sample_shape: tuple[int, ...]) -> int:
    """Values G computes for one example plus what D computes for one real and one fake, by
    family (0 for a family gankit does not know: its parameters still count)."""
    n = math.prod(sample_shape)
    if config.arch == "mlp":
        g = 2 * sum(config.g_hidden) + 2 * n
        d = n + sum(config.d_hidden) * (max(config.d_maxout_pieces, 1) + 2) + config.minibatch_features
        return g + 2 * d
    if config.arch == "conv" and len(sample_shape) == 3:
        base, doublings = conv_plan(sample_shape[1])
        maps = [config.conv_width * 2 ** (doublings - 1 - i) * (base * 2**i) ** 2
                for i in range(doublings)]  # channels x pixels at each resolution
        return 3 * sum(maps) + 2 * n + 2 * (n + 2 * sum(maps))
    return 0


def memory_limit(config: Config) -> tuple[int, str]:
    """(bytes, what) of the memory the run will train in: the GPU's, else this machine's RAM."""
    if config.device in ("cuda", "auto") and torch.cuda.is_available():
        return torch.cuda.get_device_properties(0).total_memory, "the GPU's"
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "this machine's"
    except (ValueError, OSError, AttributeError):
        return 1 << 62, "this machine's"


def check_size(config: Config) -> None:
    """Refuse networks that cannot fit, before anything is allocated: more than
    :data:`MAX_PARAMETERS`, or an estimated need beyond the memory of the device."""
    shape = sample_shape_of(config)
    if shape is None:
        return
    try:
        p_G, p_D, need = estimate_memory(config, shape)
    except (ValueError, ConfigError, RuntimeError):
        return  # a shape the family cannot build: reported with the data, as before
    size = f"G has {p_G:,} parameters and D {p_D:,}"
    hint = ("pass a smaller --image-size, --conv-width, --g-hidden/--d-hidden or --batch"
            if config.dataset == "folder" else
            "pass smaller --g-hidden/--d-hidden, --conv-width, --z-dim or --batch")
    if p_G + p_D > MAX_PARAMETERS:
        raise ConfigError(f"the networks are too large: {size}, more than gankit's limit of "
                          f"{MAX_PARAMETERS:,} together; {hint}")
    limit, what = memory_limit(config)
    if need > limit:
        raise ConfigError(f"the networks would need about {need / 2**30:.1f} GiB to train "
                          f"({size}; batch {config.batch}), more than {what} "
                          f"{limit / 2**30:.1f} GiB of memory; {hint}")


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


def _for_networks(config: Config, dataset: Dataset) -> Dataset:
    """The dataset the networks are built from. Their output bias from the data is a mean pixel
    (``g_output_bias_from_data``), which the nets compute as ``train.double().mean(...)``: on a
    large uint8 set that would convert it whole (200,000 RGB images at 64 px: 20 GB of float64),
    and on uint8 it would average 0..255, not [0, 1]. So they are handed the mean example
    ``[1, C, H, W]``, summed in chunks: the mean over its pixels is the same mean."""
    if dataset.train.dtype != torch.uint8 or not config.g_output_bias_from_data:
        return dataset
    return dataclasses.replace(dataset, train=dataset.mean_example())


def build_state(config: Config, dataset: Dataset, info: DistInfo = DistInfo(),
                device: torch.device = torch.device("cpu")) -> TrainingState:
    """Fresh networks, optimisers and random streams, all derived from ``config.seed``."""
    torch.manual_seed(config.seed)  # initialisation and dropout masks
    random.seed(config.seed)  # unused by gankit itself; seeded so that user callbacks repeat too
    np.random.seed(config.seed % 2**32)
    G, D = build_networks(config, _for_networks(config, dataset))
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
