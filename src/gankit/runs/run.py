"""Run folders and trained runs: ``runs/00001-digits-ns-k1/`` holds everything a run made.

Layout of a run folder::

    config.json           the full resolved config
    stats.jsonl           one line of statistics per logged step
    samples/reals.png     real training examples, for comparison
    samples/fakes-000000.png, ...   G on one fixed noise batch, at the start and every snapshot
    curves.png            losses, D(x), D(G(z)) with the equilibrium lines
    checkpoints/step-000500.safetensors, ...   the last few checkpoints (safetensors + JSON)
    checkpoints/selected.safetensors   gankit reproduce: the one with the best validation score
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open

from gankit.utils.atomic import atomic_path
from gankit.runs.checkpoint import checkpoint_files, load_checkpoint, load_module
from gankit.config import Config
from gankit.errors import CheckpointError, GankitError
from gankit.figures.samples import save_samples as draw_samples
from gankit.nets import build_generator, sample_noise
from gankit.runs.exported import FORMAT_TAG as GENERATOR_FORMAT
from gankit.runs.exported import is_exported_generator, load_exported_module
from gankit.runs.verify import Checked, check_generator_checkpoint, check_training_checkpoint

_RUN_ID = re.compile(r"^(\d{5,})-")


def create_run_dir(runs_dir: str | Path, tag: str) -> Path:
    """Make the next numbered run folder ``NNNNN-tag``; never reuses or overwrites one."""
    runs_dir = Path(runs_dir)
    if runs_dir.exists() and not runs_dir.is_dir():
        raise GankitError(f"--runs-dir {runs_dir} is a file, not a folder; pass a folder path")
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        ids = [int(m.group(1)) for p in runs_dir.iterdir() if (m := _RUN_ID.match(p.name))]
        next_id = max(ids, default=0) + 1
        while True:  # another process may take the same number: mkdir is the atomic claim
            path = runs_dir / f"{next_id:05d}-{tag}"
            try:
                path.mkdir()
                return path
            except FileExistsError:
                next_id += 1
    except PermissionError as e:
        raise GankitError(f"cannot create a run folder in {runs_dir} ({e.strerror}); pass a "
                          f"writable --runs-dir") from None


class Run:
    """A trained (or interrupted) run: its folder, config and generator.

    Use :func:`load_run` to open one; ``gankit.runs.train`` returns one.
    """

    def __init__(self, path: Path, config: Config, G: torch.nn.Module, step: int,
                 checkpoint: Path | None = None, interrupted: bool = False):
        self.path, self.config, self.G, self.step = Path(path), config, G, step
        self.checkpoint, self.interrupted = checkpoint, interrupted
        self.is_main = True  # False on ranks > 0 of a distributed run (they write nothing)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, step={self.step}, preset={self.config.preset!r})"

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0, batch_size: int = 10_000) -> torch.Tensor:
        """``n`` samples of G (eval mode): images ``[n, C, H, W]`` in [0, 1], or vectors ``[n, D]``.

        The same seed always gives the same samples.
        """
        if n < 1:
            raise GankitError(f"number of samples must be at least 1 (got {n})")
        gen = torch.Generator().manual_seed(seed)  # noise drawn on the CPU: same samples on any device
        return torch.cat([self.generate(sample_noise(min(batch_size, n - i), self.config.z_dim,
                                                     self.config.z_dist, gen))
                          for i in range(0, n, batch_size)])

    @torch.no_grad()
    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """G(z) in eval mode (no dropout, as the paper shows samples), float32 on the CPU.

        ``z`` may live anywhere: it is moved to G's device (a run still training on a GPU).
        """
        device = next(self.G.parameters()).device
        was_training = self.G.training
        self.G.eval()
        try:
            return self.G(z.to(device)).float().cpu()
        finally:
            self.G.train(was_training)

    def save_samples(self, out: str | Path, n: int, seed: int = 0) -> Path:
        """Write ``n`` samples to ``out``: ``.png`` (grid or plot) or ``.npy`` (float32)."""
        out = Path(out)
        suffix = out.suffix.lower()
        if suffix not in (".png", ".npy"):
            raise GankitError(f"--out {out} must end in .png (a picture) or .npy (an array)")
        if not out.parent.is_dir():
            raise GankitError(f"folder {out.parent} does not exist; create it or choose another --out")
        x = self.sample(n, seed)
        if suffix == ".npy":
            with atomic_path(out) as tmp:
                np.save(tmp, x.numpy().astype(np.float32))
            return out
        return draw_samples(x, out, title=f"{self.path.name} step {self.step}, seed {seed}")


def generator_from_checkpoint(tensors: dict, meta: dict) -> tuple[Config, torch.nn.Module]:
    """G (the weight average if the run kept one) with the checkpoint's weights. Shapes are checked
    against the tensors present before G is built, so nothing larger than the file is allocated."""
    config = check_generator_checkpoint(getattr(meta, "source", "the checkpoint"), tensors, meta)
    G = build_generator(config, tuple(meta["sample_shape"]), bool(meta["unit_range"]))
    # a run with g_ema samples from the weight average (what its grids and metrics showed)
    load_module("G_ema" if any(k.startswith("G_ema.") for k in tensors) else "G", G, tensors)
    return config, G


def newest_good_checkpoint(path: str | Path, training: bool = False) -> tuple[Path, dict, dict]:
    """(checkpoint path, tensors, meta) of a checkpoint file, or of a run folder's newest good one.

    A checkpoint that fails to load (truncated, bit-flipped, edited) or whose content fails its
    checks (:mod:`gankit.runs.verify`: a crafted or impossible header, weights that do not fit its
    config, bad optimiser or random states) is reported on stderr and the previous one is tried.
    A training checkpoint is checked whole; with ``training`` (resuming) a file must be one (an
    exported generator is refused). The meta returned is a :class:`~gankit.runs.verify.Checked`.
    """
    path = Path(path)
    if path.is_file():
        candidates = [path]
    elif path.is_dir():
        candidates = checkpoint_files(path / "checkpoints")
        if not candidates:
            raise CheckpointError(f"{path} holds no checkpoints (checkpoints/step-*.safetensors); "
                                  f"pass a run folder made by `gankit train`")
    else:
        raise CheckpointError(f"{path} does not exist; pass a run folder such as runs/00001-digits-ns-k1")
    errors = []
    for ckpt in candidates:
        try:
            tensors, raw = load_checkpoint(ckpt)
            meta = Checked(raw)
            meta.source = str(ckpt)
            if training or raw.get("format") != GENERATOR_FORMAT:
                check_training_checkpoint(ckpt, tensors, raw)
                meta.training = True
            else:
                check_generator_checkpoint(ckpt, tensors, raw)
            return ckpt, tensors, meta
        except CheckpointError as e:
            errors.append(str(e))
            if len(candidates) > 1:
                print(f"gankit: warning: {e}; trying the previous checkpoint", file=sys.stderr)
    raise CheckpointError(errors[0] if len(errors) == 1 else
                          f"no usable checkpoint in {path}: " + "; ".join(errors))


def run_dir_of(checkpoint: Path) -> Path:
    """checkpoints/step-N.safetensors lives in RUN_DIR/checkpoints/. An exported generator has no
    run folder (resuming one would write into its grandparent folder): a CheckpointError."""
    if _is_exported_checkpoint(checkpoint):
        raise CheckpointError(f"{checkpoint} is an exported generator (G's weights only), not a "
                              f"training checkpoint; resume from the run folder it came from")
    return checkpoint.parent.parent


def _is_exported_checkpoint(path: Path) -> bool:
    """A safetensors file written by ``gankit export --format safetensors`` (its header says so)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {}).get("meta", "{}"))
        return isinstance(meta, dict) and meta.get("format") == GENERATOR_FORMAT
    except Exception:  # unreadable: not an export (load_checkpoint reports what is wrong)
        return False


def load_run(path: str | Path, trust_code: bool = False) -> Run:
    """Open a run folder (its newest readable checkpoint) or one checkpoint file.

    A generator exported as TorchScript is code as well as data (its load and forward run what the
    archive says), so it is refused unless ``trust_code`` is True: gankit never runs code from a
    file it is handed. Checkpoints are safetensors + JSON: data only.
    """
    if is_exported_generator(path):
        if not trust_code:
            raise CheckpointError(f"{path} is a TorchScript generator: loading it runs the code it "
                                  f"carries, so gankit refuses it; sample the run folder or its "
                                  f"checkpoint instead, or pass --trust-code if you trust its source")
        print(f"gankit: warning: running the code in {path} (--trust-code)", file=sys.stderr)
        config, G, step = load_exported_module(path)
        return Run(Path(path).parent, config, G, step, checkpoint=Path(path))
    ckpt, tensors, meta = newest_good_checkpoint(path)
    config, G = generator_from_checkpoint(tensors, meta)
    folder = ckpt.parent if meta.get("format") == GENERATOR_FORMAT else run_dir_of(ckpt)
    return Run(folder, config, G, int(meta["step"]), checkpoint=ckpt)
