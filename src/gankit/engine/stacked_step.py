"""Algorithm 1 for M GANs at once: the phases of :mod:`gankit.algorithm1` on stacked networks.

Each member is a lone run in everything but the arithmetic's batching: its own minibatches (its own
data order), its own noise, its own dropout masks and instance noise (:class:`MemberRandom`), its
own remedies and its own optimisers (each member's optimiser steps its own rows of the stacked
weights, so learning rates, momentum and Adam's betas may differ per member). The losses are
summed over members: member i's gradient is that of its own loss alone. Per-member losses are the
lone functions called on member i's logits, so they are the lone run's numbers.
"""

from __future__ import annotations

from typing import Sequence

import torch

from gankit.algorithm1 import Remedies, d_output_stats
from gankit.engine.state import TrainingState
from gankit.nets.stacked import MemberRandom, Stacked
from gankit.objectives import Objective, input_gradient
from gankit.optim import build_optimizers

Tensor = torch.Tensor


def _at_least_fp32(x: Tensor) -> Tensor:
    return x.float() if x.dtype in (torch.bfloat16, torch.float16) else x


class StackedStep:
    """One iteration of Algorithm 1 (or the simultaneous schedule) for all members."""

    def __init__(self, states: Sequence[TrainingState], objective: Objective, k: int,
                 schedule: str, batch: int, configs: Sequence, random: MemberRandom):
        self.states, self.objective = list(states), objective
        self.k, self.schedule, self.batch, self.configs = k, schedule, batch, list(configs)
        self.random = random
        self.G = Stacked([st.G for st in self.states], random)
        self.D = Stacked([st.D for st in self.states], random)
        for st, config in zip(self.states, self.configs):  # their parameters are now rows
            st.opt_G, st.opt_D = build_optimizers(config, st.G, st.D)
        if objective.gradient_penalty:
            raise ValueError("WGAN-GP has no stacked form yet")

    # --- the members' inputs ----------------------------------------------------------------------
    def next_real(self) -> Tensor:
        return torch.stack([st.next_real() for st in self.states])

    def next_noise(self) -> Tensor:
        return torch.stack([st.next_noise(self.batch, cfg)
                            for st, cfg in zip(self.states, self.configs)])

    def _noisy(self, x: Tensor, stds: Sequence[float]) -> Tensor:
        """Instance noise, drawn only for members with a std > 0 (as a lone run draws it)."""
        if not any(s > 0 for s in stds):
            return x
        rows = [x[i] + s * torch.randn(x.shape[1:], device=x.device, dtype=x.dtype, generator=g)
                if s > 0 else x[i] for i, (s, g) in enumerate(zip(stds, self.random.generators))]
        return torch.stack(rows)

    # --- the phases --------------------------------------------------------------------------------
    def d_objective(self, x_real: Tensor, x_fake: Tensor, remedies: Sequence[Remedies]
                    ) -> tuple[Tensor, Tensor, Tensor]:
        """(losses [M], real_logits [M, n], fake_logits [M, n]) as algorithm1.d_objective, per member."""
        x_real = self._noisy(x_real, [r.instance_noise for r in remedies])
        x_fake = self._noisy(x_fake, [r.instance_noise for r in remedies])
        r1 = any(r.r1_gamma > 0 for r in remedies)
        r2 = any(r.r2_gamma > 0 for r in remedies)
        if r1:
            x_real = x_real.detach().requires_grad_(True)
        if r2:
            x_fake = x_fake.detach().requires_grad_(True)
        x = torch.cat([x_real, x_fake.to(x_real.dtype)], dim=1)
        logits = self.D(x)
        n_real = logits.shape[1] * x_real.shape[1] // x.shape[1]  # packed D: a logit per pack
        real, fake = _at_least_fp32(logits[:, :n_real]), _at_least_fp32(logits[:, n_real:])
        losses = [self.objective.d_loss(real[i], fake[i], 1.0 - r.label_smoothing)
                  for i, r in enumerate(remedies)]
        for on, attr, out, inp in ((r1, "r1_gamma", real, x_real), (r2, "r2_gamma", fake, x_fake)):
            if on:
                grad = input_gradient(out, inp)  # members are independent: row i is member i's
                for i, r in enumerate(remedies):
                    gamma = getattr(r, attr)
                    if gamma > 0:
                        losses[i] = losses[i] + gamma / 2 * grad[i].pow(2).flatten(1).sum(1).mean()
        return torch.stack(losses), real, fake

    def d_step(self, remedies: Sequence[Remedies], x_real: Tensor, z: Tensor) -> dict[str, Tensor]:
        with torch.no_grad():  # G gets no gradient during the D step
            x_fake = self.G(z)
        losses, real, fake = self.d_objective(x_real, x_fake, remedies)
        self._update(self.D, [st.opt_D for st in self.states], losses)
        return {"Loss/D": losses.detach(), "real_logits": real.detach(), "fake_logits": fake.detach()}

    def g_step(self, remedies: Sequence[Remedies], z: Tensor) -> dict[str, Tensor]:
        self.D.requires_grad_(False)  # D's parameters get no gradient during the G step
        try:
            fake = self._noisy(self.G(z), [r.instance_noise for r in remedies])
            logits = _at_least_fp32(self.D(fake))
            losses = torch.stack([self.objective.g_loss(logits[i]) for i in range(len(remedies))])
            self._update(self.G, [st.opt_G for st in self.states], losses)
        finally:
            self.D.requires_grad_(True)
        return {"Loss/G": losses.detach()}

    def simultaneous_step(self, remedies: Sequence[Remedies], x_real: Tensor, z: Tensor
                          ) -> dict[str, Tensor]:
        """algorithm1.simultaneous_step for all members: both players' gradients from one pass."""
        x_fake = self.G(z)
        losses_D, real, fake = self.d_objective(x_real, x_fake, remedies)
        losses_G = torch.stack([self.objective.g_loss(fake[i]) for i in range(len(remedies))])
        self.D.zero_grad_stacked()
        self.G.zero_grad_stacked()
        losses_D.sum().backward(inputs=list(self.D.parameters()), retain_graph=True)
        losses_G.sum().backward(inputs=list(self.G.parameters()))
        self.D.collect_grads()
        self.G.collect_grads()
        for st in self.states:
            st.opt_D.step()
            st.opt_G.step()
        return {"Loss/D": losses_D.detach(), "Loss/G": losses_G.detach(),
                "real_logits": real.detach(), "fake_logits": fake.detach()}

    @staticmethod
    def _update(net: Stacked, optimizers: Sequence[torch.optim.Optimizer], losses: Tensor) -> None:
        """Member i's gradient is that of its own loss (the sum's gradient in loss i is 1); each
        member's optimiser then steps its own rows."""
        net.zero_grad_stacked()
        losses.sum().backward()
        net.collect_grads()
        for opt in optimizers:
            opt.step()

    def draw_inputs(self) -> list[Tensor]:
        """Every minibatch and noise batch of one iteration, in the order a lone run draws them:
        (x, z) per D update, then z for G (or (x, z) for the simultaneous update)."""
        inputs: list[Tensor] = []
        for _ in range(self.k if self.schedule == "alternating" else self.k - 1):
            inputs += [self.next_real(), self.next_noise()]
        if self.schedule == "alternating":
            inputs.append(self.next_noise())
        else:
            inputs += [self.next_real(), self.next_noise()]
        return inputs

    def compute(self, remedies: Sequence[Remedies], inputs: Sequence[Tensor]) -> dict[str, Tensor]:
        """The iteration's updates on drawn inputs; statistics stacked over members."""
        stats: dict[str, Tensor] = {}
        it = iter(inputs)
        for _ in range(self.k if self.schedule == "alternating" else self.k - 1):
            stats = self.d_step(remedies, next(it), next(it))
        if self.schedule == "alternating":
            stats.update(self.g_step(remedies, next(it)))
        else:
            stats = self.simultaneous_step(remedies, next(it), next(it))
        real, fake = stats.pop("real_logits"), stats.pop("fake_logits")
        stats.update(stacked_output_stats(real, fake, self.objective))
        return stats

    def iterate(self, remedies: Sequence[Remedies]) -> list[dict[str, Tensor]]:
        """One iteration for every member; the statistics of member i, as a lone run logs them."""
        return per_member(self.compute(remedies, self.draw_inputs()), len(self.states))


def stacked_output_stats(real: Tensor, fake: Tensor, objective: Objective) -> dict[str, Tensor]:
    """algorithm1.d_output_stats of each member, stacked: ``[M]`` per statistic."""
    rows = [d_output_stats(real[i], fake[i], objective) for i in range(len(real))]
    return {key: torch.stack([row[key] for row in rows]) for key in rows[0]}


def per_member(stats: dict[str, Tensor], M: int) -> list[dict[str, Tensor]]:
    return [{key: v[i] for key, v in stats.items()} for i in range(M)]
