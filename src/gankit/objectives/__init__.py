"""Layer 2: objectives, each a D-loss/G-loss pair of pure functions of D's raw outputs.

The ``objective`` config field names the pair: the paper's GAN (Eq. 1, with Section 3's
non-saturating G loss or, by ``g_loss minimax``, Eq. 1's own) and the objectives users expect
after 2014 (LSGAN, hinge, WGAN, WGAN-GP). Adding one is a new module here and one ``register``
line. :func:`check_objective` refuses combinations an objective cannot use.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch

from gankit.constants import LOG_2, LOG_4
from gankit.errors import ConfigError
from gankit.objectives.gan import d_loss, g_loss_minimax, g_loss_nonsaturating, value_V
from gankit.objectives.hinge import d_loss_hinge, g_loss_hinge
from gankit.objectives.least_squares import d_loss_lsgan, g_loss_lsgan
from gankit.objectives.penalties import gradient_penalty, input_gradient
from gankit.objectives.wasserstein import (d_loss_wasserstein, g_loss_wasserstein, interpolates,
                                           wgan_gp_penalty)
from gankit.utils.registry import Registry

Tensor = torch.Tensor


def _identity(out: Tensor) -> Tensor:
    return out


@dataclass(frozen=True)
class Objective:
    """What D minimises and what G minimises, from D's raw outputs on real and fake examples.

    ``d_loss(real_out, fake_out, real_label)``: ``real_label`` < 1 is one-sided label smoothing
    (only where ``label_smoothing``). ``g_loss(fake_out)``: G's loss on fresh fakes.
    ``minimax_g_loss``: the zero-sum form of G's loss, where the objective has a distinct one.
    ``probability``: D's outputs -> D's estimate of p_data / (p_data + p_g) (the paper's D*), or
    None for a critic, whose outputs are scores. ``d_loss_at_equilibrium``/``g_loss_at_equilibrium``:
    the losses at p_g = p_data with the best D (None where they have no fixed value).
    ``gradient_penalty``: WGAN-GP's penalty is added to D's loss; ``weight_clipping``: every
    weight of D is clipped after every D update (WGAN).
    """

    d_loss: Callable[[Tensor, Tensor, float], Tensor]
    g_loss: Callable[[Tensor], Tensor]
    minimax_g_loss: Callable[[Tensor], Tensor] | None = None
    probability: Callable[[Tensor], Tensor] | None = torch.sigmoid
    d_loss_at_equilibrium: float | None = LOG_4
    g_loss_at_equilibrium: float | None = LOG_2
    minimax_g_loss_at_equilibrium: float | None = -LOG_2
    label_smoothing: bool = True
    gradient_penalty: bool = False
    weight_clipping: bool = False
    reference: str = ""

    @property
    def is_critic(self) -> bool:
        """D is a critic: its outputs are scores, not probabilities (no D = 1/2 at equilibrium)."""
        return self.probability is None


OBJECTIVES: Registry[Objective] = Registry("objective")
OBJECTIVES.register("gan", Objective(  # Eq. 1; G's loss is Section 3's advice unless g_loss minimax
    d_loss, g_loss_nonsaturating, minimax_g_loss=g_loss_minimax,
    reference="Goodfellow et al. 2014"))
OBJECTIVES.register("lsgan", Objective(  # D's score estimates D* itself: 1/2 at the equilibrium
    d_loss_lsgan, g_loss_lsgan, probability=_identity, d_loss_at_equilibrium=0.25,
    g_loss_at_equilibrium=0.125, reference="Mao et al. 2017 (a-b-c = 0-1-1)"))
OBJECTIVES.register("hinge", Objective(
    d_loss_hinge, g_loss_hinge, probability=None, d_loss_at_equilibrium=2.0,
    g_loss_at_equilibrium=None, label_smoothing=False, reference="Lim & Ye 2017; Miyato et al. 2018"))
OBJECTIVES.register("wgan", Objective(
    d_loss_wasserstein, g_loss_wasserstein, probability=None, d_loss_at_equilibrium=0.0,
    g_loss_at_equilibrium=None, label_smoothing=False, weight_clipping=True,
    reference="Arjovsky et al. 2017"))
OBJECTIVES.register("wgan-gp", Objective(
    d_loss_wasserstein, g_loss_wasserstein, probability=None, d_loss_at_equilibrium=0.0,
    g_loss_at_equilibrium=None, label_smoothing=False, gradient_penalty=True,
    reference="Gulrajani et al. 2017"))

#: The paper's two generator losses by name (the ``g_loss`` field of the ``gan`` objective).
G_LOSSES = {"nonsaturating": g_loss_nonsaturating, "minimax": g_loss_minimax}


def objective_for(name: str, g_loss: str = "nonsaturating") -> Objective:
    """The registered objective ``name`` with G's loss as ``g_loss`` says: ``nonsaturating`` (the
    objective's customary, non-saturating one) or ``minimax`` (the zero-sum form, where one exists)."""
    objective = OBJECTIVES.get(name)
    if g_loss == "nonsaturating":
        return objective
    if g_loss == "minimax" and objective.minimax_g_loss is not None:
        return dataclasses.replace(objective, g_loss=objective.minimax_g_loss,
                                   g_loss_at_equilibrium=objective.minimax_g_loss_at_equilibrium)
    if g_loss not in G_LOSSES:
        raise ConfigError(f"unknown g_loss '{g_loss}'; choose one of: minimax, nonsaturating")
    raise ConfigError(f"g_loss {g_loss} exists only for the paper's objective (gan); {name}'s "
                      f"G loss is its own: drop --g-loss, or pass --objective gan")


def objective_of(config: Mapping[str, Any]) -> Objective:
    """The objective of a run's saved config (config.json), for reading run folders: older runs
    have no ``objective`` key (they are the paper's), and an unknown name reads as the paper's."""
    try:
        return objective_for(str(config.get("objective", "gan")),
                             str(config.get("g_loss", "nonsaturating")))
    except ConfigError:
        return OBJECTIVES.get("gan")


def check_objective(config: Any) -> Objective:
    """The config's objective, or one :class:`ConfigError` line naming what it cannot be combined
    with (before any run folder exists)."""
    objective = objective_for(config.objective, config.g_loss)
    name = config.objective
    if config.label_smoothing and not objective.label_smoothing:
        raise ConfigError(f"label smoothing needs a D that outputs probabilities; {name}'s critic "
                          f"has no labels to smooth: drop --label-smoothing")
    if objective.weight_clipping and config.d_spectral_norm:
        raise ConfigError(f"{name} clips D's weights, and spectral normalisation rescales them: "
                          f"use one Lipschitz constraint (e.g. --objective wgan-gp or hinge with "
                          f"--d-spectral-norm, or wgan without it)")
    if config.d_spectral_norm and config.d_max_col_norm:
        raise ConfigError("d_max_col_norm and --d-spectral-norm both constrain D's weights: use one")
    if objective.gradient_penalty and config.minibatch_features:
        raise ConfigError(f"{name}'s gradient penalty needs a critic that judges each example "
                          f"alone; minibatch features mix examples: drop --minibatch-features")
    return objective


__all__ = ["G_LOSSES", "OBJECTIVES", "Objective", "check_objective", "d_loss",
           "d_loss_hinge", "d_loss_lsgan", "d_loss_wasserstein", "g_loss_hinge", "g_loss_lsgan",
           "g_loss_minimax", "g_loss_nonsaturating", "g_loss_wasserstein", "gradient_penalty",
           "input_gradient", "interpolates", "objective_for", "objective_of", "value_V", "wgan_gp_penalty"]
