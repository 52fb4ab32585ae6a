"""Distributed training on PyTorch's own engine: torchrun starts the processes, torch.distributed
(gloo on CPU, NCCL on GPU) connects them, DistributedDataParallel averages the gradients.

    torchrun --nproc_per_node=2 -m gankit train --batch 100 ...

``--batch`` stays the *global* minibatch m: each of the W ranks takes its m / W slice of the same
global batch of real examples and of noise vectors, so W ranks compute the same update as one
process with batch m (dropout masks are drawn per rank, from per-rank seeds). Only rank 0 writes the
run folder. Collective operations time out after ``dist_timeout`` seconds, and torchrun stops every
rank when one fails, so a dead rank ends the job instead of hanging it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from gankit.errors import ConfigError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialized_here: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def setup(device: str, timeout_s: int) -> DistInfo:
    """Join the process group when started by torchrun (WORLD_SIZE > 1); else a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    initialized_here = False
    if device.startswith("cuda") and torch.cuda.is_available():  # this rank's GPU, before NCCL
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        try:
            dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
        except (RuntimeError, ValueError) as e:
            raise ConfigError(f"cannot join the distributed job ({str(e).splitlines()[0]}); start it "
                              f"with torchrun, e.g. torchrun --nproc_per_node=2 -m gankit train") from None
        initialized_here = True
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)),
                    initialized_here)


def teardown(info: DistInfo, finished: bool = True) -> None:
    """Leave the job. A rank that finished waits for the others first: a rank that tore its
    connections down while rank 0 was still writing its report could be aborted by gloo."""
    if not (info.initialized_here and dist.is_initialized()):
        return
    if finished:
        dist.barrier()
    dist.destroy_process_group()


def resolve_device(name: str, info: DistInfo) -> torch.device:
    """cpu, cuda (this rank's GPU) or auto (cuda when available)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda was asked for but no CUDA GPU is available; use "
                              "--device cpu or auto")
        return torch.device("cuda", info.local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def mean_across_ranks(values: dict[str, torch.Tensor], info: DistInfo) -> dict[str, torch.Tensor]:
    """Average each statistic over the ranks (one collective for all of them)."""
    if not info.active or not values:
        return values
    keys = sorted(values)
    flat = torch.stack([values[k].detach().float().reshape(()) for k in keys])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    return {k: flat[i] / info.world_size for i, k in enumerate(keys)}


def any_rank(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True on every rank if it is true on any (e.g. Ctrl-C seen by one rank first)."""
    if not info.active:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def gather_rng_states(info: DistInfo) -> list[torch.Tensor]:
    """Every rank's global torch RNG state (they differ: per-rank dropout seeds)."""
    state = torch.get_rng_state()
    if not info.active:
        return [state]
    out = [torch.empty_like(state) for _ in range(info.world_size)]
    dist.all_gather(out, state)
    return out


def broadcast_path(path: str | None, info: DistInfo) -> str:
    """Rank 0's run folder, told to every rank (our own processes, so object broadcast is safe)."""
    if not info.active:
        return path or ""
    box = [path or ""]
    dist.broadcast_object_list(box, src=0)
    return box[0]
