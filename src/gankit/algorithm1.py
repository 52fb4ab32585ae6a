"""Algorithm 1 of the paper: k discriminator steps, then one generator step.

Each function is one phase, with the paper's names. They take callables for the two sources of
randomness (``next_real()`` -> m examples, ``next_noise()`` -> m noise vectors), so a test can count
exactly what each phase consumed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from gankit.objectives import OBJECTIVES, Objective, gradient_penalty, wgan_gp_penalty

Tensor = torch.Tensor


@dataclass(frozen=True)
class Remedies:
    """Optional changes to D's objective that fight non-convergence (docs/benchmarks.md section 4).

    r1_gamma, r2_gamma: add (gamma / 2) E ||grad_x D(x)||^2 on real (R1) or fake (R2) inputs to D's
    loss (Mescheder et al. 2018). instance_noise: std of Gaussian noise added to every input of D,
    real and fake, in both players' steps (Sønderby et al. 2017); the trainer anneals it to 0.
    label_smoothing: D's target for real examples is 1 - this (one-sided; Salimans et al. 2016),
    so D cannot grow ever more confident on real data alone.
    """

    r1_gamma: float = 0.0
    r2_gamma: float = 0.0
    instance_noise: float = 0.0
    label_smoothing: float = 0.0
    gp_lambda: float = 10.0  # the weight of WGAN-GP's penalty (used by that objective only)


NO_REMEDIES = Remedies()
#: The paper's objective with Section 3's non-saturating G loss: the default of every phase below.
GAN = OBJECTIVES.get("gan")


def _unwrap(module: nn.Module) -> nn.Module:
    return getattr(module, "module", module)  # DistributedDataParallel keeps the net in .module


def _at_least_fp32(logits: Tensor) -> Tensor:
    """Losses are computed in float32 even when the networks run in bf16/fp16 (autocast)."""
    return logits.float() if logits.dtype in (torch.bfloat16, torch.float16) else logits


def _noisy(x: Tensor, std: float) -> Tensor:
    return x + std * torch.randn_like(x) if std > 0 else x


def _d_on_both(D: nn.Module, x_real: Tensor, x_fake: Tensor) -> tuple[Tensor, Tensor]:
    """D on real and fake examples in ONE forward pass: half the per-op overhead, one larger matmul
    per layer, and a single forward per backward as DistributedDataParallel requires. Each example
    still gets its own dropout mask, so this is the same computation as two calls; D's minibatch
    features (if any) are computed within the real half and within the fake half, never across."""
    x = torch.cat([x_real, x_fake.to(x_real.dtype)])
    logits = D(x, groups=2) if getattr(_unwrap(D), "uses_groups", False) else D(x)
    n_real = len(logits) * len(x_real) // len(x)  # packed D: one logit per group of samples
    return logits[:n_real], logits[n_real:]


def d_objective(D: nn.Module, x_real: Tensor, x_fake: Tensor, remedies: Remedies = NO_REMEDIES,
                objective: Objective = GAN) -> tuple[Tensor, Tensor, Tensor]:
    """(loss_D, real_logits, fake_logits): D's loss (-V for the paper's objective) on this
    minibatch plus any penalties."""
    x_real = _noisy(x_real, remedies.instance_noise)
    x_fake = _noisy(x_fake, remedies.instance_noise)
    if remedies.r1_gamma > 0:
        x_real = x_real.detach().requires_grad_(True)
    if remedies.r2_gamma > 0:
        x_fake = x_fake.detach().requires_grad_(True)
    real_logits, fake_logits = _d_on_both(D, x_real, x_fake)
    real_logits, fake_logits = _at_least_fp32(real_logits), _at_least_fp32(fake_logits)
    loss_D = objective.d_loss(real_logits, fake_logits, 1.0 - remedies.label_smoothing)
    if remedies.r1_gamma > 0:
        loss_D = loss_D + remedies.r1_gamma / 2 * gradient_penalty(real_logits, x_real)
    if remedies.r2_gamma > 0:
        loss_D = loss_D + remedies.r2_gamma / 2 * gradient_penalty(fake_logits, x_fake)
    if objective.gradient_penalty:  # WGAN-GP: on interpolates of the examples D just judged
        loss_D = loss_D + remedies.gp_lambda * wgan_gp_penalty(_unwrap(D), x_real, x_fake)
    return loss_D, real_logits, fake_logits


def d_step(G: nn.Module, D: nn.Module, opt_D: torch.optim.Optimizer, x_real: Tensor, z: Tensor,
           D_train: nn.Module | None = None, remedies: Remedies = NO_REMEDIES,
           objective: Objective = GAN) -> dict[str, Tensor]:
    """One discriminator update: ascend (1/m) sum [log D(x) + log(1 - D(G(z)))].

    ``D_train`` is the module to run for the update (a DistributedDataParallel wrapper of D, which
    averages the gradients across ranks); by default D itself.
    """
    with torch.no_grad():  # G gets no gradient during the D step
        x_fake = G(z)
    loss_D, real_logits, fake_logits = d_objective(D_train or D, x_real, x_fake, remedies, objective)
    opt_D.zero_grad(set_to_none=True)
    loss_D.backward()
    opt_D.step()
    return {"Loss/D": loss_D.detach(), "real_logits": real_logits.detach(),
            "fake_logits": fake_logits.detach()}


def g_step(G: nn.Module, D: nn.Module, opt_G: torch.optim.Optimizer, z: Tensor,
           g_loss: Callable[[Tensor], Tensor], G_train: nn.Module | None = None,
           remedies: Remedies = NO_REMEDIES) -> dict[str, Tensor]:
    """One generator update on fresh noise: descend g_loss(D(G(z))). ``G_train`` as in d_step."""
    D.requires_grad_(False)  # D's parameters get no gradient during the G step
    try:
        fake_logits = _at_least_fp32(D(_noisy((G_train or G)(z), remedies.instance_noise)))
        loss_G = g_loss(fake_logits)
        opt_G.zero_grad(set_to_none=True)
        loss_G.backward()
        opt_G.step()
    finally:
        D.requires_grad_(True)
    return {"Loss/G": loss_G.detach()}


def simultaneous_step(G: nn.Module, D: nn.Module, opt_G: torch.optim.Optimizer,
                      opt_D: torch.optim.Optimizer, x_real: Tensor, z: Tensor,
                      objective: Objective = GAN, G_train: nn.Module | None = None,
                      D_train: nn.Module | None = None, remedies: Remedies = NO_REMEDIES
                      ) -> dict[str, Tensor]:
    """The authors' code's update: D's and G's gradients from ONE forward pass (same z, same
    dropout masks), both applied at once. Not Algorithm 1 as printed; see docs/paper.md."""
    x_fake = (G_train or G)(z)
    loss_D, real_logits, fake_logits = d_objective(D_train or D, x_real, x_fake, remedies, objective)
    loss_G = objective.g_loss(fake_logits)
    opt_D.zero_grad(set_to_none=True)
    opt_G.zero_grad(set_to_none=True)
    # Each loss reaches only its own player's parameters (backward(inputs=...)): D's gradient of
    # loss_D and G's gradient of loss_G, both at the current parameters.
    loss_D.backward(inputs=list(D.parameters()), retain_graph=True)
    loss_G.backward(inputs=list(G.parameters()))
    opt_D.step()
    opt_G.step()
    return {"Loss/D": loss_D.detach(), "Loss/G": loss_G.detach(),
            "real_logits": real_logits.detach(), "fake_logits": fake_logits.detach()}


def training_iteration(G: nn.Module, D: nn.Module, opt_G: torch.optim.Optimizer,
                       opt_D: torch.optim.Optimizer, next_real: Callable[[], Tensor],
                       next_noise: Callable[[], Tensor], objective: Objective = GAN,
                       k: int = 1, schedule: str = "alternating",
                       G_train: nn.Module | None = None, D_train: nn.Module | None = None,
                       remedies: Remedies = NO_REMEDIES) -> dict[str, Tensor]:
    """One iteration of Algorithm 1 (or of the authors' simultaneous schedule).

    alternating: k times {m real examples, m fresh noise vectors, update D}; then m fresh noise
    vectors, update G. simultaneous: k - 1 D-only updates, then one joint update of D and G.
    Returns detached statistics of the last D update and of the G update. ``G_train`` and
    ``D_train`` are DistributedDataParallel wrappers in a distributed run.
    """
    stats: dict[str, Tensor] = {}
    d_updates = k if schedule == "alternating" else k - 1
    for _ in range(d_updates):  # Algorithm 1: k steps of D ...
        stats = d_step(G, D, opt_D, next_real(), next_noise(), D_train, remedies, objective)
    if schedule == "alternating":  # ... then one step of G on fresh noise
        stats.update(g_step(G, D, opt_G, next_noise(), objective.g_loss, G_train, remedies))
    else:
        stats = simultaneous_step(G, D, opt_G, opt_D, next_real(), next_noise(), objective, G_train,
                                  D_train, remedies)
    stats.update(d_output_stats(stats.pop("real_logits"), stats.pop("fake_logits"), objective))
    return stats


def d_output_stats(real_out: Tensor, fake_out: Tensor, objective: Objective = GAN
                   ) -> dict[str, Tensor]:
    """What D's outputs say, as logged: D's probabilities D(x) and D(G(z)) (1/2 at Theorem 1's
    equilibrium) where the objective has them; a critic's mean scores f(x), f(G(z)) otherwise
    (their gap, not their values, goes to 0 at the equilibrium)."""
    if objective.probability is None:
        return {"Critic/f(x)": real_out.mean(), "Critic/f(G(z))": fake_out.mean()}
    return {"Prob/D(x)": objective.probability(real_out).mean(),
            "Prob/D(G(z))": objective.probability(fake_out).mean()}
