"""Generator and discriminator multilayer perceptrons (Section 3 and the authors' mnist.yaml).

Networks know nothing of training. D returns raw logits (its probability is sigmoid(logit)); the
losses work in logit space. The paper's MNIST networks are these classes with the paper's widths,
maxout, dropout and uniform initialisation (see ``config.PAPER_MNIST``).
"""

from __future__ import annotations

import math

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


#: Hidden activations for G: the paper's ReLU, PyTorch-GAN's LeakyReLU(0.2), and smooth ones
#: (a smooth G has a smooth density p_g, which matters for the 1-D theory figures).
#: "sigmoid" is the second hidden layer of the paper's TFD and CIFAR-10 generators.
ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2), "elu": nn.ELU,
               "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def activation_names(spec: str | tuple[str, ...] | list[str], layers: int) -> list[str]:
    """One activation name per hidden layer from ``"relu"`` (all layers) or ``"relu,sigmoid"``."""
    names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    if len(names) == 1:
        names = names * layers
    if len(names) != layers:
        raise ValueError(f"{len(names)} G activations ({','.join(names)}) for {layers} hidden "
                         f"layers")
    for name in names:
        if name not in ACTIVATIONS:
            raise ValueError(f"unknown G activation '{name}'; choose from {', '.join(ACTIVATIONS)}")
    return names


class Generator(nn.Module):
    """G(z): hidden layers (ReLU by default, optional BatchNorm), then sigmoid (data in [0, 1]) or
    linear output, reshaped to the data's shape."""

    def __init__(self, z_dim: int, hidden: tuple[int, ...], out_shape: tuple[int, ...],
                 sigmoid_output: bool = True, activation: str = "relu", batchnorm: bool = False):
        super().__init__()
        self.z_dim, self.out_shape = z_dim, tuple(out_shape)
        layers: list[nn.Module] = []
        width = z_dim
        names = activation_names(activation, len(hidden))  # one name, or one per hidden layer
        for i, h in enumerate(hidden):
            layers.append(nn.Linear(width, h))
            if batchnorm and i > 0:  # as PyTorch-GAN's MLP: no BatchNorm after the first layer
                layers.append(nn.BatchNorm1d(h))
            layers.append(ACTIVATIONS[names[i]]())
            width = h
        self.hidden = nn.Sequential(*layers)
        self.out = nn.Linear(width, math.prod(self.out_shape))
        self.sigmoid_output = sigmoid_output

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.out(self.hidden(z))
        if self.sigmoid_output:
            x = torch.sigmoid(x)
        return x.view(z.shape[0], *self.out_shape)  # [N, C, H, W] or [N, D]


class Discriminator(nn.Module):
    """D(x) as a logit: hidden layers of maxout (paper) or LeakyReLU(0.2), with optional dropout.

    Dropout follows pylearn2's placement in the authors' code: on each layer's *input* —
    ``dropout_input`` on the image, ``dropout_hidden`` before every later layer.
    """

    def __init__(self, in_shape: tuple[int, ...], hidden: tuple[int, ...], maxout_pieces: int = 0,
                 dropout_input: float = 0.0, dropout_hidden: float = 0.0,
                 minibatch_features: int = 0):
        super().__init__()
        layers: list[nn.Module] = []
        width = math.prod(in_shape)
        for i, h in enumerate(hidden):
            p = dropout_input if i == 0 else dropout_hidden
            if p > 0:
                layers.append(Dropout(p))
            if maxout_pieces:
                layers.append(Maxout(width, h, maxout_pieces))
            else:
                layers += [nn.Linear(width, h), nn.LeakyReLU(0.2)]
            width = h
        if dropout_hidden > 0:
            layers.append(Dropout(dropout_hidden))
        self.hidden = nn.Sequential(*layers)
        self.minibatch = MinibatchDiscrimination(width, minibatch_features) if minibatch_features else None
        self.uses_groups = self.minibatch is not None
        self.out = nn.Linear(width + minibatch_features, 1)

    def forward(self, x: torch.Tensor, groups: int = 1) -> torch.Tensor:
        h = self.hidden(x.flatten(1))
        if self.minibatch is not None:
            h = self.minibatch(h, groups)
        return self.out(h).squeeze(1)  # [N] logits


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


def set_output_bias_from_data(G: Generator, data: torch.Tensor) -> None:
    """Authors' code: G's output bias = logit(mean training pixel), clipped to [1e-7, 1 - 1e-7].

    So that G starts by drawing the average image instead of grey noise.
    """
    mean = data.reshape(len(data), -1).double().mean(0).clamp(1e-7, 1 - 1e-7)
    with torch.no_grad():
        G.out.bias.copy_(torch.logit(mean).float())


def build_networks(config, dataset) -> tuple[Generator, Discriminator]:
    """G and D for a config and a dataset, initialised as the config says."""
    if getattr(config, "arch", "mlp") == "conv":  # DCGAN-style nets for images (nets_conv.py)
        from .nets_conv import build_conv_networks

        return build_conv_networks(config, dataset)
    G = Generator(config.z_dim, tuple(config.g_hidden), dataset.sample_shape,
                  sigmoid_output=dataset.unit_range, activation=config.g_activation,
                  batchnorm=config.g_batchnorm)
    shape = dataset.sample_shape
    d_shape = (config.pack * shape[0], *shape[1:])  # PacGAN: pack samples per judgement
    D = Discriminator(d_shape, tuple(config.d_hidden), config.d_maxout_pieces,
                      config.d_dropout_input, config.d_dropout_hidden, config.minibatch_features)
    if config.g_init_range > 0:
        uniform_init_(G, config.g_init_range)
    if config.d_init_range > 0:
        uniform_init_(D, config.d_init_range)
    if config.g_output_bias_from_data and dataset.unit_range:
        set_output_bias_from_data(G, dataset.train)
    return G, (Packed(D, config.pack) if config.pack > 1 else D)


def sample_noise(n: int, z_dim: int, dist: str, generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """z ~ p_z. ``uniform`` is U(-sqrt 3, sqrt 3) (zero mean, unit variance, the paper's MNIST prior)."""
    if dist == "uniform":
        u = torch.rand(n, z_dim, generator=generator, device=device)
        return u.mul_(2 * math.sqrt(3)).sub_(math.sqrt(3))
    return torch.randn(n, z_dim, generator=generator, device=device)
