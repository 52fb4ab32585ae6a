"""The paper's objective V(D, G) (Eq. 1) and its two generator losses, as pure functions of D's logits.

D(x) = sigmoid(l), so  log D(x) = -softplus(-l)  and  log(1 - D(x)) = -softplus(l).
Softplus forms are exact and stable where log(sigmoid(l)) underflows to -inf. Every function
returns a minibatch mean (Algorithm 1's 1/m sums).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

def value_V(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Eq. 1: V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))]."""
    return -F.softplus(-real_logits).mean() - F.softplus(fake_logits).mean()


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, real_label: float = 1.0
           ) -> torch.Tensor:
    """D minimises -V: -log D(x) - log(1 - D(G(z))). Equals log 4 when D = 1/2 everywhere.

    Unscaled (the authors' code halves it); its equilibrium value is therefore log 4, not log 2.
    ``real_label`` < 1 is one-sided label smoothing (Salimans et al. 2016): the cross-entropy
    against target a on real examples, -a log D(x) - (1 - a) log(1 - D(x)), whose best D(x) is
    a p_data / (p_data + p_g) instead of D*; fakes keep target 0, so G's optimum is unchanged.
    """
    real = F.softplus(-real_logits).mean()
    if real_label != 1.0:
        real = real_label * real + (1.0 - real_label) * F.softplus(real_logits).mean()
    return real + F.softplus(fake_logits).mean()


def g_loss_minimax(fake_logits: torch.Tensor) -> torch.Tensor:
    """Eq. 1's generator term, minimised by G: log(1 - D(G(z))) = -softplus(l).

    Saturates: its gradient in l is -sigmoid(l), which vanishes as D(G(z)) -> 0 early in training.
    """
    return -F.softplus(fake_logits).mean()


def g_loss_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """Section 3's advice: G maximises log D(G(z)), i.e. minimises softplus(-l) = -log D(G(z)).

    Same fixed point as the minimax form, but its gradient -sigmoid(-l) -> -1 as D(G(z)) -> 0.
    """
    return F.softplus(-fake_logits).mean()
