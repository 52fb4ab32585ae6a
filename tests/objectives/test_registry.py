"""Objectives by name: the paper's two are entries, and a new one is one registry line away."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import gankit
from gankit.engine.state import check_config
from gankit.config import resolve_config
from gankit.errors import ConfigError
from gankit.objectives import OBJECTIVES, Objective, d_loss, g_loss_minimax, g_loss_nonsaturating


def test_the_papers_two_generator_losses_share_Ds_loss():
    assert OBJECTIVES["nonsaturating"] == Objective(d_loss, g_loss_nonsaturating)
    assert OBJECTIVES["minimax"] == Objective(d_loss, g_loss_minimax)


def test_an_objective_registered_in_one_line_trains(tiny, monkeypatch):
    calls = {"d": 0, "g": 0}

    def ls_d(real, fake, real_label=1.0):  # least squares (Mao et al. 2017), counted
        calls["d"] += 1
        return 0.5 * ((real - real_label) ** 2).mean() + 0.5 * (fake ** 2).mean()

    def ls_g(fake):
        calls["g"] += 1
        return 0.5 * ((fake - 1) ** 2).mean()

    monkeypatch.setitem(OBJECTIVES._items, "least-squares", Objective(ls_d, ls_g))
    run = gankit.train(progress=False, g_loss="least-squares", **tiny)
    assert calls == {"d": tiny["steps"], "g": tiny["steps"]}  # k = 1: one of each per step
    assert run.path.name.endswith("-least-squares-k1")
    assert torch.isfinite(run.sample(4)).all()


def test_an_unknown_objective_is_one_line_naming_the_choices():
    with pytest.raises(ConfigError, match="unknown g_loss 'hinge'.*minimax, nonsaturating"):
        check_config(resolve_config(g_loss="hinge"))


def test_losses_are_softplus_forms_of_the_logits():
    logits = torch.tensor([-200.0, 0.0, 200.0])
    assert torch.isfinite(g_loss_nonsaturating(logits))  # log(sigmoid(-200)) would be -inf
    assert g_loss_nonsaturating(logits) == pytest.approx(F.softplus(-logits).mean().item())
