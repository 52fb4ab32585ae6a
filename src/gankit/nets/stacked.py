"""M networks of one architecture as one stacked network: many GANs trained at once.

:class:`Stacked` takes M built networks (G_1..G_M, or D_1..D_M) and moves their parameters and
buffers into stacked tensors with a leading member dimension ``[M, ...]``; each member's own module
keeps working, its parameters now *views* of row i of the stacked ones (no copy). So an optimiser,
a checkpoint, a sample grid or an export of member i reads and writes exactly that member, while the
stacked forward pass computes all members at once:

- linear layers as one batched matmul (``baddbmm``) over ``[M, N, features]``;
- convolutions as one grouped convolution over ``[N, M * channels, H, W]`` (``groups = M``);
- BatchNorm over the ``M * channels`` of that layout, so each member keeps its own statistics;
- dropout with each member's mask drawn from that member's own generator (:class:`MemberRandom`),
  in the order a lone run draws it, so member i sees the masks of a lone run with its seed.

With M = 1 every layer makes the call a lone network makes, so a group of one computes what a lone
run computes, bit for bit. Networks know nothing of training.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from gankit.nets.conv import ConvDiscriminator, ConvGenerator
from gankit.nets.layers import Dropout, Maxout, Packed
from gankit.nets.mlp import Discriminator, Generator, LogitInput

Tensor = torch.Tensor

#: Parameter-free element-wise modules (every G activation and input map): applied to stacked
#: tensors as they are.
ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.Tanh, nn.Sigmoid, nn.Identity, LogitInput)


class Unsupported(ValueError):
    """A network (or a layer of it) that has no stacked form yet; the message names it."""


class MemberRandom:
    """Each member's own stream for what a lone run draws from PyTorch's global generator
    (dropout masks, instance noise): generator i starts where member i's lone run would be after
    building its networks, so member i draws the numbers its lone run draws, in the same order.

    ``MemberRandom.shared()`` draws every member's numbers from the global generator in one call
    instead: what a CUDA graph can capture (it replays the default generator only). The members'
    masks are then as random, but no longer their lone runs'.
    """

    def __init__(self, generators: Sequence[torch.Generator] | None):
        self.generators = list(generators) if generators is not None else None

    @classmethod
    def shared(cls) -> "MemberRandom":
        return cls(None)

    def uniform(self, M: int, shape: Sequence[int], device: torch.device) -> Tensor:
        """``[M, *shape]`` of U(0, 1), row i from member i's stream (as ``torch.empty(shape).uniform_()``)."""
        if self.generators is None:
            return torch.empty((M, *shape), device=device).uniform_()
        return torch.stack([torch.empty(tuple(shape), device=device).uniform_(generator=g)
                            for g in self.generators])


class Stacked(nn.Module):
    """The stacked form of M networks of one architecture (see the module's docstring).

    ``stacked(x)`` maps ``[M, N, ...]`` to ``[M, N, ...]`` (G: samples; D: logits ``[M, N]``).
    ``members`` are the M original modules, whose parameters and buffers are now views of this
    module's. ``collect_grads()`` points each member parameter's ``.grad`` at its row of the
    stacked gradient, so each member's own optimiser can step it.
    """

    def __init__(self, members: Sequence[nn.Module], random: MemberRandom | None = None):
        super().__init__()
        # plain attributes, not submodules: this module's parameters are the stacked ones only
        self.__dict__["members"] = list(members)
        self.__dict__["template"] = self.members[0]
        self.M = len(self.members)
        self.random = random
        names = [n for n, _ in self.template.named_parameters()]
        for net in self.members[1:]:
            if [n for n, _ in net.named_parameters()] != names:
                raise Unsupported("the members' networks differ in shape: stack networks of one "
                                  "architecture")
        self._params: dict[str, nn.Parameter] = {}
        self._buffers_stacked: dict[str, Tensor] = {}
        for name, _ in self.template.named_parameters():
            rows = [net.get_parameter(name).detach() for net in self.members]
            stacked = nn.Parameter(torch.stack(rows))
            self._params[name] = stacked
            self.register_parameter(name.replace(".", "__"), stacked)
            for i, net in enumerate(self.members):
                _set(net, name, nn.Parameter(stacked[i]), parameter=True)
        for name, _ in self.template.named_buffers():
            stacked = torch.stack([net.get_buffer(name).detach() for net in self.members])
            self._buffers_stacked[name] = stacked
            self.register_buffer(name.replace(".", "__"), stacked)
            for i, net in enumerate(self.members):
                _set(net, name, stacked[i], parameter=False)
        self._rows = [(stacked, [net.get_parameter(name) for net in self.members])
                      for name, stacked in self._params.items()]
        self._forward = _plan(self.template, self)

    # --- the parameters of one submodule of the template, stacked --------------------------------
    def param(self, module: nn.Module, name: str) -> Tensor | None:
        full = self._qualified[id(module)] + name
        return self._params.get(full)

    def buffer(self, module: nn.Module, name: str) -> Tensor | None:
        return self._buffers_stacked.get(self._qualified[id(module)] + name)

    @property
    def _qualified(self) -> dict[int, str]:
        if not hasattr(self, "_prefixes"):
            self._prefixes = {id(m): (n + "." if n else "") for n, m in self.template.named_modules()}
        return self._prefixes

    def forward(self, x: Tensor, groups: int = 1) -> Tensor:
        return self._forward(x, groups)

    def collect_grads(self) -> None:
        """Each member parameter's ``.grad`` <- its row of the stacked gradient (a view)."""
        for stacked, rows in self._rows:
            for i, p in enumerate(rows):
                p.grad = None if stacked.grad is None else stacked.grad[i]

    def zero_grad_stacked(self) -> None:
        for stacked in self._params.values():
            stacked.grad = None

    def train(self, mode: bool = True) -> "Stacked":
        for net in self.members:
            net.train(mode)
        return super().train(mode)


def _set(net: nn.Module, name: str, value: Tensor, parameter: bool) -> None:
    owner_name, _, leaf = name.rpartition(".")
    owner = net.get_submodule(owner_name) if owner_name else net
    if parameter:
        owner._parameters[leaf] = value  # keeps parametrizations' and hooks' bookkeeping
    else:
        owner._buffers[leaf] = value


# --- the stacked forward pass, planned once from the template's layers ------------------------------

Forward = Callable[..., Tensor]


def _plan(template: nn.Module, s: Stacked) -> Forward:
    """The stacked forward of the whole network (G or D)."""
    if isinstance(template, Packed):
        inner = _plan(template.D, s)
        pack = template.pack

        def packed(x: Tensor, groups: int = 1) -> Tensor:
            M, N = x.shape[:2]  # consecutive examples side by side, as Packed does per member
            return inner(x.reshape(M, N // pack, pack * x.shape[2], *x.shape[3:]), groups)
        return packed
    if isinstance(template, Generator):
        return _mlp_generator(template, s)
    if isinstance(template, Discriminator):
        return _mlp_discriminator(template, s)
    if isinstance(template, ConvGenerator):
        return _conv_generator(template, s)
    if isinstance(template, ConvDiscriminator):
        return _conv_discriminator(template, s)
    raise Unsupported(f"{type(template).__name__} has no stacked form")


def _mlp_generator(G: Generator, s: Stacked) -> Forward:
    hidden = _vector_layers(list(G.hidden), s)
    out = _linear(G.out, s)

    def forward(z: Tensor, groups: int = 1) -> Tensor:
        x = out(hidden(G.input_map(z)))
        if G.sigmoid_output:
            x = torch.sigmoid(x)
        return x.view(*z.shape[:2], *G.out_shape)
    return forward


def _mlp_discriminator(D: Discriminator, s: Stacked) -> Forward:
    if D.minibatch is not None:
        raise Unsupported("minibatch discrimination has no stacked form yet")
    hidden = _vector_layers(list(D.hidden), s)
    out = _linear(D.out, s)

    def forward(x: Tensor, groups: int = 1) -> Tensor:
        return out(hidden(x.flatten(2))).squeeze(2)  # [M, N] logits
    return forward


def _vector_layers(layers: list[nn.Module], s: Stacked) -> Forward:
    """A stack of layers on ``[M, N, features]``."""
    steps = [_vector_layer(m, s) for m in layers]

    def forward(x: Tensor) -> Tensor:
        for step in steps:
            x = step(x)
        return x
    return forward


def _vector_layer(m: nn.Module, s: Stacked) -> Forward:
    if _parametrized(m):
        raise Unsupported(f"a parametrized {type(m).__name__} (spectral norm) has no stacked form yet")
    if isinstance(m, nn.Linear):
        return _linear(m, s)
    if isinstance(m, Maxout):
        linear = _linear(m.linear, s)
        return lambda x: linear(x).view(*x.shape[:2], m.units, m.pieces).max(dim=3).values
    if isinstance(m, Dropout):
        return _dropout(m, s)
    if isinstance(m, nn.BatchNorm1d):
        norm = _batchnorm(m, s)

        def batchnorm1d(x: Tensor) -> Tensor:  # [M, N, C] -> [N, M * C] -> back
            M, N, C = x.shape
            return norm(x.transpose(0, 1).reshape(N, M * C)).view(N, M, C).transpose(0, 1)
        return batchnorm1d
    if isinstance(m, ELEMENTWISE):
        return m
    raise Unsupported(f"{type(m).__name__} has no stacked form yet")


def _parametrized(m: nn.Module) -> bool:
    return hasattr(m, "parametrizations")


def _linear(m: nn.Linear, s: Stacked) -> Forward:
    """[M, N, in] -> [M, N, out]: one batched matmul (a lone run's own call when M = 1)."""
    if _parametrized(m):
        raise Unsupported("a spectrally normalised layer has no stacked form yet")
    W, b = s.param(m, "weight"), s.param(m, "bias")

    def forward(x: Tensor) -> Tensor:
        if x.shape[0] == 1 or W.shape[1] == 1:  # D's last layer: a lone run's call per member
            # (a batched matmul with one output column takes another BLAS path: not bitwise)
            return torch.stack([F.linear(x[i], W[i], None if b is None else b[i])
                                for i in range(x.shape[0])])
        if b is None:
            return torch.bmm(x, W.transpose(1, 2))
        return torch.baddbmm(b.unsqueeze(1).to(x.dtype), x, W.transpose(1, 2).to(x.dtype))
    return forward


def _dropout(m: Dropout, s: Stacked) -> Forward:
    """The lone :class:`Dropout`'s mask (uniforms >= p, scaled), each member from its own stream."""

    def forward(x: Tensor) -> Tensor:
        if not m.training or m.p == 0:
            return x
        if m.p == 1:
            return x * 0
        if s.random is None:
            raise Unsupported("stacked dropout needs the members' random streams")
        mask = s.random.uniform(x.shape[0], x.shape[1:], x.device).ge_(m.p)
        return x * mask.mul_(1.0 / (1.0 - m.p)).to(x.dtype)
    return forward


def _batchnorm(m: nn.modules.batchnorm._BatchNorm, s: Stacked) -> Forward:
    """BatchNorm over ``[N, M * C, ...]``: member i's channels are its own C, with its own
    statistics (the stacked running buffers are contiguous, so their flat views are the members')."""
    weight, bias = s.param(m, "weight"), s.param(m, "bias")
    mean, var = s.buffer(m, "running_mean"), s.buffer(m, "running_var")
    tracked = s.buffer(m, "num_batches_tracked")

    def forward(x: Tensor) -> Tensor:
        training = m.training or mean is None
        if m.training and tracked is not None:
            tracked.add_(1)
        factor = m.momentum if m.momentum is not None else 1.0 / float(tracked[0])
        return F.batch_norm(x, None if mean is None else mean.view(-1),
                            None if var is None else var.view(-1),
                            None if weight is None else weight.reshape(-1),
                            None if bias is None else bias.reshape(-1),
                            training, factor, m.eps)
    return forward


# --- conv nets: [M, N, C, H, W] <-> [N, M * C, H, W], grouped convolutions ------------------------

def to_channels(x: Tensor) -> Tensor:
    """``[M, N, C, H, W]`` -> ``[N, M * C, H, W]`` (a copy only when M > 1)."""
    M, N, C = x.shape[:3]
    return x[0] if M == 1 else x.transpose(0, 1).reshape(N, M * C, *x.shape[3:])


def from_channels(x: Tensor, M: int) -> Tensor:
    N, MC = x.shape[:2]
    if M == 1:
        return x.unsqueeze(0)
    return x.view(N, M, MC // M, *x.shape[2:]).transpose(0, 1)


def _conv_layers(layers: list[nn.Module], s: Stacked) -> Forward:
    steps = []
    for m in layers:
        if _parametrized(m):
            raise Unsupported("a spectrally normalised convolution has no stacked form yet")
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            steps.append(_conv(m, s))
        elif isinstance(m, nn.BatchNorm2d):
            steps.append(_batchnorm(m, s))
        elif isinstance(m, ELEMENTWISE):
            steps.append(m)
        else:
            raise Unsupported(f"{type(m).__name__} has no stacked form yet")

    def forward(x: Tensor) -> Tensor:
        for step in steps:
            x = step(x)
        return x
    return forward


def _conv(m: nn.Conv2d | nn.ConvTranspose2d, s: Stacked) -> Forward:
    """One grouped convolution for all members (``groups = M``): member i's filters see only its
    own input channels. Weights [M, a, b, k, k] -> [M * a, b, k, k], as grouped convs lay them out."""
    W, b = s.param(m, "weight"), s.param(m, "bias")
    transposed = isinstance(m, nn.ConvTranspose2d)

    def forward(x: Tensor) -> Tensor:
        M = W.shape[0]
        weight = W.reshape(M * W.shape[1], *W.shape[2:])
        bias = None if b is None else b.reshape(-1)
        if transposed:
            return F.conv_transpose2d(x, weight, bias, m.stride, m.padding, m.output_padding, M,
                                      m.dilation)
        return F.conv2d(x, weight, bias, m.stride, m.padding, m.dilation, M)
    return forward


def _conv_generator(G: ConvGenerator, s: Stacked) -> Forward:
    project = _linear(G.project, s)
    hidden = _conv_layers(list(G.hidden), s)
    out = _conv_layers([G.out], s)

    def forward(z: Tensor, groups: int = 1) -> Tensor:
        M, N = z.shape[:2]
        x = project(z).view(M, N, G.c0, G.base, G.base)
        return from_channels(torch.sigmoid(out(hidden(to_channels(x)))), M)
    return forward


def _conv_discriminator(D: ConvDiscriminator, s: Stacked) -> Forward:
    hidden = _conv_layers(list(D.hidden), s)
    out = _linear(D.out, s)

    def forward(x: Tensor, groups: int = 1) -> Tensor:
        M = x.shape[0]
        h = from_channels(hidden(to_channels(x)), M)  # [M, N, C, b, b]
        return out(h.flatten(2)).squeeze(2)
    return forward
