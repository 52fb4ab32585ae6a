"""DCGAN-style convolutional G and D (Radford et al., 2016), for images of 28, 32, 64 or 128 pixels.

G: z -> linear projection to a small ``[C0, b, b]`` map -> transposed convolutions that double the
resolution, each followed by BatchNorm and ReLU -> a last transposed convolution to the image's
channels -> sigmoid (pixels in [0, 1], as the rest of gankit). D mirrors it with strided
convolutions and LeakyReLU(0.2), then a linear layer to one logit.

D has NO BatchNorm (DCGAN's D has it): gankit's D step passes real and fake examples through D in
one concatenated batch (``algorithm1._d_on_both``), and BatchNorm would then normalise each with the
statistics of the mixture, which leaks information between the two halves and changes what D
computes for a single example. Without normalisation D is a plain function of each example.

Resolutions: ``b * 2**n`` with base ``b`` = 4 (8, 16, 32, 64, 128, ...) or 7 (14, 28, 56, ...),
``n >= 1`` (:func:`conv_plan`). Networks know nothing of training.
"""

from __future__ import annotations

import torch
from torch import nn

from gankit.errors import ConfigError
from gankit.nets.layers import Packed

#: The smallest feature maps G starts from (and D ends at): 4x4 as DCGAN, 7x7 for MNIST's 28x28.
BASES = (4, 7)


def conv_plan(resolution: int) -> tuple[int, int]:
    """(base, number of doublings) with ``base * 2**n == resolution``; ValueError if none."""
    for base in BASES:
        n, size = 0, base
        while size < resolution:
            size, n = size * 2, n + 1
        if size == resolution and n >= 1:
            return base, n
    raise ValueError(f"the conv arch needs square images of 4 or 7 times a power of two pixels "
                     f"(e.g. 28, 32, 64, 128), not {resolution}")


def _widths(width: int, n: int) -> list[int]:
    """Channels at each resolution from the base up: ``width * 2**(n-1), ..., width * 2, width``."""
    return [width * 2 ** (n - 1 - i) for i in range(n)]


class ConvGenerator(nn.Module):
    """G(z) -> images ``[N, C, R, R]`` in [0, 1]."""

    def __init__(self, z_dim: int, out_shape: tuple[int, ...], width: int = 64):
        super().__init__()
        c, h, w = out_shape
        if h != w:
            raise ValueError(f"the conv arch needs square images, not {h}x{w}")
        self.z_dim, self.out_shape = z_dim, tuple(out_shape)
        base, n = conv_plan(h)
        chans = _widths(width, n)
        self.base, self.c0 = base, chans[0]
        # Project and reshape (DCGAN's first layer), then BatchNorm + ReLU
        self.project = nn.Linear(z_dim, chans[0] * base * base, bias=False)
        layers: list[nn.Module] = [nn.BatchNorm2d(chans[0]), nn.ReLU()]
        for c_in, c_out in zip(chans[:-1], chans[1:]):  # each doubles the resolution
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=False),
                       nn.BatchNorm2d(c_out), nn.ReLU()]
        self.hidden = nn.Sequential(*layers)
        self.out = nn.ConvTranspose2d(chans[-1], c, 4, stride=2, padding=1)  # last doubling

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.project(z).view(z.shape[0], self.c0, self.base, self.base)  # [N, C0, b, b]
        return torch.sigmoid(self.out(self.hidden(x)))  # [N, C, R, R]


class ConvDiscriminator(nn.Module):
    """D(x) as a logit ``[N]``: strided convolutions with LeakyReLU(0.2), no normalisation."""

    def __init__(self, in_shape: tuple[int, ...], width: int = 64):
        super().__init__()
        c, h, w = in_shape
        if h != w:
            raise ValueError(f"the conv arch needs square images, not {h}x{w}")
        base, n = conv_plan(h)
        chans = _widths(width, n)[::-1]  # width, 2 width, ... as the resolution halves
        layers: list[nn.Module] = []
        for c_in, c_out in zip([c] + chans[:-1], chans):  # each halves the resolution
            layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        self.hidden = nn.Sequential(*layers)
        self.out = nn.Linear(chans[-1] * base * base, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.hidden(x).flatten(1)).squeeze(1)  # [N] logits


def dcgan_init_(module: nn.Module) -> None:
    """DCGAN's initialisation: conv and linear weights ~ N(0, 0.02), BatchNorm scale ~ N(1, 0.02),
    biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def set_conv_output_bias_from_data(G: ConvGenerator, data: torch.Tensor) -> None:
    """G's output bias = logit(mean training pixel of each channel), as the MLP's (authors' code)."""
    mean = data.double().mean(dim=(0, 2, 3)).clamp(1e-7, 1 - 1e-7)  # [C]
    with torch.no_grad():
        G.out.bias.copy_(torch.logit(mean).float())


def build_conv_networks(config, dataset) -> tuple[ConvGenerator, nn.Module]:
    """Conv G and D for an image dataset ``[N, C, R, R]``, DCGAN-initialised; with ``pack`` > 1,
    D sees ``pack`` images stacked along the channels (PacGAN)."""
    if not dataset.is_image or not dataset.unit_range:
        raise ConfigError(f"arch conv needs an image dataset; {dataset.name} holds vectors of shape "
                          f"{dataset.sample_shape} (use --arch mlp)")
    try:
        G = ConvGenerator(config.z_dim, dataset.sample_shape, config.conv_width)
        c, *hw = dataset.sample_shape
        D = ConvDiscriminator((config.pack * c, *hw), getattr(config, "d_conv_width", 0)
                              or config.conv_width)
    except ValueError as e:
        raise ConfigError(f"{dataset.name} images are {'x'.join(map(str, dataset.sample_shape))}: "
                          f"{e}") from None
    dcgan_init_(G)
    dcgan_init_(D)
    if config.g_output_bias_from_data:
        set_conv_output_bias_from_data(G, dataset.train)
    if config.pack > 1:
        D = Packed(D, config.pack)
    return G, D


def conv_generator(config, sample_shape: tuple[int, ...], unit_range: bool) -> ConvGenerator:
    """The config's conv generator for images of ``sample_shape`` (not initialised)."""
    return ConvGenerator(config.z_dim, tuple(sample_shape), config.conv_width)
