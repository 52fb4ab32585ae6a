"""Gradient penalties on D (remedies for non-convergence, docs/benchmarks.md section 4)."""

from __future__ import annotations

import torch


def input_gradient(outputs: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """d(sum of D's outputs)/d(inputs), keeping the graph so that a penalty on it can itself be
    differentiated (its gradient reaches D's weights). ``inputs`` must require grad."""
    (grad,) = torch.autograd.grad(outputs.sum(), inputs, create_graph=True)
    return grad


def gradient_penalty(logits: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """E ||grad_x l(x)||^2: the R1 (real inputs) / R2 (fake inputs) penalty of Mescheder et al.
    (2018), weighted by gamma / 2 in D's loss."""
    return input_gradient(logits, inputs).pow(2).flatten(1).sum(1).mean()
