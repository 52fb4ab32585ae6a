"""The hinge objective (Lim & Ye 2017, "Geometric GAN"; Miyato et al. 2018, SN-GAN).

D is a critic with a margin: it wants f(x) >= 1 on real examples and f(G(z)) <= -1 on fakes, and
pays linearly inside the margin; G raises its fakes' scores. At f = 0 everywhere D's loss is 2.
At p_g = p_data every constant f in [-1, 1] is optimal (loss 2), so D's outputs say nothing about
G there: watch the gap E f(x) - E f(G(z)) instead, which is 0 at the equilibrium.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def d_loss_hinge(real_out: torch.Tensor, fake_out: torch.Tensor, real_label: float = 1.0
                 ) -> torch.Tensor:
    """E[max(0, 1 - f(x))] + E[max(0, 1 + f(G(z)))]. (``real_label``: unused, no labels here;
    the config refuses label smoothing with this objective.)"""
    return F.relu(1.0 - real_out).mean() + F.relu(1.0 + fake_out).mean()


def g_loss_hinge(fake_out: torch.Tensor) -> torch.Tensor:
    """-E f(G(z)): G raises its fakes' scores (the same G loss as WGAN's)."""
    return -fake_out.mean()
