"""Building blocks of gankit's networks: maxout units, dropout, minibatch discrimination, PacGAN
packing, and the authors' initialisation and weight-norm constraint. Networks know nothing of
training."""

from __future__ import annotations

import torch
from torch import nn


class Maxout(nn.Module):
    """Maxout units (Goodfellow et al., 2013): each output is the max of ``pieces`` linear pieces."""

    def __init__(self, in_features: int, units: int, pieces: int):
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(in_features, units * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # [N, units * pieces] -> [N, units, pieces]: consecutive pieces form one unit (as pylearn2)
        # max, not amax: its backward routes the gradient by index (~30% cheaper on CPU). On a
        # tie (rare in float32, common in bf16) max gives the whole gradient to one piece, amax
        # splits it: both are valid subgradients.
        return self.linear(x).view(x.shape[0], self.units, self.pieces).max(dim=2).values


class Dropout(nn.Dropout):
    """Inverted dropout (Srivastava et al., 2014) as nn.Dropout, with a cheaper mask.

    nn.Dropout draws its mask with bernoulli_, about 2.5x slower on CPU than drawing uniforms and
    comparing; the paper's D draws three masks per forward pass, ~7% of an iteration. The mask
    has the same distribution: each unit kept independently with probability 1 - p, scaled by
    1 / (1 - p).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if self.p == 1:
            return x * 0
        # float32 uniforms even under bf16 autocast, so that P(keep) is exactly 1 - p
        mask = torch.empty(x.shape, device=x.device).uniform_().ge_(self.p)
        return x * mask.mul_(1.0 / (1.0 - self.p)).to(x.dtype)


class MinibatchDiscrimination(nn.Module):
    """Salimans et al. (2016): each example also sees how close it is to the others of its
    minibatch, so a collapsed G (many near-identical samples) is easy to spot.

    o(x_i)_b = sum_{j != i} exp(-||M_i,b - M_j,b||_1), with M = f(x) T, T of shape [A, B, C]. The
    batch is split into ``groups`` contiguous chunks (real / fake) compared only within themselves.
    """

    def __init__(self, in_features: int, out_features: int, kernel_dim: int = 5):
        super().__init__()
        self.B, self.C = out_features, kernel_dim
        self.T = nn.Parameter(torch.randn(in_features, out_features * kernel_dim) * 0.1)

    def forward(self, f: torch.Tensor, groups: int = 1) -> torch.Tensor:
        M = (f @ self.T).view(len(f), self.B, self.C)  # [N, B, C]
        out = []
        for chunk in M.chunk(groups):
            l1 = (chunk.unsqueeze(0) - chunk.unsqueeze(1)).abs().sum(3)  # [n, n, B]
            out.append(torch.exp(-l1).sum(1) - 1.0)  # minus exp(0) of the example with itself
        return torch.cat([f, torch.cat(out)], dim=1)


class Packed(nn.Module):
    """PacGAN (Lin et al., 2018): D judges ``pack`` samples at once, all real or all fake.

    Consecutive examples are concatenated along the feature (or channel) axis: [N, ...] ->
    [N / pack, pack * first dim, ...]; one logit per pack. A collapsed G is exposed because packs of
    its samples look alike.
    """

    def __init__(self, D: nn.Module, pack: int):
        super().__init__()
        self.D, self.pack = D, pack
        self.uses_groups = getattr(D, "uses_groups", False)

    def forward(self, x: torch.Tensor, groups: int = 1) -> torch.Tensor:
        n = len(x) // self.pack
        packed = x.reshape(n, self.pack * x.shape[1], *x.shape[2:])
        return self.D(packed, groups) if self.uses_groups else self.D(packed)


def uniform_init_(module: nn.Module, bound: float) -> None:
    """Weights ~ U(-bound, bound), biases 0: pylearn2's ``irange`` initialisation."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.uniform_(m.weight, -bound, bound)
            nn.init.zeros_(m.bias)


@torch.no_grad()
def max_col_norm_(module: nn.Module, max_norm: float) -> None:
    """pylearn2's ``max_col_norm``, in place on every ``nn.Linear`` of ``module`` (maxout included).

    pylearn2 stores W as [in, out], so a column is the weight vector into one output unit (a row
    of PyTorch's [out, in] weight); after each update it sets W <- W * clip(norm, 0, max) /
    (1e-7 + norm) column by column (pylearn2's formula, its 1e-7 included).
    """
    for m in module.modules():
        if isinstance(m, nn.Linear):
            norms = m.weight.norm(dim=1, keepdim=True)  # [out, 1]
            m.weight.mul_(norms.clamp(max=max_norm) / (1e-7 + norms))


def spectral_norm_(module: nn.Module) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018) of every linear and conv layer of ``module``
    (maxout's included), by PyTorch's own parametrization: each weight is divided by its largest
    singular value, estimated by one power iteration per training forward pass. Applied after
    initialisation, so the init's directions are kept."""
    for m in list(module.modules()):
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.utils.parametrizations.spectral_norm(m)
    return module
