"""Figure 1's view for 2-D toy data (ring8, grid25), from a real run of the data set's preset.

The run is the preset's own (R1, weight average and learning-rate decay included), trained by the
one engine (:func:`gankit.runs.train.train`), so ``gankit figure toy2d --data grid25 --steps N
--seed S`` and ``gankit train --preset grid25 --steps N --seed S`` give the same generator; the
command leaves that run folder in OUT/runs, beside its pictures. :class:`Toy2DRecorder`, a
callback, records the snapshots: samples of G (the weight average if any) on fixed noise, D on the
view grid, and modes and %HQ by :func:`gankit.metrics.modes.toy_mode_stats` (docs/benchmarks.md
§1). In 2-D, G: R² -> R² is not invertible in general, so p_g is estimated by a lightly smoothed
2-D histogram of many samples (unlike the 1-D figure's exact change of variables).
:mod:`gankit.figures.toy2d` draws them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from gankit.config import Config, resolve_config
from gankit.data.toy import GRID25_STD, RING8_STD, grid25_means, ring8_means
from gankit.engine.callbacks import Callback
from gankit.errors import ConfigError
from gankit.figures.toy2d import Scene2D, Snapshot2D, animate_toy2d, draw_toy2d
from gankit.metrics.modes import N_TOY, toy_mode_stats
from gankit.nets import sample_noise
from gankit.runs.train import train

#: data set -> (means, sigma, half-width of the square view)
TOY2D = {"ring8": (ring8_means, RING8_STD, 1.6), "grid25": (grid25_means, GRID25_STD, 5.5)}
N_SNAPSHOTS = 40  # frames of the animation (plus step 0 and the last step)
N_GRID = 120  # cells per side of the view grid (D's heat map, p_g's histogram)
N_REAL = 3000  # data points drawn behind the samples


def smoothed_hist(x: np.ndarray, edges: np.ndarray, sigma_cells: float = 1.5) -> np.ndarray:
    """2-D histogram density blurred by a separable Gaussian (numpy only), [n, n] indexed [y, x]."""
    h, _, _ = np.histogram2d(x[:, 1], x[:, 0], bins=[edges, edges], density=True)
    r = int(3 * sigma_cells)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma_cells) ** 2)
    k /= k.sum()
    h = np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), 0, h)
    return np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), 1, h)


class Toy2DRecorder(Callback):
    """Records snapshots during a run of the engine: at step 0 (``on_start``), then every
    ``max(1, steps // n_snapshots)`` steps and at the last step (``on_step``).

    Samples come from ``engine.state.G_sample`` (the weight average if the run has one) on
    ``n_eval`` fixed noise vectors drawn as ``Run.sample(n_eval, seed=eval_seed)`` draws them (their
    own generator: the run's streams are not touched), so the last snapshot's modes and %HQ are
    those of ``gankit eval RUN --metric toy_modes --seed 0``; the heat map is ``engine.state.D``.
    """

    def __init__(self, data: str, n_snapshots: int = N_SNAPSHOTS, n_eval: int = N_TOY,
                 eval_seed: int = 0, log: Callable[[str], None] | None = None):
        means_fn, self.std, half = TOY2D[data]
        self.means = means_fn().numpy()
        self.lim = (-half, half)
        self.n_snapshots, self.n_eval, self.eval_seed, self.log = n_snapshots, n_eval, eval_seed, log
        self.edges = np.linspace(-half, half, N_GRID + 1)
        centres = (self.edges[:-1] + self.edges[1:]) / 2
        self.xy = torch.tensor(np.stack(np.meshgrid(centres, centres), -1).reshape(-1, 2),
                               dtype=torch.float32)  # [N_GRID², 2], row-major over (y, x)
        self.snapshots: list[Snapshot2D] = []
        self.every, self.z, self.real = 1, None, None

    def on_start(self, engine: Any) -> None:
        cfg = engine.config
        self.every = max(1, cfg.steps // self.n_snapshots)
        self.real = engine.dataset.train[:N_REAL].cpu().numpy()
        self.z = sample_noise(self.n_eval, cfg.z_dim, cfg.z_dist,
                              torch.Generator().manual_seed(self.eval_seed))
        self.record(engine)

    def on_step(self, engine: Any, stats: dict[str, Any]) -> None:
        step, steps = engine.state.step, engine.config.steps
        if step % self.every and step != steps:
            return
        s = self.record(engine)
        if self.log and step * 5 // steps > (step - self.every) * 5 // steps:
            self.log(f"step {step:>6}  modes {s.modes}/{len(self.means)}  HQ {s.hq:.1%}")

    def on_end(self, engine: Any) -> None:
        if self.snapshots[-1].step != engine.state.step:  # stopped (Ctrl-C) between snapshots
            self.record(engine)

    @torch.no_grad()
    def record(self, engine: Any) -> Snapshot2D:
        st = engine.state
        G, D = st.G_sample, st.D
        was = G.training, D.training
        G.eval(), D.eval()
        try:
            x_fake = G(self.z.to(st.device)).float().cpu().numpy()
            D_grid = torch.sigmoid(D(self.xy.to(st.device)).float()).reshape(N_GRID, N_GRID)
        finally:
            G.train(was[0]), D.train(was[1])
        stats = toy_mode_stats(x_fake, self.means, self.std)
        snap = Snapshot2D(st.step, x_fake, D_grid.cpu().numpy(), smoothed_hist(x_fake, self.edges),
                          int(stats["modes"]), stats["hq_percent"] / 100)
        self.snapshots.append(snap)
        return snap


def toy2d_config(data: str = "ring8", steps: int | None = None, seed: int = 0,
                 runs_dir: str | Path | None = None) -> Config:
    """The data set's preset with the given overrides (None: the preset's)."""
    if data not in TOY2D:
        raise ConfigError(f"figure toy2d draws {', '.join(sorted(TOY2D))}, not '{data}'")
    return resolve_config(data, steps=steps, seed=seed,
                          runs_dir=None if runs_dir is None else str(runs_dir))


def figure_toy2d(data: str = "ring8", steps: int | None = None, out: str | Path = "figures/figure-toy2d",
                 seed: int = 0, log: Callable[[str], None] | None = None,
                 n_snapshots: int = N_SNAPSHOTS) -> dict:
    """Train the preset (the run folder goes in ``out/runs``, as ``gankit reproduce``'s), draw
    four panels (start, 1/3, 2/3, end) and a GIF of the run; return a summary. ``steps`` defaults
    to the preset's."""
    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = toy2d_config(data, steps, seed, runs_dir=out / "runs")
    recorder = Toy2DRecorder(data, n_snapshots, log=log)
    threads = torch.get_num_threads()  # the run picks its own (1 for these small nets)
    try:
        run = train(config, progress=False, callbacks=[recorder])
    finally:
        torch.set_num_threads(threads)
    scene = Scene2D(recorder.means, recorder.real, recorder.lim)
    snaps = recorder.snapshots
    png = draw_toy2d(snaps, scene, out / f"{data}.png", title=data)
    gif = animate_toy2d(snaps, scene, out / f"{data}_run.gif")
    final = snaps[-1]
    return {"figure": "toy2d", "data": data, "steps": config.steps, "seed": config.seed,
            "schedule": config.schedule, "k": config.k, "g_loss": config.g_loss,
            "modes": final.modes, "n_modes": len(recorder.means), "hq": final.hq,
            "seconds": round(time.perf_counter() - t0, 2), "files": [str(png), str(gif)],
            "run_dir": str(run.path)}

