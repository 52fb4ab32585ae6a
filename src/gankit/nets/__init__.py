"""Layer 2: the networks G and D, by family (the ``arch`` config field), and the noise prior p_z.

Networks know nothing of training: D returns raw logits, G maps z to samples. A family is a
:class:`NetworkFamily` in :data:`NETWORKS`; adding one is a new module and one ``register`` line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from gankit.nets.conv import build_conv_networks, conv_generator, conv_plan
from gankit.nets.layers import max_col_norm_, spectral_norm_
from gankit.nets.mlp import Discriminator, Generator, build_mlp_networks, mlp_generator
from gankit.nets.noise import sample_noise
from gankit.utils.registry import Registry


@dataclass(frozen=True)
class NetworkFamily:
    """How to build a family's (G, D) for a dataset, and its G alone for a checkpoint's shapes."""

    build: Callable[..., tuple[nn.Module, nn.Module]]  # (config, dataset) -> (G, D), initialised
    generator: Callable[..., nn.Module]  # (config, sample_shape, unit_range) -> G, to load weights into


NETWORKS: Registry[NetworkFamily] = Registry("arch")
NETWORKS.register("mlp", NetworkFamily(build_mlp_networks, mlp_generator))  # the paper's (Section 3)
NETWORKS.register("conv", NetworkFamily(build_conv_networks, conv_generator))  # DCGAN-style


def build_networks(config, dataset) -> tuple[nn.Module, nn.Module]:
    """G and D for a config and a dataset, initialised as the config says."""
    G, D = NETWORKS.get(config.arch).build(config, dataset)
    if getattr(config, "d_spectral_norm", False):
        spectral_norm_(D)
    return G, D


def build_generator(config, sample_shape: tuple[int, ...], unit_range: bool) -> nn.Module:
    """An uninitialised G of the config's family, to load a checkpoint's weights into."""
    return NETWORKS.get(config.arch).generator(config, sample_shape, unit_range)


__all__ = ["NETWORKS", "Discriminator", "Generator", "NetworkFamily", "build_generator",
           "build_networks", "conv_plan", "max_col_norm_", "sample_noise", "spectral_norm_"]
