"""The Wasserstein GAN (Arjovsky et al. 2017) and its gradient penalty (Gulrajani et al. 2017).

D is a critic f, not a classifier: max_f E f(x) - E f(G(z)) over 1-Lipschitz f is the Earth-Mover
distance W(p_data, p_g) (Kantorovich-Rubinstein duality). The Lipschitz constraint comes from
clipping every weight of f to [-c, c] (WGAN: gankit.optim applies it after every critic update)
or from penalising (||grad f(x_hat)|| - 1)^2 on random interpolates of real and fake examples
(WGAN-GP). The equilibrium is p_g = p_data, where the gap E f(x) - E f(G(z)) is 0 for every f;
f's outputs have no fixed value there (f + constant is as good a critic).
"""

from __future__ import annotations

import torch
from torch import nn

from gankit.objectives.penalties import input_gradient


def d_loss_wasserstein(real_out: torch.Tensor, fake_out: torch.Tensor, real_label: float = 1.0
                       ) -> torch.Tensor:
    """E f(G(z)) - E f(x): minus the critic's estimate of W(p_data, p_g). (``real_label``: unused;
    the config refuses label smoothing with a critic.)"""
    return fake_out.mean() - real_out.mean()


def g_loss_wasserstein(fake_out: torch.Tensor) -> torch.Tensor:
    """-E f(G(z)): G lowers the critic's estimate of the distance."""
    return -fake_out.mean()


def interpolates(x_real: torch.Tensor, x_fake: torch.Tensor, generator: torch.Generator | None = None
                 ) -> torch.Tensor:
    """x_hat = eps x + (1 - eps) x_fake with ONE eps ~ U[0, 1] per example (Gulrajani et al.,
    Algorithm 1, line 4): points on the straight lines between pairs. (An eps per pixel, a known
    bug of a popular implementation, scatters x_hat off those lines.)"""
    eps = torch.rand(len(x_real), *([1] * (x_real.dim() - 1)), generator=generator,
                     device=x_real.device, dtype=x_real.dtype)
    return eps * x_real + (1 - eps) * x_fake


def _at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    return x.float() if x.dtype in (torch.bfloat16, torch.float16) else x


def wgan_gp_penalty(D: nn.Module, x_real: torch.Tensor, x_fake: torch.Tensor,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """E[(||grad f(x_hat)||_2 - 1)^2] (Gulrajani et al. 2017), to be weighted by lambda.

    Computed in float32 even inside a bf16 autocast region (a squared norm of bf16 gradients
    loses the penalty's small deviations from 1). The graph is kept, so the penalty's gradient
    reaches D's weights. A packed D (PacGAN) gives one output per group of examples: the norm is
    taken over each group's joint input.
    """
    with torch.autocast(x_real.device.type, enabled=False):
        x_hat = interpolates(_at_least_fp32(x_real.detach()), _at_least_fp32(x_fake.detach()),
                             generator)
        x_hat.requires_grad_(True)
        out = D(x_hat)
        grad = input_gradient(out, x_hat)
        norms = grad.reshape(len(out), -1).norm(dim=1)
        return (norms - 1.0).pow(2).mean()
