"""Spectral normalisation of D (Miyato et al. 2018) through PyTorch's own parametrization."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from gankit.config import resolve_config
from gankit.data import load_dataset
from gankit.nets import build_networks


@pytest.mark.parametrize("overrides", [
    dict(arch="mlp", d_maxout_pieces=5, d_hidden=(16, 16), g_hidden=(16,)),
    dict(arch="mlp", d_maxout_pieces=0, pack=2, batch=16, d_hidden=(16,), g_hidden=(16,)),
    dict(arch="conv", dataset="digits", conv_width=4),
])
def test_every_layer_of_d_is_spectrally_normalised_and_g_is_not(overrides):
    config = resolve_config(d_spectral_norm=True, **overrides)
    G, D = build_networks(config, load_dataset("digits"))
    layers = [m for m in D.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    assert layers and all(parametrize.is_parametrized(m, "weight") for m in layers)
    assert not any(parametrize.is_parametrized(m) for m in G.modules())
    # training-mode forward passes run the power iteration: each weight's top singular value -> 1
    x = torch.rand(8 * config.pack, 1, 8, 8)
    for _ in range(30):
        D(x)
    for m in layers:
        w = m.weight.detach().flatten(1)
        assert torch.linalg.matrix_norm(w, ord=2).item() == pytest.approx(1.0, abs=0.02)


def test_without_the_flag_d_is_plain():
    G, D = build_networks(resolve_config(), load_dataset("digits"))
    assert not any(parametrize.is_parametrized(m) for m in D.modules())
