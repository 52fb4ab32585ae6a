"""Closed forms for the paper's objectives (losses.py)."""

import math

import pytest
import torch
from torch.testing import assert_close

from gankit.constants import LOG_4
from gankit.objectives import d_loss, g_loss_minimax, g_loss_nonsaturating, value_V


def test_d_loss_at_zero_logits_is_log4():
    zeros = torch.zeros(7)
    assert d_loss(zeros, zeros).item() == pytest.approx(math.log(4.0), abs=1e-7)
    assert LOG_4 == pytest.approx(1.3862943611198906, abs=1e-15)


def test_value_is_minus_d_loss_and_minus_log4_at_half():
    real, fake = torch.randn(9), torch.randn(9)
    assert_close(value_V(real, fake), -d_loss(real, fake))
    assert value_V(torch.zeros(3), torch.zeros(3)).item() == pytest.approx(-math.log(4.0), abs=1e-7)


def test_losses_match_probability_forms():
    real, fake = torch.randn(50, dtype=torch.float64), torch.randn(50, dtype=torch.float64)
    D_real, D_fake = torch.sigmoid(real), torch.sigmoid(fake)
    assert_close(d_loss(real, fake), -(D_real.log().mean() + (1 - D_fake).log().mean()))
    assert_close(g_loss_minimax(fake), (1 - D_fake).log().mean())
    assert_close(g_loss_nonsaturating(fake), -D_fake.log().mean())


def test_label_smoothing_is_cross_entropy_against_the_soft_real_target():
    real, fake = torch.randn(40, dtype=torch.float64), torch.randn(40, dtype=torch.float64)
    D_real, D_fake = torch.sigmoid(real), torch.sigmoid(fake)
    a = 0.9
    expected = -(a * D_real.log() + (1 - a) * (1 - D_real).log()).mean() - (1 - D_fake).log().mean()
    assert_close(d_loss(real, fake, real_label=a), expected)
    assert_close(d_loss(real, fake, real_label=1.0), d_loss(real, fake))


def test_label_smoothing_moves_the_best_real_output_to_the_target():
    # For one real example alone, -a log s - (1 - a) log(1 - s) is least at s = a: the logit
    # gradient there is sigmoid(l) - a = 0, so D stops growing more confident at D(x) = a.
    logit = torch.logit(torch.tensor([0.9], dtype=torch.float64)).requires_grad_(True)
    d_loss(logit, torch.full((1,), -50.0, dtype=torch.float64), real_label=0.9).backward()
    assert abs(logit.grad.item()) < 1e-12


def test_the_two_generator_losses_differ():
    fake = torch.tensor([-3.0, 0.5, 2.0])
    assert not torch.isclose(g_loss_minimax(fake), g_loss_nonsaturating(fake))
    # and the minimax form is not the non-saturating one in disguise (mimicry's bug)
    assert g_loss_minimax(torch.zeros(1)).item() == pytest.approx(-math.log(2.0))
    assert g_loss_nonsaturating(torch.zeros(1)).item() == pytest.approx(math.log(2.0))


@pytest.mark.parametrize("logit", [-5.0, -10.0, -20.0, -40.0])
def test_minimax_gradient_vanishes_as_D_of_G_goes_to_zero(logit):
    l1 = torch.tensor([logit], requires_grad=True, dtype=torch.float64)
    g_loss_minimax(l1).backward()
    l2 = torch.tensor([logit], requires_grad=True, dtype=torch.float64)
    g_loss_nonsaturating(l2).backward()
    # d/dl log(1 - sigmoid(l)) = -sigmoid(l) -> 0;  d/dl -log sigmoid(l) = -sigmoid(-l) -> -1
    assert l1.grad.item() == pytest.approx(-1 / (1 + math.exp(-logit)), rel=1e-9)
    assert abs(l1.grad.item()) < 7e-3
    assert l2.grad.item() == pytest.approx(-1 / (1 + math.exp(logit)), rel=1e-9)
    assert abs(l2.grad.item()) > 0.99


def test_softplus_forms_stay_finite_for_extreme_logits():
    big = torch.tensor([-1e4, 1e4])
    for value in (d_loss(big, big), g_loss_minimax(big), g_loss_nonsaturating(big)):
        assert torch.isfinite(value)
    l = torch.tensor([-200.0], requires_grad=True)
    g_loss_nonsaturating(l).backward()
    assert l.grad.item() == pytest.approx(-1.0)
