"""Objectives by name: the paper's and four after 2014, each one registry line; bad combinations
are refused before a run folder exists."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

import gankit
from gankit.config import resolve_config
from gankit.constants import LOG_2
from gankit.engine.state import check_config
from gankit.errors import ConfigError
from gankit.objectives import (OBJECTIVES, Objective, d_loss, g_loss_minimax,
                               g_loss_nonsaturating, objective_for, objective_of)


def test_the_papers_two_generator_losses_share_Ds_loss():
    ns, mm = objective_for("gan", "nonsaturating"), objective_for("gan", "minimax")
    assert (ns.d_loss, ns.g_loss) == (d_loss, g_loss_nonsaturating)
    assert (mm.d_loss, mm.g_loss) == (d_loss, g_loss_minimax)
    assert (ns.g_loss_at_equilibrium, mm.g_loss_at_equilibrium) == (LOG_2, -LOG_2)
    assert set(OBJECTIVES) == {"gan", "lsgan", "hinge", "wgan", "wgan-gp"}


def test_an_objective_registered_in_one_line_trains(tiny, monkeypatch):
    calls = {"d": 0, "g": 0}

    def counted_d(real, fake, real_label=1.0):
        calls["d"] += 1
        return d_loss(real, fake, real_label)

    def counted_g(fake):
        calls["g"] += 1
        return g_loss_nonsaturating(fake)

    monkeypatch.setitem(OBJECTIVES._items, "counted", Objective(counted_d, counted_g))
    run = gankit.train(progress=False, objective="counted", **tiny)
    assert calls == {"d": tiny["steps"], "g": tiny["steps"]}  # k = 1: one of each per step
    assert run.path.name.endswith("-counted-k1")
    assert torch.isfinite(run.sample(4)).all()


def test_an_unknown_objective_is_one_line_naming_the_choices():
    with pytest.raises(ConfigError, match="unknown objective 'hinj'; did you mean 'hinge'"):
        check_config(resolve_config(objective="hinj"))
    with pytest.raises(ConfigError, match="unknown g_loss 'foo'"):
        check_config(resolve_config(g_loss="foo"))


@pytest.mark.parametrize("overrides, conflict", [
    (dict(objective="hinge", g_loss="minimax"), "g_loss minimax exists only for .*gan"),
    (dict(objective="lsgan", g_loss="minimax"), "g_loss minimax exists only"),
    (dict(objective="wgan", d_spectral_norm=True), "clips D's weights.*spectral"),
    (dict(objective="wgan", label_smoothing=0.1), "label smoothing.*wgan's critic"),
    (dict(objective="wgan-gp", label_smoothing=0.1), "label smoothing.*wgan-gp"),
    (dict(objective="hinge", label_smoothing=0.1), "label smoothing.*hinge"),
    (dict(objective="wgan-gp", minibatch_features=4), "gradient penalty.*minibatch features"),
    (dict(d_spectral_norm=True, d_max_col_norm=1.9), "max_col_norm.*spectral"),
])
def test_impossible_combinations_are_refused_in_one_line(overrides, conflict):
    with pytest.raises(ConfigError, match=conflict) as e:
        check_config(resolve_config(**overrides))
    assert "\n" not in str(e.value)


def test_allowed_combinations_pass():
    for overrides in (dict(objective="lsgan", label_smoothing=0.1),
                      dict(objective="hinge", d_spectral_norm=True),
                      dict(objective="wgan-gp", d_spectral_norm=True, pack=2, batch=64),
                      dict(objective="gan", g_loss="minimax", d_spectral_norm=True)):
        check_config(resolve_config(**overrides))


def test_the_objective_is_in_the_run_name_and_config():
    assert resolve_config(objective="wgan-gp", k=5).run_tag == "digits-wgan-gp-k5"
    assert resolve_config(objective="hinge", d_spectral_norm=True).run_tag == "digits-hinge-sn-k1"
    assert resolve_config().run_tag == "digits-ns-k1"  # the paper's runs keep their names
    assert resolve_config(objective="lsgan").to_dict()["objective"] == "lsgan"


def test_old_run_folders_read_as_the_papers_objective():
    assert objective_of({"g_loss": "minimax"}).g_loss is g_loss_minimax  # no "objective" key
    assert objective_of({"objective": "no-such"}) == OBJECTIVES["gan"]
    assert objective_of({"objective": "hinge"}).is_critic


@pytest.mark.parametrize("name", ["lsgan", "hinge", "wgan", "wgan-gp"])
def test_each_modifier_sets_its_objective_with_customary_settings(name):
    config = check_config(resolve_config(f"ring8+{name}"))
    assert config.objective == name
    customary = {"wgan-gp": dict(k=5, optimizer="adam", adam_beta1=0.0, adam_beta2=0.9,
                                 gp_lambda=10.0, lr_d=1e-4),
                 "wgan": dict(k=5, optimizer="rmsprop", wgan_clip=0.01, lr_d=5e-5),
                 "hinge": dict(k=1, d_spectral_norm=True, optimizer="adam"),
                 "lsgan": dict(k=1, optimizer="adam", adam_beta1=0.5)}[name]
    assert {k: getattr(config, k) for k in customary} == customary
    assert config.dataset == "ring8"  # the dataset's preset is kept


def test_losses_are_softplus_forms_of_the_logits():
    logits = torch.tensor([-200.0, 0.0, 200.0])
    assert torch.isfinite(g_loss_nonsaturating(logits))  # log(sigmoid(-200)) would be -inf
    assert g_loss_nonsaturating(logits) == pytest.approx(F.softplus(-logits).mean().item())


def test_objectives_are_frozen_records():
    with pytest.raises(dataclasses.FrozenInstanceError):
        OBJECTIVES["gan"].g_loss = g_loss_minimax  # type: ignore[misc]
