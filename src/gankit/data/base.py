"""What every dataset gives the training loop: tensors in memory, and the minibatch stream."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class Dataset:
    """A dataset held in memory as float32 tensors.

    Images are ``[N, C, H, W]`` with pixels in [0, 1] (the paper's scale); vectors are ``[N, D]``.
    ``unit_range`` says the data lie in [0, 1], so G ends in a sigmoid as in the paper.
    """

    name: str
    train: torch.Tensor
    val: torch.Tensor | None = None
    test: torch.Tensor | None = None
    unit_range: bool = True
    labels: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.train.shape[1:])

    @property
    def is_image(self) -> bool:
        return self.train.dim() == 4


class MinibatchStream:
    """Minibatches of m examples drawn without replacement, epoch by epoch.

    Each epoch is a fresh permutation from ``generator``; a partial last batch is dropped so every
    D step sees exactly m real examples (Algorithm 1). ``epoch`` counts completed epochs, the unit of
    the paper's momentum schedule.
    """

    def __init__(self, data: torch.Tensor, m: int, generator: torch.Generator,
                 rank: int = 0, world_size: int = 1):
        # Distributed runs: every rank draws the same global permutation and global batch of m,
        # and keeps its own contiguous m / world_size slice (its shard of every epoch).
        self.data, self.m, self.generator = data, m, generator
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self.position = 0
        self.order = torch.randperm(len(data), generator=generator)

    @property
    def batches_per_epoch(self) -> int:
        return len(self.data) // self.m

    def next(self) -> torch.Tensor:
        if self.position + self.m > len(self.data):
            self.epoch += 1
            self.position = 0
            self.order = torch.randperm(len(self.data), generator=self.generator)
        idx = self.order[self.position:self.position + self.m]
        self.position += self.m
        if self.world_size > 1:
            local = self.m // self.world_size
            idx = idx[self.rank * local:(self.rank + 1) * local]
        return self.data.index_select(0, idx)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"order": self.order.clone(),
                "counters": torch.tensor([self.epoch, self.position], dtype=torch.int64)}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.order = state["order"].clone()
        self.epoch, self.position = (int(v) for v in state["counters"])
