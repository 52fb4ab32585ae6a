"""What every dataset gives the training loop: its examples, and the minibatch stream."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


def to_unit_float(x: torch.Tensor) -> torch.Tensor:
    """Examples as float32: uint8 pixels 0..255 become [0, 1] (``/ 255``, on ``x``'s device, so
    a batch travels to the GPU as bytes); float examples are returned as they are."""
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x


@dataclass
class Dataset:
    """A dataset's examples: float32 tensors, or uint8 pixels for image sets too large for that.

    Images are ``[N, C, H, W]`` with pixels in [0, 1] (the paper's scale); vectors are ``[N, D]``.
    ``unit_range`` says the data lie in [0, 1], so G ends in a sigmoid as in the paper.

    A large image folder keeps ``train`` as uint8 ``[N, C, H, W]`` (0..255) memory-mapped from its
    cache file: 4 times smaller than float32, and read from disk as pages are touched, so the
    memory it takes does not grow with N. Code that needs pixel values reads them through
    :meth:`head`, :meth:`take` or :func:`to_unit_float`, which give float32 in [0, 1] either way
    (bit-identical: ``uint8 -> float32 / 255`` is what the in-memory path computes once).
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

    def head(self, n: int) -> torch.Tensor:
        """The first ``n`` training examples as float32 (a snapshot's real images, a fixed batch)."""
        return to_unit_float(self.train[:n])

    def take(self, index: torch.Tensor) -> torch.Tensor:
        """Training examples ``index`` as float32; from a memory map only those rows are read."""
        return to_unit_float(self.train.index_select(0, index))

    def mean_example(self, chunk_bytes: int = 32 << 20) -> torch.Tensor:
        """The mean training example ``[1, *sample_shape]`` in float64, summed in chunks of about
        ``chunk_bytes`` (so a memory-mapped set is never converted whole). Each chunk is made
        float32 first, as :meth:`take` gives it."""
        rows = max(1, chunk_bytes // max(1, self.train[0].numel() * self.train.element_size()))
        total = torch.zeros(self.sample_shape, dtype=torch.float64)
        for start in range(0, len(self.train), rows):
            total += to_unit_float(self.train[start:start + rows]).double().sum(0)
        return (total / max(1, len(self.train))).unsqueeze(0)


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

    def next(self, device: torch.device | None = None) -> torch.Tensor:
        """The next minibatch as float32, on ``device`` if given: stored uint8 pixels are gathered
        and moved as bytes (4 times less to copy), then converted where they arrive."""
        if self.position + self.m > len(self.data):
            self.epoch += 1
            self.position = 0
            self.order = torch.randperm(len(self.data), generator=self.generator)
        idx = self.order[self.position:self.position + self.m]
        self.position += self.m
        if self.world_size > 1:
            local = self.m // self.world_size
            idx = idx[self.rank * local:(self.rank + 1) * local]
        batch = self.data.index_select(0, idx)
        if device is not None:
            batch = batch.to(device, non_blocking=True)
        return to_unit_float(batch)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"order": self.order.clone(),
                "counters": torch.tensor([self.epoch, self.position], dtype=torch.int64)}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.order = state["order"].clone()
        self.epoch, self.position = (int(v) for v in state["counters"])
