"""Optimisers and the paper's schedules (authors' mnist.yaml, pylearn2 semantics).

- Learning rate: ExponentialDecay — lr_t = max(lr_0 / decay^t, lr_min) after t minibatch updates,
  times the factor of ``config.lr_schedule`` (gankit's, not the paper's; "constant" = 1).
- Momentum: MomentumAdjustor(start=1, saturate=ramp) — linear from ``momentum`` at epoch 1 to
  ``momentum_final`` at epoch ``ramp``; constant before and after.
"""

from __future__ import annotations

import math

import torch

from gankit.config import Config
from gankit.lr_schedule import parse_lr_schedule
from gankit.nets import max_col_norm_
from gankit.objectives import objective_for


def learning_rate(lr0: float, step: int, config: Config) -> float:
    """The learning rate after ``step`` updates (ExponentialDecay)."""
    if config.lr_decay == 1.0:
        return lr0
    try:
        return max(lr0 / config.lr_decay ** step, config.lr_min)
    except OverflowError:  # decay ** step beyond a float (e.g. 1.000004 after 1.8e8 steps): ~0
        return config.lr_min


def player_learning_rates(step: int, config: Config) -> tuple[float, float]:
    """(lr_G, lr_D) after ``step`` updates: the decayed lr_g and lr_d times lr_schedule's factors."""
    factor_g, factor_d = lr_factors(step, config)
    return (learning_rate(config.lr_g, step, config) * factor_g,
            learning_rate(config.lr_d, step, config) * factor_d)


def lr_factors(step: int, config: Config) -> tuple[float, float]:
    """(G's, D's) multiplier from ``config.lr_schedule`` after ``step`` updates (0-based): the
    product of its pieces."""
    factor_g = factor_d = 1.0
    for kind, args in parse_lr_schedule(config.lr_schedule):
        if kind == "step" and step >= args["at"]:
            factor_g, factor_d = factor_g * args["g"], factor_d * args["d"]
        elif kind == "cosine":  # update step + 1 of config.steps, counted from 1
            f = cosine_factor(step + 1, config.steps, args["start"], args["final"])
            factor_g, factor_d = factor_g * f, factor_d * f
    return factor_g, factor_d


def cosine_factor(step: int, steps: int, start: float, final: float) -> float:
    """1 up to update ``int(start * steps)``, then a half cosine down to ``final`` at update
    ``steps`` (``step`` counts from 1), and ``final`` after it.

    The arithmetic is Figure 1's original ``lr_factor``, in its order, so its runs repeat bit for bit.
    """
    begin = int(steps * start)
    if step <= begin or steps <= begin:
        return 1.0
    t = min((step - begin) / (steps - begin), 1.0)
    return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * t))


def momentum(epoch: int, config: Config) -> float:
    """SGD momentum during ``epoch`` (0-based count of completed epochs; MomentumAdjustor)."""
    start, saturate = 1, config.momentum_ramp_epochs
    if saturate <= start:
        alpha = 1.0 if epoch >= start else 0.0
    else:
        alpha = min(max((epoch - start) / (saturate - start), 0.0), 1.0)
    return config.momentum * (1 - alpha) + config.momentum_final * alpha


def build_optimizers(config: Config, G: torch.nn.Module, D: torch.nn.Module):
    """(opt_G, opt_D) as the config says.

    The fused implementations update all parameters in one kernel: on this CPU fused Adam is ~5x
    faster than the default for-loop Adam (which costs ~1/4 of an iteration of a small GAN).
    """
    if config.optimizer == "sgd":
        make = lambda params, lr: _fused(torch.optim.SGD, params, lr=lr,  # noqa: E731
                                         momentum=config.momentum)
    elif config.optimizer == "rmsprop":  # WGAN's (Arjovsky et al. 2017: momentum-free)
        make = lambda params, lr: _fused(torch.optim.RMSprop, params, lr=lr)  # noqa: E731
    else:
        betas = (config.adam_beta1, config.adam_beta2)
        make = lambda params, lr: _fused(torch.optim.Adam, params, lr=lr, betas=betas)  # noqa: E731
    opt_G, opt_D = make(G.parameters(), config.lr_g), make(D.parameters(), config.lr_d)
    max_norm = getattr(config, "d_max_col_norm", 0.0)
    if max_norm > 0:  # pylearn2's max_col_norm on D (paper-tfd): applied after every D update
        opt_D.register_step_post_hook(lambda opt, args, kwargs: max_col_norm_(D, max_norm))
    if objective_for(config.objective, config.g_loss).weight_clipping:
        clip_weights_(D, config.wgan_clip)  # WGAN: the critic starts inside the box ...
        opt_D.register_step_post_hook(  # ... and stays in it after every update
            lambda opt, args, kwargs: clip_weights_(D, config.wgan_clip))
    return opt_G, opt_D


@torch.no_grad()
def clip_weights_(module: torch.nn.Module, c: float) -> None:
    """WGAN's Lipschitz constraint: every parameter of the critic clipped to [-c, c]."""
    for p in module.parameters():
        p.clamp_(-c, c)


def _fused(cls, params, **kw) -> torch.optim.Optimizer:
    params = list(params)
    try:
        return cls(params, fused=True, **kw)
    except (RuntimeError, TypeError, ValueError):  # an older torch or a device without fused kernels
        return cls(params, **kw)


def apply_schedules(config: Config, opt_G, opt_D, step: int, epoch: int) -> dict[str, float]:
    """Set the scheduled learning rates (and SGD momentum) for this step; return them for logging."""
    lr_g, lr_d = player_learning_rates(step, config)
    values = {"LR/G": lr_g, "LR/D": lr_d}
    mom = momentum(epoch, config) if config.optimizer == "sgd" else None
    for opt, lr in ((opt_G, lr_g), (opt_D, lr_d)):
        for group in opt.param_groups:
            if isinstance(group["lr"], torch.Tensor):  # a CUDA graph reads it: written in place
                group["lr"].fill_(lr)
            else:
                group["lr"] = lr
            if mom is not None:
                group["momentum"] = mom
    if mom is not None:
        values["Momentum"] = mom
    return values
