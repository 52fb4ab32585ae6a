"""Generator and discriminator multilayer perceptrons (Section 3 and the authors' mnist.yaml).

Networks know nothing of training. D returns raw logits (its probability is sigmoid(logit)); the
losses work in logit space. The paper's MNIST networks are these classes with the paper's widths,
maxout, dropout and uniform initialisation (the ``paper-mnist`` preset).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gankit.constants import SQRT_3
from gankit.nets.layers import Dropout, Maxout, MinibatchDiscrimination, Packed, uniform_init_


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


class LogitInput(nn.Module):
    """A fixed, parameter-free first layer for uniform z (Figure 1's recipe, ``g_input="logit"``):
    w = sqrt(3)/pi · logit(u), u = (z + sqrt 3) / (2 sqrt 3), clamped to [eps, 1 - eps].

    z stays U(-sqrt 3, sqrt 3) as in the paper; w is logistic with unit variance and unbounded, so a
    small G can put mass in p_data's tails without learning an infinite slope at the ends of z (a
    bounded z through an MLP of bounded slope gives a p_g with hard edges, where D* jumps to 1).
    The 2·eps of p_z's mass beyond the clamp lands on G's two end values.
    """

    SCALE = math.sqrt(3) / math.pi  # logistic(0, 1) has variance pi^2 / 3

    def __init__(self, eps: float = 1e-6):
        super().__init__()
        self.eps = eps

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        u = ((z + SQRT_3) / (2 * SQRT_3)).clamp(self.eps, 1 - self.eps)
        return self.SCALE * torch.logit(u)


#: G's first, fixed map of z: the identity (the paper) or :class:`LogitInput`.
INPUT_MAPS = {"z": nn.Identity, "logit": LogitInput}


class Generator(nn.Module):
    """G(z): an optional fixed input map, hidden layers (ReLU by default, optional BatchNorm), then
    sigmoid (data in [0, 1]) or linear output, reshaped to the data's shape."""

    def __init__(self, z_dim: int, hidden: tuple[int, ...], out_shape: tuple[int, ...],
                 sigmoid_output: bool = True, activation: str = "relu", batchnorm: bool = False,
                 input_map: str = "z"):
        super().__init__()
        self.z_dim, self.out_shape = z_dim, tuple(out_shape)
        self.input_map = INPUT_MAPS[input_map]()  # no parameters: state dicts are unchanged
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
        x = self.out(self.hidden(self.input_map(z)))
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


def set_output_bias_from_data(G: Generator, data: torch.Tensor) -> None:
    """Authors' code: G's output bias = logit(mean training pixel), clipped to [1e-7, 1 - 1e-7].

    So that G starts by drawing the average image instead of grey noise.
    """
    mean = data.reshape(len(data), -1).double().mean(0).clamp(1e-7, 1 - 1e-7)
    with torch.no_grad():
        G.out.bias.copy_(torch.logit(mean).float())


def mlp_generator(config, sample_shape: tuple[int, ...], unit_range: bool) -> Generator:
    """The config's MLP generator for samples of ``sample_shape`` (not initialised)."""
    return Generator(config.z_dim, tuple(config.g_hidden), tuple(sample_shape),
                     sigmoid_output=unit_range, activation=config.g_activation,
                     batchnorm=config.g_batchnorm, input_map=getattr(config, "g_input", "z"))


def build_mlp_networks(config, dataset) -> tuple[Generator, nn.Module]:
    """G and D for a config and a dataset, initialised as the config says."""
    G = mlp_generator(config, dataset.sample_shape, dataset.unit_range)
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
