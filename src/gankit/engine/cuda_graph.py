"""The whole training iteration in one CUDA graph (``--cuda-graph``; GPU only).

The paper's MLPs on a GPU are bound by kernel launches, not arithmetic: an iteration is a few
hundred small kernels, each launched by Python. A CUDA graph records them once and replays them with
one launch (PyTorch's ``torch.cuda.graphs``, "whole-network capture"): D's k updates and G's update,
their forward and backward passes, the losses, dropout and the optimisers' steps.

What stays outside the graph, each iteration: drawing the minibatches and noise (each member's own
data order and noise stream, copied into the graph's fixed input buffers), the learning rates of the
schedules (written into the optimisers' learning-rate tensors), G's weight average, and the
bookkeeping between iterations. None of these waits for the GPU: statistics are read back only at
log steps. The first iterations run eagerly (their results are real training steps), then the graph
is captured; it is captured again when a value it holds as a constant changes (SGD's momentum, at
most once an epoch during the paper's ramp).

Limits, refused before training: instance noise (its per-step std would be a constant of the
graph). Dropout masks come from the GPU's global generator for all members at once
(:meth:`MemberRandom.shared`, the only generator a graph replays), so members are statistically
but not bitwise their lone runs.
"""

from __future__ import annotations

from typing import Sequence

import torch

from gankit.algorithm1 import Remedies
from gankit.engine.stacked_step import StackedStep, per_member
from gankit.nets.stacked import MemberRandom

Tensor = torch.Tensor
#: Iterations run eagerly before the capture (they allocate the optimisers' state and let
#: cuDNN/cuBLAS choose their kernels, as the capture requires).
WARMUP = 3


class GraphedStep:
    """Replays a captured :class:`StackedStep` iteration; the same interface (``iterate``)."""

    def __init__(self, step: StackedStep):
        self.step = step
        random = MemberRandom.shared()
        step.random = step.G.random = step.D.random = random
        self.device = step.states[0].device
        self.side = torch.cuda.Stream(self.device)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.constants: tuple | None = None
        self.inputs: list[Tensor] = []
        self.outputs: dict[str, Tensor] = {}
        self.iterations = 0
        for st in step.states:  # learning rates become tensors the schedules write into
            for opt in (st.opt_G, st.opt_D):
                for group in opt.param_groups:
                    group["lr"] = torch.tensor(float(group["lr"]), device=self.device)
                    if "capturable" in group:  # Adam, RMSprop: their step count on the GPU
                        group["capturable"] = True
                opt._warned_capturable_if_run_uncaptured = True  # the warm-up runs uncaptured

    def _constants(self, remedies: Sequence[Remedies]) -> tuple:
        """What the graph holds as constants: a change means a new capture."""
        momenta = tuple(group.get("momentum") for st in self.step.states
                        for opt in (st.opt_G, st.opt_D) for group in opt.param_groups)
        return momenta, tuple(remedies)

    def iterate(self, remedies: Sequence[Remedies]) -> list[dict[str, Tensor]]:
        inputs = self.step.draw_inputs()
        M = len(self.step.states)
        if self.iterations < WARMUP:  # eager, on a side stream (as the capture needs)
            self.side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(self.side):
                stats = self.step.compute(remedies, inputs)
            torch.cuda.current_stream(self.device).wait_stream(self.side)
            self.iterations += 1
            return per_member(stats, M)
        constants = self._constants(remedies)
        if self.graph is None or constants != self.constants:
            self._capture(remedies, inputs)
            self.constants = constants
        for buffer, x in zip(self.inputs, inputs):
            buffer.copy_(x, non_blocking=True)
        self.graph.replay()
        self.iterations += 1
        return per_member(self.outputs, M)

    def _capture(self, remedies: Sequence[Remedies], inputs: Sequence[Tensor]) -> None:
        self.inputs = [x.clone() for x in inputs]
        torch.cuda.synchronize(self.device)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.outputs = self.step.compute(remedies, self.inputs)
