"""The ``tensorboard`` logger (``gankit train --loggers tensorboard``): a run as TensorBoard shows it.

Event files are written into the run folder itself, so ``tensorboard --logdir runs`` lists every run
under its folder name. They hold:

- every logged row's scalars, under the names of ``stats.jsonl`` (``Loss/D``, ``Prob/D(G(z))``, ...);
- at every snapshot, G's samples on the fixed noise batch (image data: the grid of
  ``samples/fakes-*.png``) and histograms of D's outputs on a fixed real batch and on those samples
  (``Hist/D(x)``, ``Hist/D(G(z))``: at the equilibrium of Section 4 both pile up at 1/2);
- each row appended to ``metrics.jsonl`` while the run trains (``Metric/parzen/ll_mean``, ...);
- the config as hparams.

A resumed run purges what the abandoned future had logged after its checkpoint, so each step
appears once. Only rank 0 logs (a callback's default). The writer is TensorBoard's own
(``torch.utils.tensorboard``), installed by ``pip install "gankit[tensorboard]"``.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import torch

from gankit.config import Config
from gankit.engine.callbacks import Callback, Engine
from gankit.errors import ConfigError
from gankit.figures.samples import image_grid

INSTALL_HINT = 'pip install "gankit[tensorboard]"  (or: pip install tensorboard)'
#: stats.jsonl bookkeeping that is not a curve
NOT_SCALARS = ("step", "epoch")
#: metrics.jsonl keys that describe a result rather than being one
METRIC_BOOKKEEPING = ("metric", "step", "seed", "dataset", "source", "time", "seconds", "protocol")


def require_tensorboard() -> None:
    """One :class:`ConfigError` line naming the install command when the package is missing."""
    try:
        importlib.import_module("tensorboard")
        importlib.import_module("torch.utils.tensorboard")  # fails without the package too
    except ImportError:
        raise ConfigError(f"the tensorboard logger needs the tensorboard package; install it with "
                          f"{INSTALL_HINT}, or drop 'tensorboard' from --loggers") from None


class TensorBoardLogger(Callback):
    """Writes a run's scalars, sample grids, D-output histograms, metrics and config as TensorBoard
    event files in ``run_dir``."""

    def __init__(self, run_dir: str | Path, config: Config):
        require_tensorboard()
        self.run_dir, self.config = Path(run_dir), config
        self.writer: Any = None
        self._metrics_offset = 0

    # --- hooks ---------------------------------------------------------------------------------
    def on_start(self, engine: Engine) -> None:
        from torch.utils.tensorboard import SummaryWriter  # late: an optional extra

        step, every = engine.state.step, engine.config.log_every
        # A resumed run: drop whatever an earlier process logged after this checkpoint, and the
        # partial row a Ctrl-C logged at it when it is not a log step (stats.jsonl drops it too).
        purge = None if step == 0 else step + 1 if step % every == 0 else step
        self.writer = SummaryWriter(str(self.run_dir), purge_step=purge)
        metrics = self.run_dir / "metrics.jsonl"
        self._metrics_offset = metrics.stat().st_size if metrics.is_file() else 0
        if step == 0:
            self._write_hparams()
            self.on_snapshot(engine)

    def on_log(self, engine: Engine, row: dict[str, float]) -> None:
        step = int(row["step"])
        for key, value in row.items():
            if key not in NOT_SCALARS and isinstance(value, (int, float)):
                self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def on_snapshot(self, engine: Engine) -> None:
        st = engine.state
        real = engine.dataset.head(engine.config.grid_size).to(st.device)
        with torch.no_grad(), torch.random.fork_rng(devices=[]), _eval_mode(st.G_sample, st.D):
            fake = st.G_sample(st.fixed_z.to(st.device))
            # D's raw outputs are logits; D(x) is their sigmoid (Section 3).
            d_real, d_fake = torch.sigmoid(st.D(real)), torch.sigmoid(st.D(fake))
        self.writer.add_histogram("Hist/D(x)", d_real.float().cpu(), st.step, bins="auto")
        self.writer.add_histogram("Hist/D(G(z))", d_fake.float().cpu(), st.step, bins="auto")
        if engine.dataset.is_image:
            grid = image_grid(fake.float().cpu())
            self.writer.add_image("Samples/G(fixed z)", grid, st.step,
                                  dataformats="HW" if grid.ndim == 2 else "HWC")
        self._write_new_metrics()
        self.writer.flush()

    def on_close(self, engine: Engine) -> None:
        if self.writer is not None:
            self._write_new_metrics()  # a metric computed at the last snapshot, after this hook
            self.writer.close()
            self.writer = None

    # --- pieces --------------------------------------------------------------------------------
    def _write_hparams(self) -> None:
        from torch.utils.tensorboard.summary import hparams

        values = {k: v if isinstance(v, (int, float, str, bool)) else json.dumps(v)
                  for k, v in self.config.to_dict().items() if v is not None}
        # Written into this run's own event file (SummaryWriter.add_hparams would open a new run).
        for summary in hparams(values, {"Loss/D": None, "Loss/G": None}):
            self.writer.file_writer.add_summary(summary)

    def _write_new_metrics(self) -> None:
        path = self.run_dir / "metrics.jsonl"
        if not path.is_file() or path.stat().st_size <= self._metrics_offset:
            return
        with open(path, encoding="utf-8") as f:
            f.seek(self._metrics_offset)
            text = f.read()
        complete = text[:text.rfind("\n") + 1]  # a line still being written waits for next time
        self._metrics_offset += len(complete.encode("utf-8"))
        for line in complete.splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(row, dict) or not isinstance(row.get("step"), int):
                continue
            for key, value in row.items():
                if key not in METRIC_BOOKKEEPING and isinstance(value, (int, float)):
                    self.writer.add_scalar(f"Metric/{row.get('metric')}/{key}", value, row["step"])


class _eval_mode:
    """Networks in eval mode (no dropout) inside the block, their own modes restored after it."""

    def __init__(self, *nets: torch.nn.Module):
        self.nets = nets
        self.modes = [net.training for net in nets]

    def __enter__(self) -> None:
        for net in self.nets:
            net.eval()

    def __exit__(self, *exc: Any) -> None:
        for net, mode in zip(self.nets, self.modes):
            net.train(mode)
