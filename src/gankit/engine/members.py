"""Many GANs in one process: M member engines driven by one stacked step.

Each member is an :class:`~gankit.engine.loop.Engine` with its own config (seed, swept values),
state and callbacks, so everything a lone run does between iterations (logging, snapshots,
checkpoints, the end-of-run report) is done per member by the same code. Only the iteration
itself is shared: :class:`~gankit.engine.stacked_step.StackedStep` updates all members at once.

What a lone run draws from PyTorch's global generator (dropout masks, instance noise, anything a
callback draws) member i draws from its own stream, swapped in around its callbacks, so that its
checkpoints hold the random state its lone run would hold there and resume like one (Python's and
numpy's generators, which gankit does not use, are swapped around the hooks of steps that log,
snapshot or end; a callback's ``on_step`` that draws from them shares them). A member whose
loss or weights become NaN/Inf is stopped and reported; the others go on.
"""

from __future__ import annotations

import random
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from gankit.config import Config
from gankit.data import Dataset
from gankit.engine.loop import Engine, StopFlag, TrainingDiverged, autocast
from gankit.engine.cuda_graph import GraphedStep
from gankit.engine.stacked_step import StackedStep
from gankit.engine.state import TrainingState, build_state
from gankit.nets.stacked import MemberRandom


@dataclass
class MemberRandomState:
    """A member's stand-ins for the global generators (torch's CPU one, and the GPU's when the
    member trains there; Python's and numpy's)."""

    torch_gen: torch.Generator
    python: Any = None
    numpy: Any = None
    cuda_gen: torch.Generator | None = None

    @classmethod
    def capture(cls, device: torch.device = torch.device("cpu")) -> "MemberRandomState":
        gen = torch.Generator()
        gen.set_state(torch.get_rng_state())
        cuda_gen = None
        if device.type == "cuda":
            cuda_gen = torch.Generator(device=device)
            cuda_gen.set_state(torch.cuda.get_rng_state(device))
        return cls(gen, random.getstate(), np.random.get_state(), cuda_gen)

    @property
    def device_gen(self) -> torch.Generator:
        """The stream of the member's device: what its dropout masks and instance noise use."""
        return self.cuda_gen if self.cuda_gen is not None else self.torch_gen


@contextmanager
def member_globals(rs: MemberRandomState, everything: bool = True) -> Iterator[None]:
    """The global generators are member i's inside the block (and its streams keep what the block
    drew); the caller's are put back after. ``everything=False`` swaps torch's only (Python's and
    numpy's take ~0.4 ms a member: too slow for every step of a small net)."""
    cuda = rs.cuda_gen.device if rs.cuda_gen is not None else None
    saved_torch = torch.get_rng_state()
    saved_cuda = torch.cuda.get_rng_state(cuda) if cuda is not None else None
    if everything:
        saved_py, saved_np = random.getstate(), np.random.get_state()
        random.setstate(rs.python)
        np.random.set_state(rs.numpy)
    torch.set_rng_state(rs.torch_gen.get_state())
    if cuda is not None:
        torch.cuda.set_rng_state(rs.cuda_gen.get_state(), cuda)
    try:
        yield
    finally:
        rs.torch_gen.set_state(torch.get_rng_state())
        torch.set_rng_state(saved_torch)
        if cuda is not None:
            rs.cuda_gen.set_state(torch.cuda.get_rng_state(cuda))
            torch.cuda.set_rng_state(saved_cuda, cuda)
        if everything:
            rs.python, rs.numpy = random.getstate(), np.random.get_state()
            random.setstate(saved_py)
            np.random.set_state(saved_np)


def build_member_states(configs: Sequence[Config], dataset: Dataset,
                        device: torch.device = torch.device("cpu")
                        ) -> tuple[list[TrainingState], list[MemberRandomState]]:
    """Each member's state exactly as a lone run builds it from its config, and its random
    streams as they stand after the build (where the lone run's next draw would come from)."""
    states, streams = [], []
    saved = torch.get_rng_state(), random.getstate(), np.random.get_state()
    try:
        for config in configs:
            states.append(build_state(config, dataset, device=device))
            streams.append(MemberRandomState.capture(device))
    finally:
        torch.set_rng_state(saved[0])
        random.setstate(saved[1])
        np.random.set_state(saved[2])
    return states, streams


@dataclass
class MemberOutcome:
    """How a member ended: ``None`` (ran to its end or a Ctrl-C), or the error that stopped it."""

    error: BaseException | None = None
    closed: bool = False


class Group:
    """M member engines of one architecture, trained together (``run()``).

    Building the group stacks the members' networks and rebuilds their optimisers (whose
    parameters are then rows of the stacked weights): restore a checkpoint (resume) after that.
    """

    def __init__(self, engines: Sequence[Engine], streams: Sequence[MemberRandomState]):
        self.engines, self.streams = list(engines), list(streams)
        first = self.engines[0].config
        self.step_fn = StackedStep([e.state for e in self.engines], self.engines[0].objective,
                                   first.k, first.schedule, first.batch,
                                   [e.config for e in self.engines],
                                   MemberRandom([rs.device_gen for rs in self.streams]))
        if first.cuda_graph and self.engines[0].state.device.type == "cuda":
            self.step_fn = GraphedStep(self.step_fn)
        self.outcomes = [MemberOutcome() for _ in self.engines]
        self.interrupted = False

    @property
    def active(self) -> list[int]:
        return [i for i, o in enumerate(self.outcomes) if o.error is None and not o.closed]

    def _member(self, i: int, hook: str, *args: Any) -> Any:
        """A member engine's method, with the member's random streams as the global ones (Python's
        and numpy's too on steps that log, snapshot or end: the hooks that might draw from them);
        a divergence stops this member only."""
        engine = self.engines[i]
        cfg, step = engine.config, engine.state.step
        everything = (hook != "after_iteration" or step % cfg.log_every == 0
                      or step % cfg.snapshot_every == 0 or step >= cfg.steps or bool(getattr(args[-1], "requested", True)))
        with member_globals(self.streams[i], everything):
            try:
                return getattr(engine, hook)(*args)
            except TrainingDiverged as e:
                self.outcomes[i].error = e
                try:
                    engine._close(failing=True)  # its status: diverged (sys.exc_info is set here)
                finally:
                    self.outcomes[i].closed = True
                print(f"gankit: member {i} ({engine.run_dir or 'no folder'}): {e}; the other "
                      f"members go on", file=sys.stderr)
                return True

    def run(self) -> "Group":
        ended = False
        try:
            with StopFlag() as stop:
                for i, engine in enumerate(self.engines):
                    engine.t_start = time.perf_counter() - engine.state.elapsed
                    self._member(i, "_call", "on_start")
                while self.active:
                    running = self.active
                    for i in running:
                        self.engines[i].begin_iteration()
                    first = self.engines[0]
                    with autocast(first.config, first.state.device):
                        stats = self.step_fn.iterate([e.remedies() for e in self.engines])
                    done = []
                    # one answer for every member this step: they stop together, so no member's
                    # weights move on after its last checkpoint
                    stop_now = SimpleNamespace(requested=stop.requested)
                    for i in running:
                        self.engines[i].end_iteration()
                        if self._member(i, "after_iteration", stats[i], stop_now):
                            done.append(i)
                    for i in done:
                        if self.outcomes[i].error is None:
                            self._member(i, "_call", "on_end")
                            self._close(i, failing=False)
                    self.interrupted = stop_now.requested
            ended = True
        finally:
            for i in self.active:
                self._close(i, failing=not ended)
        return self

    def _close(self, i: int, failing: bool) -> None:
        if not self.outcomes[i].closed:
            self.outcomes[i].closed = True
            with member_globals(self.streams[i]):
                self.engines[i]._close(failing)
