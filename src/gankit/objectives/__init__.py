"""Layer 2: objectives, each a D-loss/G-loss pair of pure functions of D's raw outputs (logits).

The ``g_loss`` config field names the pair. Today's entries are the paper's two (Eq. 1 and Section
3's advice); adding one (LSGAN, hinge, ...) is a new module here and one ``register`` line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from gankit.objectives.gan import d_loss, g_loss_minimax, g_loss_nonsaturating, value_V
from gankit.objectives.penalties import gradient_penalty
from gankit.utils.registry import Registry

Tensor = torch.Tensor


@dataclass(frozen=True)
class Objective:
    """What D minimises and what G minimises, from D's logits on real and fake examples.

    ``d_loss(real_logits, fake_logits, real_label)``: ``real_label`` < 1 is one-sided label
    smoothing. ``g_loss(fake_logits)``: G's loss on fresh fakes.
    """

    d_loss: Callable[[Tensor, Tensor, float], Tensor]
    g_loss: Callable[[Tensor], Tensor]


OBJECTIVES: Registry[Objective] = Registry("g_loss")
OBJECTIVES.register("nonsaturating", Objective(d_loss, g_loss_nonsaturating))  # Section 3's advice
OBJECTIVES.register("minimax", Objective(d_loss, g_loss_minimax))  # Eq. 1 as written

#: The generator losses by name (the ``g_loss`` field), for code that needs only G's half.
G_LOSSES = {name: objective.g_loss for name, objective in OBJECTIVES.items()}

__all__ = ["G_LOSSES", "OBJECTIVES", "Objective", "d_loss", "g_loss_minimax",
           "g_loss_nonsaturating", "gradient_penalty", "value_V"]
