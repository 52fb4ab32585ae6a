"""What a checkpoint must hold, checked before anything is built from it.

A checksum tells a damaged file from a good one, not a crafted one from a real one (anyone can
recompute it). So every value read from a checkpoint is checked here, against what gankit itself
would write: the config (bounded by :meth:`Config.validate`), the counters, the sample shape, and
every tensor's name, dtype and shape against the networks the config describes, which are built
on PyTorch's ``meta`` device (shapes without memory), so a header declaring a network of 1 PB
allocates nothing. Optimiser settings, data order and random states are checked as well, so that a
crafted file is one :class:`~gankit.errors.CheckpointError` line and never a traceback.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any, NoReturn

import torch

from gankit.config import Config, config_from_dict
from gankit.data import Dataset
from gankit.errors import CheckpointError, ConfigError
from gankit.nets import build_generator, build_networks
from gankit.optim import build_optimizers
from gankit.runs.exported import FORMAT_TAG as GENERATOR_FORMAT  # an export: G's weights only

#: The largest sample a checkpoint may declare: an RGB image of 1024 x 1024 pixels.
MAX_SAMPLE_ELEMENTS = 3 * 1024 * 1024
MAX_STEP = 10**12
#: What each optimiser keeps per parameter (tensors, or numbers in the JSON header).
OPTIMIZER_STATE = {"sgd": {"momentum_buffer"}, "adam": {"step", "exp_avg", "exp_avg_sq"}}
_STATE_NAME = re.compile(r"^(opt_[GD])\.state\.(\d{1,6})\.(\w+)$")
_RNG_NAME = re.compile(r"^rng\.(torch|noise|data|numpy|torch\.rank\d{1,4}|cuda\.\d{1,3})$")


class Checked(dict):
    """A checkpoint's meta, checked: ``training`` says the whole training state was checked (so
    :func:`gankit.runs.checkpoint.restore_state` need not check it again); ``source`` names the
    file in messages."""

    source: str = "the checkpoint"
    training: bool = False


def fail(source: Any, problem: str) -> NoReturn:
    raise CheckpointError(f"checkpoint {source} is corrupt or crafted: {problem}; use another "
                          f"checkpoint (gankit checks everything it reads from one)")


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# --- the header ----------------------------------------------------------------------------------

def check_header(source: Any, meta: Any) -> Config:
    """The config, step, sample shape and unit_range every checkpoint has; the config, validated."""
    if not isinstance(meta, dict):
        fail(source, "its metadata is not a table")
    for key in ("config", "step", "sample_shape", "unit_range"):
        if key not in meta:
            raise CheckpointError(f"checkpoint {source} lacks '{key}' in its metadata; use "
                                  f"another checkpoint")
    try:
        config = config_from_dict(meta["config"])
    except ConfigError as e:
        fail(source, f"its config is impossible ({e})")
    step = meta["step"]
    if not (_is_int(step) and 0 <= step <= MAX_STEP):
        fail(source, f"its step is {_short(step)}, not a whole number from 0 to {MAX_STEP:,}")
    shape = meta["sample_shape"]
    if not (isinstance(shape, list) and 1 <= len(shape) <= 3 and all(_is_int(d) and d >= 1 for d in shape)
            and math.prod(shape) <= MAX_SAMPLE_ELEMENTS):
        fail(source, f"its sample_shape is {_short(shape)}, not 1 to 3 positive sizes of at most "
                     f"{MAX_SAMPLE_ELEMENTS:,} values in all")
    if not isinstance(meta["unit_range"], bool):
        fail(source, f"its unit_range is {_short(meta['unit_range'])}, not true or false")
    return config


# --- the networks, on the meta device ------------------------------------------------------------

def _shapes(module: torch.nn.Module) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    return {k: (tuple(v.shape), v.dtype) for k, v in module.state_dict().items()}


def expected_generator(source: Any, config: Config, meta: dict) -> dict:
    """Names -> (shape, dtype) of the G that the config describes; nothing allocated."""
    try:
        with torch.random.fork_rng(devices=[]), torch.device("meta"):
            G = build_generator(config, tuple(meta["sample_shape"]), meta["unit_range"])
    except (ValueError, ConfigError, RuntimeError) as e:
        fail(source, f"its config does not describe a generator for its samples ({e})")
    return _shapes(G)


def expected_networks(source: Any, config: Config, meta: dict) -> tuple[torch.nn.Module, torch.nn.Module]:
    """G and D as the run built them (wrappers included), on the meta device."""
    data = Dataset(config.dataset, torch.empty((1, *meta["sample_shape"]), device="meta"),
                   unit_range=meta["unit_range"])
    try:
        with torch.random.fork_rng(devices=[]), torch.device("meta"):
            # no output bias from the data: the same shapes, without meta-device maths
            return build_networks(dataclasses.replace(config, g_output_bias_from_data=False), data)
    except (ValueError, ConfigError, RuntimeError) as e:
        fail(source, f"its config does not describe networks for its samples ({e})")


def check_weights(source: Any, prefix: str, expected: dict, tensors: dict[str, torch.Tensor]) -> None:
    """The tensors under ``prefix.`` are exactly the expected names, shapes and dtypes."""
    lead = prefix + "."
    present = {k[len(lead):]: t for k, t in tensors.items() if k.startswith(lead)}
    missing, extra = sorted(set(expected) - set(present)), sorted(set(present) - set(expected))
    if missing or extra:
        parts = [f"{word} {', '.join(names[:3])}{' ...' if len(names) > 3 else ''}"
                 for word, names in (("missing", missing), ("unexpected", extra)) if names]
        raise CheckpointError(f"checkpoint {source}: the weights for {prefix} do not fit the network "
                              f"built from its config ({'; '.join(parts)}); use another checkpoint")
    for name, (shape, dtype) in expected.items():
        t = present[name]
        if tuple(t.shape) != shape or t.dtype != dtype:
            raise CheckpointError(f"checkpoint {source}: the weights for {prefix} do not fit the "
                                  f"network built from its config ({prefix}.{name} is "
                                  f"{str(t.dtype).removeprefix('torch.')} {tuple(t.shape)}, the "
                                  f"config gives {str(dtype).removeprefix('torch.')} {shape}); "
                                  f"use another checkpoint")


def check_generator_checkpoint(source: Any, tensors: dict[str, torch.Tensor], meta: Any) -> Config:
    """What sampling needs: the header and G's weights (the weight average's if there is one)."""
    config = check_header(source, meta)
    expected = expected_generator(source, config, meta)
    has_ema = any(k.startswith("G_ema.") for k in tensors)
    check_weights(source, "G_ema" if has_ema else "G", expected, tensors)
    if meta.get("format") == GENERATOR_FORMAT:  # an export holds G alone
        other = sorted(k for k in tensors if not k.startswith("G."))
        if other:
            fail(source, f"an exported generator holds G's weights only, not {_short(other)}")
    return config


# --- the whole training state --------------------------------------------------------------------

def check_training_checkpoint(source: Any, tensors: dict[str, torch.Tensor], meta: Any) -> Config:
    """Everything :func:`gankit.runs.checkpoint.restore_state` reads: networks, optimisers, data
    order, random states and counters."""
    if isinstance(meta, dict) and meta.get("format") == GENERATOR_FORMAT:
        raise CheckpointError(f"{source} is an exported generator (G's weights only), not a "
                              f"training checkpoint; resume from the run folder it came from")
    config = check_header(source, meta)
    G, D = expected_networks(source, config, meta)
    known: set[str] = set()
    for prefix, module in (("G", G), ("D", D), *((("G_ema", G),) if config.g_ema > 0 else ())):
        check_weights(source, prefix, _shapes(module), tensors)
        known.update(f"{prefix}.{k}" for k in module.state_dict())
    if config.g_ema <= 0 and any(k.startswith("G_ema.") for k in tensors):
        fail(source, "it holds a weight average (G_ema) but its config has g_ema 0")
    for name, module in (("opt_G", G), ("opt_D", D)):
        known.update(_check_optimizer(source, name, config, list(module.parameters()), tensors,
                                      meta.get(name)))
    known.update(_check_data(source, tensors))
    known.update(_check_rng(source, tensors, meta))
    z = tensors.get("fixed_z")
    if z is None or z.dtype != torch.float32 or tuple(z.shape) != (config.grid_size, config.z_dim):
        fail(source, f"fixed_z is {_describe(z)}, not float32 ({config.grid_size}, {config.z_dim})")
    known.add("fixed_z")
    unknown = sorted(set(tensors) - known)
    if unknown:
        fail(source, f"it holds unknown tensors {_short(unknown)}")
    if not (_is_int(meta.get("epoch", 0)) and meta.get("epoch", 0) >= 0):
        fail(source, f"its epoch is {_short(meta.get('epoch'))}, not a whole number >= 0")
    elapsed = meta.get("elapsed_seconds", 0.0)
    if not (_is_number(elapsed) and elapsed >= 0):
        fail(source, f"its elapsed_seconds is {_short(elapsed)}, not a number >= 0")
    return config


def _describe(t: torch.Tensor | None) -> str:
    return "missing" if t is None else f"{str(t.dtype).removeprefix('torch.')} {tuple(t.shape)}"


def _check_optimizer(source: Any, name: str, config: Config, params: list[torch.Tensor],
                     tensors: dict[str, torch.Tensor], data: Any) -> set[str]:
    """One optimiser's settings (param_groups) and per-parameter state; returns its tensor names."""
    if not isinstance(data, dict) or not isinstance(data.get("param_groups"), list) \
            or not isinstance(data.get("scalars", {}), dict):
        fail(source, f"its {name} (optimiser state: param_groups and scalars) is missing or not a table")
    # A fresh optimiser of the same kind over stand-ins (1 value each) shows the settings' keys
    # and types of this PyTorch.
    stand_ins = torch.nn.ParameterList([torch.nn.Parameter(torch.zeros(1)) for _ in params])
    fresh = build_optimizers(config, stand_ins, stand_ins)[0].state_dict()["param_groups"]
    groups = data["param_groups"]
    if len(groups) != len(fresh):
        fail(source, f"{name} has {len(groups)} param_groups, not {len(fresh)}")
    for group, ref in zip(groups, fresh):
        if not isinstance(group, dict):
            fail(source, f"{name}'s param_groups hold {_short(group)}, not a table")
        unknown = sorted(set(group) - set(ref))
        if unknown or "params" not in group or "lr" not in group:
            fail(source, f"{name}'s param_groups have keys {_short(sorted(group))}, not those of "
                         f"{config.optimizer} ({', '.join(sorted(ref))})")
        for key, value in group.items():
            if not _setting_ok(key, value, ref[key]):
                fail(source, f"{name}'s setting {key} is {_short(value)}")
    kinds = OPTIMIZER_STATE[config.optimizer]
    state: dict[int, set[str]] = {}
    names: set[str] = set()
    for tname, t in tensors.items():
        m = _STATE_NAME.match(tname)
        if tname.startswith(name + ".") and (m is None or m[1] != name):
            fail(source, f"it holds an unknown optimiser tensor {_short(tname)}")
        if m is None or m[1] != name:
            continue
        idx, key = int(m[2]), m[3]
        if idx >= len(params) or key not in kinds:
            fail(source, f"{tname} is not state of {config.optimizer} over {len(params)} parameters")
        want = ((), torch.float32) if key == "step" else (tuple(params[idx].shape), params[idx].dtype)
        if (tuple(t.shape), t.dtype) != want:
            fail(source, f"{tname} is {_describe(t)}, not {str(want[1]).removeprefix('torch.')} {want[0]}")
        if key == "step" and not (math.isfinite(float(t)) and float(t) >= 0):
            fail(source, f"{tname} is {float(t)}, not a count >= 0")
        state.setdefault(idx, set()).add(key)
        names.add(tname)
    for idx, extra in data.get("scalars", {}).items():
        if not (isinstance(idx, str) and idx.isdigit() and int(idx) < len(params)
                and isinstance(extra, dict)):
            fail(source, f"{name}'s scalars hold {_short({idx: extra})}")
        for key, value in extra.items():
            if key not in kinds or key in state.get(int(idx), ()) or not (
                    value is None or (_is_number(value) and value >= 0)):
                fail(source, f"{name}'s scalar {idx}.{key} is {_short(value)}")
            state.setdefault(int(idx), set()).add(key)
    for idx, keys in state.items():
        if keys != kinds:
            fail(source, f"{name}'s state of parameter {idx} has {sorted(keys)}, not {sorted(kinds)}")
    return names


def _setting_ok(key: str, value: Any, ref: Any) -> bool:
    """A param_groups value of the right type and range (``ref``: a fresh optimiser's)."""
    if key == "params":
        return value == ref
    if isinstance(ref, bool) or ref is None:
        return value is None or isinstance(value, bool)
    if isinstance(ref, (int, float)):
        return _is_number(value) and value >= 0
    if isinstance(ref, tuple):  # Adam's betas
        return (isinstance(value, list) and len(value) == len(ref)
                and all(_is_number(v) and 0 <= v < 1 for v in value))
    return value == ref


def _check_data(source: Any, tensors: dict[str, torch.Tensor]) -> set[str]:
    """The data order is a permutation of the examples; the counters (epoch, position) fit it."""
    order, counters = tensors.get("data.order"), tensors.get("data.counters")
    if order is None or order.dtype != torch.int64 or order.dim() != 1 or order.numel() < 1:
        fail(source, f"its data order is {_describe(order)}, not a permutation of the examples")
    if not torch.equal(order.sort().values, torch.arange(order.numel())):
        fail(source, f"its data order is not a permutation of the {order.numel()} examples")
    if counters is None or counters.dtype != torch.int64 or tuple(counters.shape) != (2,):
        fail(source, f"its data counters are {_describe(counters)}, not int64 (2,)")
    epoch, position = (int(v) for v in counters)
    if not (0 <= epoch <= MAX_STEP and 0 <= position <= order.numel()):
        fail(source, f"its data counters (epoch {epoch}, position {position}) do not fit "
                     f"{order.numel()} examples")
    return {"data.order", "data.counters"}


def _check_rng(source: Any, tensors: dict[str, torch.Tensor], meta: dict) -> set[str]:
    """Every random state has the size and type its generator takes."""
    cpu = torch.get_rng_state()
    names: set[str] = set()
    for key in ("rng.torch", "rng.noise", "rng.data"):
        if key not in tensors:
            fail(source, f"it lacks the random state {key}")
    for name, t in tensors.items():
        if not name.startswith("rng."):
            continue
        if not _RNG_NAME.match(name):
            fail(source, f"it holds an unknown random state {_short(name)}")
        names.add(name)
        if name == "rng.numpy":
            ok = (t.dtype == torch.int64 and tuple(t.shape) == (624,)
                  and bool(((t >= 0) & (t < 2**32)).all()))
        elif name.startswith("rng.cuda."):
            ok = t.dtype == torch.uint8 and t.dim() == 1 and 1 <= t.numel() <= 4096
        else:  # a CPU generator (Mersenne Twister)
            ok = t.dtype == cpu.dtype and t.shape == cpu.shape
        if not ok:
            fail(source, f"its random state {name} is {_describe(t)}")
    if "rng.numpy" in tensors:
        v = meta.get("rng_numpy")
        if not (isinstance(v, list) and len(v) == 4 and v[0] == "MT19937" and _is_int(v[1])
                and 0 <= v[1] <= 624 and _is_int(v[2]) and v[2] in (0, 1) and _is_number(v[3])):
            fail(source, f"its NumPy random state {_short(v)} is not [\"MT19937\", pos, has_gauss, gauss]")
    if "rng_python" in meta:
        v = meta["rng_python"]
        if not (isinstance(v, list) and len(v) == 3 and _is_int(v[0]) and isinstance(v[1], list)
                and len(v[1]) == 625 and all(_is_int(x) and 0 <= x < 2**32 for x in v[1])
                and v[1][-1] <= 624 and (v[2] is None or _is_number(v[2]))):
            fail(source, f"its Python random state {_short(v)} is not a state of random.setstate")
    return names
