"""Algorithm 1 of the paper: k discriminator steps, then one generator step.

Each function is one phase, with the paper's names. They take callables for the two sources of
randomness (``next_real()`` -> m examples, ``next_noise()`` -> m noise vectors), so a test can count
exactly what each phase consumed.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .losses import d_loss

Tensor = torch.Tensor


def _d_on_both(D: nn.Module, x_real: Tensor, x_fake: Tensor) -> tuple[Tensor, Tensor]:
    """D on real and fake examples in ONE forward pass: half the per-op overhead, one larger matmul
    per layer, and a single forward per backward as DistributedDataParallel requires. Each example
    still gets its own dropout mask, so this is the same computation as two calls."""
    logits = D(torch.cat([x_real, x_fake.to(x_real.dtype)]))
    return logits[:len(x_real)], logits[len(x_real):]


def d_step(G: nn.Module, D: nn.Module, opt_D: torch.optim.Optimizer, x_real: Tensor, z: Tensor,
           D_train: nn.Module | None = None) -> dict[str, Tensor]:
    """One discriminator update: ascend (1/m) sum [log D(x) + log(1 - D(G(z)))].

    ``D_train`` is the module to run for the update (a DistributedDataParallel wrapper of D, which
    averages the gradients across ranks); by default D itself.
    """
    with torch.no_grad():  # G gets no gradient during the D step
        x_fake = G(z)
    real_logits, fake_logits = _d_on_both(D_train or D, x_real, x_fake)
    loss_D = d_loss(real_logits, fake_logits)
    opt_D.zero_grad(set_to_none=True)
    loss_D.backward()
    opt_D.step()
    return {"Loss/D": loss_D.detach(), "real_logits": real_logits.detach(),
            "fake_logits": fake_logits.detach()}


def g_step(G: nn.Module, D: nn.Module, opt_G: torch.optim.Optimizer, z: Tensor,
           g_loss: Callable[[Tensor], Tensor], G_train: nn.Module | None = None) -> dict[str, Tensor]:
    """One generator update on fresh noise: descend g_loss(D(G(z))). ``G_train`` as in d_step."""
    D.requires_grad_(False)  # D's parameters get no gradient during the G step
    try:
        fake_logits = D((G_train or G)(z))
        loss_G = g_loss(fake_logits)
        opt_G.zero_grad(set_to_none=True)
        loss_G.backward()
        opt_G.step()
    finally:
        D.requires_grad_(True)
    return {"Loss/G": loss_G.detach()}


def simultaneous_step(G: nn.Module, D: nn.Module, opt_G: torch.optim.Optimizer,
                      opt_D: torch.optim.Optimizer, x_real: Tensor, z: Tensor,
                      g_loss: Callable[[Tensor], Tensor], G_train: nn.Module | None = None,
                      D_train: nn.Module | None = None) -> dict[str, Tensor]:
    """The authors' code's update: D's and G's gradients from ONE forward pass (same z, same
    dropout masks), both applied at once. Not Algorithm 1 as printed; see docs/paper.md."""
    x_fake = (G_train or G)(z)
    real_logits, fake_logits = _d_on_both(D_train or D, x_real, x_fake)
    loss_D = d_loss(real_logits, fake_logits)
    loss_G = g_loss(fake_logits)
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
                       next_noise: Callable[[], Tensor], g_loss: Callable[[Tensor], Tensor],
                       k: int = 1, schedule: str = "alternating",
                       G_train: nn.Module | None = None, D_train: nn.Module | None = None
                       ) -> dict[str, Tensor]:
    """One iteration of Algorithm 1 (or of the authors' simultaneous schedule).

    alternating: k times {m real examples, m fresh noise vectors, update D}; then m fresh noise
    vectors, update G. simultaneous: k - 1 D-only updates, then one joint update of D and G.
    Returns detached statistics of the last D update and of the G update. ``G_train`` and
    ``D_train`` are DistributedDataParallel wrappers in a distributed run.
    """
    stats: dict[str, Tensor] = {}
    d_updates = k if schedule == "alternating" else k - 1
    for _ in range(d_updates):  # Algorithm 1: k steps of D ...
        stats = d_step(G, D, opt_D, next_real(), next_noise(), D_train)
    if schedule == "alternating":  # ... then one step of G on fresh noise
        stats.update(g_step(G, D, opt_G, next_noise(), g_loss, G_train))
    else:
        stats = simultaneous_step(G, D, opt_G, opt_D, next_real(), next_noise(), g_loss, G_train,
                                  D_train)
    real_logits, fake_logits = stats.pop("real_logits"), stats.pop("fake_logits")
    stats["Prob/D(x)"] = torch.sigmoid(real_logits).mean()
    stats["Prob/D(G(z))"] = torch.sigmoid(fake_logits).mean()
    return stats
