"""Reproduce the paper's MNIST result (Table 1, Figures 2 and 3) in one call: ``gankit reproduce mnist``.

With no arguments, :func:`reproduce` runs what the headline 234.7 ± 2.2 was measured with
(docs/table1.md), on whatever the machine has (:data:`DEFAULTS`):

- the Table 1 recipe, preset ``table1-mnist``;
- restarts spread over the cores: one per core (at most :attr:`ReproduceDefaults.max_restarts`),
  one torch thread each, the winner chosen on validation (:mod:`gankit.experiments.restarts`);
- a budget of 60 minutes of training on the ``cpu`` clock (this process's CPU time, which
  neighbours on a shared machine do not inflate), Parzen evaluations excluded;
- a Parzen evaluation every 5,000 steps;
- bf16 autocast where the hardware has native bf16 matmuls (:func:`bf16_support`), as the recipe
  was measured; fp32 otherwise. Any other preset keeps its own precision (``paper-mnist``: fp32, as
  in the paper). The log and ``environment.json`` say which, and why.

Every default is overridden by its argument (the CLI's flags); ``overrides`` are config fields
(``{"precision": "fp32"}``). The pieces: :mod:`.single_run` (one seed: train, score, write the
results folder), :mod:`.parzen_curve` (the evaluation callback and the budget), :mod:`.selection`
(choosing on validation), :mod:`.results_page` (results.md) and :mod:`gankit.figures.parzen_curve`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import torch

from gankit.config import STEPS_UNBOUNDED, Config, config_from_dict, resolve_config
from gankit.data import load_dataset
from gankit.errors import GankitError
from gankit.experiments.parzen_curve import BUDGET_CLOCKS
from gankit.experiments.restarts import run_restarts, threads_per_restart
from gankit.experiments.single_run import ReproduceResult, run_single
from gankit.metrics.parzen import real_data_reference
from gankit.presets import preset_values
from gankit.runs.run import create_run_dir
from gankit.utils.atomic import write_text_atomic

#: What a results folder records of its reproduce, so that ``--resume`` can continue it.
SPEC = "reproduce.json"


@dataclass(frozen=True)
class ReproduceDefaults:
    """What ``gankit reproduce mnist`` does unless told otherwise: written once, read by
    :func:`reproduce` and by the CLI (its defaults and help text)."""

    dataset: str = "mnist"
    preset: str = "table1-mnist"   # the recipe that reaches Table 1's 225 (docs/table1.md)
    budget_minutes: float = 60.0   # training time, evaluations excluded
    budget_clock: str = "cpu"      # what the headline was measured with, fair on a shared machine
    eval_every_steps: int = 5000   # ditto (10 epochs at batch 100)
    n_samples: int = 10_000        # the paper's Parzen protocol
    seed: int = 0
    max_restarts: int = 8          # restarts = cores, at most this many (memory, diminishing returns)
    restart_threads: int = 1       # torch threads per restart when the restarts are the cores'


DEFAULTS = ReproduceDefaults()


def default_restarts(cpu_count: int | None = None) -> int:
    """One restart per core, at least one, at most ``DEFAULTS.max_restarts``."""
    cores = cpu_count if cpu_count is not None else os.cpu_count() or 1
    return max(1, min(cores, DEFAULTS.max_restarts))


# --- bf16: native on this hardware? ----------------------------------------------------------------

#: Native bf16 matmul instructions, as torch.cpu.get_capabilities() or /proc/cpuinfo name them.
_BF16_FEATURES = {"avx512_bf16": "AVX512-BF16", "amx_bf16": "AMX-BF16", "bf16": "Arm BF16",
                  "sve_bf16": "Arm SVE-BF16", "svebf16": "Arm SVE-BF16"}


def bf16_support(device: str = "cpu") -> tuple[bool, str]:
    """Whether bf16 autocast runs natively here, and a few words saying why (for the log).

    CPU: the instruction sets that multiply bf16 natively (AVX512-BF16 or AMX-BF16 on x86, BF16 on
    Arm; elsewhere torch emulates bf16, slower than fp32), from ``torch.cpu.get_capabilities()``
    (torch >= 2.9) or ``/proc/cpuinfo``, then a tiny autocast matmul checked against fp32.
    CUDA: ``torch.cuda.is_bf16_supported()``.
    """
    if device.startswith("cuda"):
        ok = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        return ok, f"the GPU {'supports' if ok else 'does not support'} bf16"
    features = _cpu_bf16_features()
    if not features:
        return False, "the CPU has no native bf16 matmul (AVX512-BF16, AMX-BF16 or Arm BF16)"
    if not _bf16_matmul_works():
        return False, f"the CPU has {', '.join(features)} but a bf16 autocast matmul failed"
    return True, f"the CPU has {', '.join(features)}"


def _cpu_bf16_features() -> list[str]:
    capabilities = getattr(torch.cpu, "get_capabilities", None)
    if capabilities is not None:
        found = {k for k, v in capabilities().items() if v is True}
    else:  # older torch: the kernel's flags (x86 "flags", Arm "Features")
        try:
            text = Path("/proc/cpuinfo").read_text()
        except OSError:
            return []
        found = {flag for line in text.splitlines()
                 if line.startswith(("flags", "Features")) for flag in line.split(":", 1)[1].split()}
    return sorted({_BF16_FEATURES[k] for k in found if k in _BF16_FEATURES})


def _bf16_matmul_works() -> bool:
    a = torch.linspace(-1.0, 1.0, 64 * 64).reshape(64, 64)
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            c = a @ a.T
    except RuntimeError:
        return False
    exact = a @ a.T
    return c.dtype == torch.bfloat16 and torch.allclose(c.float(), exact, atol=0.02 * exact.abs().max())


def choose_precision(config: Config, given: Mapping[str, Any]) -> tuple[str, str]:
    """The precision to train ``config`` at, and why: ``--set precision`` if given; bf16 for the
    Table 1 recipe where the hardware has it (it was measured so); otherwise the preset's own."""
    if "precision" in given:
        return config.precision, "chosen with --set precision"
    if preset_values(config.preset) != preset_values(DEFAULTS.preset):
        return config.precision, f"the precision of preset {config.preset}"
    device = config.device if config.device != "auto" else \
        ("cuda" if torch.cuda.is_available() else "cpu")
    ok, why = bf16_support(device)
    return ("bf16" if ok else "fp32"), f"{DEFAULTS.preset} was measured with bf16; {why}"


# --- the experiment ------------------------------------------------------------------------------------

def reproduce(dataset: str = DEFAULTS.dataset, *, out: str | Path | None = None,
              budget_minutes: float | None = DEFAULTS.budget_minutes, data_dir: str | None = None,
              preset: str = DEFAULTS.preset, eval_every_steps: int = DEFAULTS.eval_every_steps,
              seed: int = DEFAULTS.seed, n_samples: int = DEFAULTS.n_samples,
              threads: int | None = None, budget_clock: str = DEFAULTS.budget_clock,
              overrides: Mapping[str, Any] | None = None, progress: bool = True,
              log: Callable[[str], None] | None = None,
              restarts: int | None = None, resume: str | Path | None = None) -> ReproduceResult:
    """Train ``preset`` on MNIST with Parzen evaluations, stop at the budget, write the results folder.

    ``budget_minutes`` is training time (evaluations excluded) on ``budget_clock`` (``"cpu"``:
    this process's CPU time, fair on a shared machine; or ``"wall"``), and the run goes on until it
    is spent unless ``overrides`` sets ``steps``; ``None`` trains the preset's ``steps``.
    ``overrides`` are further config fields (e.g. tiny networks for tests, or ``precision``).
    ``out`` defaults to ``results/NNNNN-reproduce-PRESET``. ``restarts``: seeds ``seed ..
    seed+restarts-1`` trained side by side, the best on validation kept; ``None``: one per core
    (:func:`default_restarts`), ``threads`` then defaulting to one each; ``threads`` is per restart.
    ``resume``: a results folder whose reproduce was interrupted (a kill, Ctrl-C): it continues
    with the settings recorded in its ``reproduce.json`` (the other arguments are not used),
    keeping finished restarts and resuming the others from their newest checkpoints.
    Returns a :class:`~gankit.experiments.single_run.ReproduceResult`.
    """
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    if resume is not None:
        return _resume(Path(resume), progress, log)
    if dataset != "mnist":
        raise GankitError(f"gankit reproduce knows the paper's MNIST experiment only (got "
                          f"'{dataset}'); TFD and CIFAR-10 have no Parzen reproduction here")
    if eval_every_steps < 1:
        raise GankitError(f"--eval-every-steps must be at least 1 (got {eval_every_steps})")
    if budget_minutes is not None and not budget_minutes > 0:
        raise GankitError(f"--budget-minutes must be positive (got {budget_minutes})")
    if budget_clock not in BUDGET_CLOCKS:
        raise GankitError(f"--budget-clock must be wall or cpu (got '{budget_clock}')")
    if n_samples < 1:
        raise GankitError(f"n_samples must be at least 1 (got {n_samples})")
    if restarts is not None and restarts < 1:
        raise GankitError(f"--restarts must be at least 1 (got {restarts})")
    if restarts is None:
        restarts = default_restarts()
        threads = threads if threads is not None else DEFAULTS.restart_threads
    elif restarts > 1:
        threads = threads_per_restart(restarts, threads)
    config = _config(preset, data_dir, seed, threads, eval_every_steps, budget_minutes, overrides)
    precision, why = choose_precision(config, overrides or {})
    config = dataclasses.replace(config, precision=precision).validate()
    # The results folder; the runs go inside it.
    if out is None:
        out = create_run_dir("results", f"reproduce-{preset}")
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GankitError(f"cannot create the results folder {out} ({e.strerror or e})") from None
    budget = "no budget" if budget_minutes is None else \
        f"a budget of {budget_minutes:g} training minutes ({budget_clock} clock)"
    log(f"gankit reproduce: {config.preset} -> {out}: {restarts} restart(s) of "
        f"{config.threads or 'automatic'} thread(s), {budget}, Parzen LL every {eval_every_steps} "
        f"steps, precision {precision} ({why})")
    settings = dict(eval_every_steps=eval_every_steps, budget_minutes=budget_minutes,
                    budget_clock=budget_clock, n_samples=n_samples)
    facts = {"precision_reason": why}
    write_text_atomic(out / SPEC, json.dumps({"dataset": dataset, "config": config.to_dict(),
                                              "settings": settings, "facts": facts,
                                              "restarts": restarts}, indent=2) + "\n")
    return _start(config, out, restarts, settings, facts, progress, log)


def _start(config: Config, out: Path, restarts: int, settings: Mapping[str, Any],
           facts: Mapping[str, Any], progress: bool, log: Callable[[str], None],
           resume: bool = False) -> ReproduceResult:
    if restarts > 1:
        # Computed once here and cached, rather than by every restart at the same time.
        real_data_reference(load_dataset(config.dataset, config.data_dir),
                            n_samples=settings["n_samples"])
        return run_restarts(restarts, config, out, log=log, settings=settings, facts=facts,
                            resume=resume)
    return run_single(config, out, progress=progress, log=log, facts=facts, resume=resume,
                      **settings)


def _resume(out: Path, progress: bool, log: Callable[[str], None]) -> ReproduceResult:
    """Continue the reproduce recorded in ``out/reproduce.json``."""
    spec_path = out / SPEC
    if not spec_path.is_file():
        raise GankitError(f"{out} has no {SPEC}: pass a results folder made by `gankit reproduce` "
                          f"(this version records its settings there), or start a new one")
    try:
        spec = json.loads(spec_path.read_text(encoding="utf-8"))
        config = config_from_dict(spec["config"]).validate()
        settings, facts, restarts = dict(spec["settings"]), dict(spec["facts"]), int(spec["restarts"])
        if set(settings) != {"eval_every_steps", "budget_minutes", "budget_clock", "n_samples"} \
                or restarts < 1:
            raise ValueError("unexpected settings")
    except GankitError:
        raise
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as e:
        raise GankitError(f"{spec_path} is unreadable ({e}); start a new gankit reproduce") from None
    log(f"gankit reproduce: resuming {out} ({restarts} restart(s)) with its recorded settings")
    return _start(config, out, restarts, settings, facts, progress, log, resume=True)


def _config(preset: str, data_dir: str | None, seed: int, threads: int | None,
            eval_every_steps: int, budget_minutes: float | None,
            overrides: Mapping[str, Any] | None) -> Config:
    """The run's config: the preset, then reproduce's settings, then ``overrides``."""
    # Snapshots (checkpoint, grid, callbacks) at least at every evaluation; an override may make
    # them finer, which also lets the budget stop closer to its end.
    fields = {"snapshot_every": eval_every_steps, **(overrides or {})}
    if budget_minutes is not None and "steps" not in fields:
        # The budget ends the run, not the preset's `steps` (paper-mnist's 100,000 steps take only
        # ~35 minutes on two fast threads); an explicit steps override still caps it.
        if float(fields.get("instance_noise") or 0) > 0:
            raise GankitError("instance noise fades to zero over the run's steps, which a time "
                              "budget leaves open: add --set steps=N")
        fields["steps"] = STEPS_UNBOUNDED
    if threads is not None:
        fields["threads"] = threads
    config = resolve_config(preset, data_dir=data_dir, seed=seed, **fields)
    if config.dataset != "mnist":
        raise GankitError(f"preset '{preset}' trains on {config.dataset}; gankit reproduce mnist "
                          f"needs an MNIST preset such as {DEFAULTS.preset}")
    return config


__all__ = ["DEFAULTS", "ReproduceDefaults", "ReproduceResult", "bf16_support", "choose_precision",
           "default_restarts", "reproduce"]
