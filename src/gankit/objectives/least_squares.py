"""LSGAN (Mao et al. 2017, "Least Squares Generative Adversarial Networks"), with their a-b-c =
0-1-1 coding: D regresses real examples to b = 1 and fakes to a = 0; G pushes its fakes to c = 1.

D's raw output is the score itself (no sigmoid). For fixed G the best D is
D*(x) = (b p_data + a p_g) / (p_data + p_g) = p_data / (p_data + p_g): the paper's D*, read off
directly. At p_g = p_data, D = 1/2 everywhere, D's loss is 1/4 and G's 1/8.
"""

from __future__ import annotations

import torch

#: The a-b-c coding: D's targets for fakes (a) and real examples (b), G's target for fakes (c).
A, B, C = 0.0, 1.0, 1.0


def d_loss_lsgan(real_out: torch.Tensor, fake_out: torch.Tensor, real_label: float = B
                 ) -> torch.Tensor:
    """(1/2) E[(D(x) - b)^2] + (1/2) E[(D(G(z)) - a)^2]. ``real_label`` < 1 is one-sided label
    smoothing: the real target b becomes that value."""
    return 0.5 * (real_out - real_label).pow(2).mean() + 0.5 * (fake_out - A).pow(2).mean()


def g_loss_lsgan(fake_out: torch.Tensor) -> torch.Tensor:
    """(1/2) E[(D(G(z)) - c)^2]: G pulls its fakes' scores to c."""
    return 0.5 * (fake_out - C).pow(2).mean()
