"""The process's part in a run: join a torchrun job if there is one, pick threads and the device,
and leave the job cleanly at the end (:func:`session`)."""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

from gankit.config import Config
from gankit.engine.distributed import DistInfo, resolve_device, setup, teardown
from gankit.engine.loop import TrainingDiverged
from gankit.engine.state import choose_threads
from gankit.errors import ConfigError


@contextlib.contextmanager
def session(config: Config) -> Iterator[tuple[DistInfo, torch.device]]:
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
