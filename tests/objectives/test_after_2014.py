"""Closed forms for the objectives after 2014: LSGAN, hinge, WGAN, WGAN-GP."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from gankit.objectives import (OBJECTIVES, d_loss_hinge, d_loss_lsgan, d_loss_wasserstein,
                               g_loss_hinge, g_loss_lsgan, g_loss_wasserstein, interpolates,
                               wgan_gp_penalty)


def test_hinge_d_loss_is_2_at_zero_outputs_and_0_beyond_the_margins():
    zeros = torch.zeros(5)
    assert d_loss_hinge(zeros, zeros).item() == 2.0
    assert d_loss_hinge(torch.full((4,), 1.5), torch.full((4,), -3.0)).item() == 0.0
    real, fake = torch.tensor([0.5, 2.0]), torch.tensor([-0.5, 0.25])
    assert d_loss_hinge(real, fake).item() == pytest.approx((0.5 + 0) / 2 + (0.5 + 1.25) / 2)
    assert g_loss_hinge(torch.tensor([1.0, 3.0])).item() == -2.0


def test_lsgan_losses_at_known_outputs():
    # a-b-c = 0-1-1: D regresses reals to 1, fakes to 0; G pulls fakes to 1
    real, fake = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    assert d_loss_lsgan(real, fake).item() == pytest.approx(0.5 * 0.5 + 0.5 * 2.0)
    assert g_loss_lsgan(fake).item() == pytest.approx(0.5 * (1.0 + 1.0) / 2)
    half = torch.full((3,), 0.5)  # D* = 1/2 at p_g = p_data
    lsgan = OBJECTIVES["lsgan"]
    assert d_loss_lsgan(half, half).item() == pytest.approx(lsgan.d_loss_at_equilibrium)
    assert g_loss_lsgan(half).item() == pytest.approx(lsgan.g_loss_at_equilibrium)
    assert d_loss_lsgan(torch.full((2,), 0.9), torch.zeros(2), real_label=0.9).item() == 0.0


def test_lsgan_best_d_is_the_papers_d_star():
    # for one x with densities p_data, p_g the pointwise LSGAN loss p_d (D-1)^2 + p_g D^2 is
    # minimised by D = p_d / (p_d + p_g)
    p_d, p_g = 0.3, 0.1
    D = torch.tensor(0.5, requires_grad=True)
    opt = torch.optim.SGD([D], lr=0.5)
    for _ in range(200):
        opt.zero_grad()
        (p_d * d_loss_lsgan(D[None], torch.zeros(1)) + p_g * d_loss_lsgan(torch.ones(1), D[None])
         ).backward()
        opt.step()
    assert D.item() == pytest.approx(p_d / (p_d + p_g), abs=1e-6)


def test_wasserstein_losses_are_the_critic_gap():
    real, fake = torch.tensor([3.0, 1.0]), torch.tensor([0.5, -0.5])
    assert d_loss_wasserstein(real, fake).item() == -2.0
    assert g_loss_wasserstein(fake).item() == 0.0
    shifted = d_loss_wasserstein(real + 7, fake + 7)  # f + c is as good a critic
    assert shifted.item() == -2.0


def test_the_gp_penalty_of_a_linear_critic_is_lambda_norm_minus_one_squared():
    torch.manual_seed(0)
    critic = nn.Linear(6, 1, bias=True).double()
    w = critic.weight.detach().flatten()
    x_real, x_fake = torch.randn(16, 6, dtype=torch.float64), torch.randn(16, 6, dtype=torch.float64)
    penalty = wgan_gp_penalty(lambda x: critic(x).squeeze(1), x_real, x_fake)
    assert penalty.item() == pytest.approx((w.norm().item() - 1) ** 2, rel=1e-12)
    # its gradient flows to the critic: d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    (grad,) = torch.autograd.grad(penalty, critic.weight)
    assert_close(grad.flatten(), 2 * (w.norm() - 1) * w / w.norm())


def test_the_interpolation_draws_one_weight_per_example():
    x_real = torch.zeros(8, 3, 4, 4)
    x_fake = torch.ones(8, 3, 4, 4)
    x_hat = interpolates(x_real, x_fake, torch.Generator().manual_seed(1))
    one_minus_eps = x_hat.flatten(1)
    assert (one_minus_eps == one_minus_eps[:, :1]).all()  # one eps for every pixel of an example
    assert len(one_minus_eps[:, 0].unique()) == 8  # a different eps for each example
    assert ((0 <= x_hat) & (x_hat <= 1)).all()


def test_the_gp_penalty_is_float32_under_bf16_autocast():
    critic = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 1))
    x_real, x_fake = torch.rand(4, 3, 2, 2), torch.rand(4, 3, 2, 2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert critic(x_real).dtype == torch.bfloat16  # the nets run in bf16 here ...
        penalty = wgan_gp_penalty(lambda x: critic(x).squeeze(1), x_real, x_fake)
    assert penalty.dtype == torch.float32  # ... the penalty does not
    torch.manual_seed(3)
    exact = wgan_gp_penalty(lambda x: critic(x).squeeze(1), x_real, x_fake)
    torch.manual_seed(3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under = wgan_gp_penalty(lambda x: critic(x).squeeze(1), x_real, x_fake)
    assert under.item() == exact.item()


def test_a_packed_critic_is_penalised_per_group():
    critic = nn.Linear(4, 1, bias=False).double()  # sees 2 packed 2-d examples: one output
    w = critic.weight.detach().flatten()
    packed = lambda x: critic(x.reshape(-1, 4)).squeeze(1)  # noqa: E731
    penalty = wgan_gp_penalty(packed, torch.randn(6, 2, dtype=torch.float64),
                              torch.randn(6, 2, dtype=torch.float64))
    assert penalty.item() == pytest.approx((w.norm().item() - 1) ** 2, rel=1e-12)
