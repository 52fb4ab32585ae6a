"""Gradient penalties on D (remedies for non-convergence, docs/benchmarks.md section 4)."""

from __future__ import annotations

import torch


def gradient_penalty(logits: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """E ||grad_x l(x)||^2: the R1 (real inputs) / R2 (fake inputs) penalty of Mescheder et al.
    (2018), weighted by gamma / 2 in D's loss. ``inputs`` must require grad; the graph is kept so
    that the penalty itself can be differentiated."""
    (grad,) = torch.autograd.grad(logits.sum(), inputs, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()
