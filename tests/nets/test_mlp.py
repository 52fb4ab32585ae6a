"""The paper's networks (nets.py): shapes, maxout, dropout placement, initialisation."""

import math

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from gankit.config import resolve_config
from gankit.data import Dataset
from gankit.nets import Discriminator, Generator, build_networks, sample_noise
from gankit.nets.layers import Dropout, Maxout


def fake_mnist(n=200):
    return Dataset("mnist", train=torch.rand(n, 1, 28, 28) ** 3, unit_range=True)


def test_maxout_takes_max_over_consecutive_pieces():
    layer = Maxout(2, units=3, pieces=4)
    x = torch.randn(5, 2)
    pre = layer.linear(x).view(5, 3, 4)
    assert_close(layer(x), pre.max(dim=2).values)


def test_paper_mnist_networks_match_the_authors_yaml():
    cfg = resolve_config("paper-mnist")
    data = fake_mnist()
    G, D = build_networks(cfg, data)
    linears = [m for m in G.modules() if isinstance(m, nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(100, 1200), (1200, 1200), (1200, 784)]
    assert [type(m) for m in G.hidden] == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU]
    for l in linears:
        assert l.weight.abs().max() <= 0.05 and l.weight.abs().max() > 0.049
    assert_close(linears[0].bias, torch.zeros(1200))
    # output bias = logit(mean training pixel), clipped to [1e-7, 1 - 1e-7]
    mean = data.train.reshape(200, -1).double().mean(0).clamp(1e-7, 1 - 1e-7)
    assert_close(G.out.bias, torch.logit(mean).float())
    # D: dropout(0.2) -> maxout 240x5 -> dropout(0.5) -> maxout 240x5 -> dropout(0.5) -> 1 logit
    kinds = [type(m) for m in D.hidden]
    assert kinds == [Dropout, Maxout, Dropout, Maxout, Dropout]
    drops = [m.p for m in D.hidden if isinstance(m, nn.Dropout)]
    assert drops == [0.2, 0.5, 0.5]
    maxouts = [m for m in D.hidden if isinstance(m, Maxout)]
    assert [(m.linear.in_features, m.units, m.pieces) for m in maxouts] == [(784, 240, 5), (240, 240, 5)]
    for m in D.modules():
        if isinstance(m, nn.Linear):
            assert m.weight.abs().max() <= 0.005
    x = G(sample_noise(4, 100, "uniform"))
    assert x.shape == (4, 1, 28, 28) and x.min() >= 0 and x.max() <= 1
    assert D(x).shape == (4,)


def test_uniform_noise_is_the_papers_unit_variance_prior():
    z = sample_noise(200_000, 100 // 10, "uniform", torch.Generator().manual_seed(0))
    assert z.min() >= -math.sqrt(3) and z.max() <= math.sqrt(3)
    assert z.var().item() == pytest.approx(1.0, abs=0.01)
    assert z.mean().item() == pytest.approx(0.0, abs=0.01)


def test_vector_generator_is_linear_output_and_flat():
    G = Generator(2, (16,), (2,), sigmoid_output=False)
    D = Discriminator((2,), (16, 16))
    x = G(torch.randn(10, 2))
    assert x.shape == (10, 2)
    assert D(x).shape == (10,)
    assert not any(isinstance(m, nn.Dropout) for m in D.modules())


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_dropout_keeps_each_unit_with_probability_one_minus_p_and_rescales(p):
    torch.manual_seed(0)
    drop = Dropout(p).train()
    x = torch.ones(400, 1000, requires_grad=True)
    y = drop(x)
    kept = y != 0
    n = kept.numel()
    # binomial: within 5 standard errors of 1 - p; kept units scaled by exactly 1 / (1 - p)
    assert abs(kept.float().mean().item() - (1 - p)) < 5 * math.sqrt(p * (1 - p) / n)
    assert torch.all(y[kept] == 1 / (1 - p))
    y.sum().backward()  # the gradient flows through kept units only, with the same scale
    assert torch.equal(x.grad, y.detach())
    assert torch.equal(drop.eval()(x), x)  # eval mode: the identity, as nn.Dropout


def test_maxout_gradient_goes_to_the_winning_piece_as_with_amax():
    torch.manual_seed(0)
    m = Maxout(6, 4, 3)
    x = torch.randn(5, 6)
    out = m(x)
    ref = m.linear(x).view(5, 4, 3).amax(dim=2)
    assert torch.equal(out, ref)
    g_out, g_ref = torch.autograd.grad(out.sum(), m.linear.weight)[0], \
        torch.autograd.grad(ref.sum(), m.linear.weight)[0]
    assert torch.equal(g_out, g_ref)  # no ties in continuous inputs: the same gradient
