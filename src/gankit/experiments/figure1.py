"""The paper's Figure 1, drawn from a real 1-D run instead of a sketch.

A small GAN (z ~ U(-sqrt 3, sqrt 3), 1-D -> 1-D MLPs, Algorithm 1, alternating) learns a 1-D p_data.
It trains through the one engine (:func:`gankit.runs.train.train`, the ``figure1-gauss`` or
``figure1-mixture`` preset), so the command leaves a normal run folder that can be sampled, resumed
and exported. :class:`Figure1Recorder`, a callback, records the snapshots: at each, the densities
are computed exactly on a grid (``gankit.theory``: p_g by the change of variables through G, D* by
Proposition 1, C(G) and the JSD of Theorem 1), so the pictures show the real p_g, not a histogram.
:mod:`gankit.figures.figure1` draws them.

Figure 1's four panels are:
(a) a snapshot of the run where p_g first overlaps p_data (JSD below ``PANEL_A_JSD``);
(b) the same G, with a copy of D trained alone for ``INNER_D_STEPS`` steps: D moves towards D*;
(c) then a copy of G trained against that D (fixed) while the JSD falls, at most ``G_STEPS_C`` steps:
    G(z) flows towards the data (more steps against a stale D overshoot: G's mass runs past p_data
    to where D is highest — the reason Algorithm 1 interleaves the two);
(d) the end of the run, where D is close to 1/2.
(b) and (c) use copies with their own random streams (a theory illustration, not training), so the
run itself is Algorithm 1 untouched.

The recipe (the presets; measured with benchmarks/figure1_run.py, the numbers are in its
docstring) is chosen so that the run *ends* at the paper's equilibrium, D = D* = 1/2, where the
metric can see it:

- G has smooth (ELU) hidden units. A ReLU G is piecewise linear in z, so p_g is a staircase with a
  jump at every kink; D* = p_data / (p_data + p_g) jumps with it, and a smooth D cannot follow.
  (tanh units more often ended with a fold, a non-monotone G whose p_g has cusps: JSD 0.03–0.04.)
- G's input layer is the fixed, parameter-free map
  z -> sqrt(3)/pi · logit((z + sqrt 3) / (2 sqrt 3)) (``g_input="logit"``,
  :class:`gankit.nets.mlp.LogitInput`; z itself stays uniform, as in the paper). Why: a bounded z
  through an MLP of bounded slope gives a p_g with bounded support and hard edges, and D* = 1 just
  beyond them. To produce a Gaussian's tails G'(z) must grow without bound at the ends of z; a
  small MLP on raw z learns that from the few samples there only slowly. With this recipe on raw z
  (``g_input="z"``), G's range ended near [0.9, 3.0] while p_data + p_g >= 10% of its peak on
  [0.93, 3.07]: final JSD 0.03–0.04, max |D - D*| 0.25–0.65 (seeds 0–2), against 0.0006–0.001 and
  0.01–0.02 through the logit layer. Through it G's range is unbounded and G only has to reshape a
  logistic (unit variance) into p_data; the arrows x = G(z) still start from a uniform z.
- Two time-scales (Heusel et al., 2017) and k = 2: D learns 10× faster than G (3e-3 against 3e-4)
  and takes two steps per G step, so D stays close to D* and G follows the JSD's gradient instead of
  chasing a stale D (with equal rates of 1e-3 and k = 1 the JSD swung between 0.02 and 0.5 during
  training). k = 2 and D (64, 64) are for the mixture: with k = 1 and D (32, 32) its final JSD was
  0.03–0.2.
- The last half of the run anneals both learning rates (cosine) to 1% of their values
  (``lr_schedule="cosine(start=0.5, final=0.01)"``), so the game settles instead of ending at a
  random phase of its minibatch-noise oscillation.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from gankit import theory
from gankit.algorithm1 import d_step, g_step
from gankit.config import Config, parse_lr_schedule, resolve_config
from gankit.data import MinibatchStream
from gankit.data.toy import GAUSS1D_MEAN, GAUSS1D_STD, MIXTURE1D_MEANS, MIXTURE1D_STD
from gankit.engine.callbacks import Callback
from gankit.figures.figure1 import (SUPPORT_FRACTION, SUPPORT_FRACTION_STRICT, Snapshot, animate,
                                    draw_figure1, draw_theory_curves)
from gankit.nets import sample_noise
from gankit.runs.run import Run
from gankit.runs.train import train
from gankit.utils.atomic import atomic_path, write_text_atomic
from gankit.utils.jsonl import to_json

PANEL_A_JSD = 0.3  # (a): the first snapshot with JSD(p_data ‖ p_g) below this (nats; log 2 = 0.69)
INNER_D_STEPS = 300  # (b): D-only steps, G fixed (Algorithm 1's inner loop run long)
G_STEPS_C = 40  # (c): at most this many G-only steps, D fixed (stops when JSD stops falling)
N_SNAPSHOTS = 60  # frames of the animation (plus step 0 and the last step)
N_Z = 20_001  # z grid for the change of variables
DX = 0.005  # x grid spacing for the integrals
N_ARROWS = 15  # arrows x = G(z) drawn from the z line


@dataclass
class Data1D:
    """A 1-D p_data with a known density (for D*, JSD, C(G)), and the preset that trains on a
    sample of it (the preset's dataset is drawn from this density)."""

    name: str
    preset: str
    means: tuple[float, ...]
    std: float
    view: tuple[float, float] = (-0.5, 4.5)

    def cdf(self, x: np.ndarray) -> np.ndarray:
        return theory.mixture_cdf(x, self.means, [self.std] * len(self.means))

    def pdf(self, x: np.ndarray) -> np.ndarray:
        return theory.mixture_pdf(x, self.means, [self.std] * len(self.means))

    @property
    def support(self) -> tuple[float, float]:
        """An interval holding all but ~1e-15 of the mass (8 sigma)."""
        return min(self.means) - 8 * self.std, max(self.means) + 8 * self.std


DATA_1D = {
    "gauss": Data1D("gauss", "figure1-gauss", (GAUSS1D_MEAN,), GAUSS1D_STD),  # dataset gauss1d
    "mixture": Data1D("mixture", "figure1-mixture", MIXTURE1D_MEANS, MIXTURE1D_STD),  # mixture1d
}


def _as_numpy_fn(net: torch.nn.Module) -> Callable[[np.ndarray], np.ndarray]:
    """A 1-D -> 1-D network as a numpy function (float64 out), for gankit.theory."""
    def f(v: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = net(torch.as_tensor(v, dtype=torch.float32).reshape(-1, 1))
        return out.reshape(-1).double().numpy()
    return f


def evaluate(G: torch.nn.Module, D: torch.nn.Module, data: Data1D, step: int, label: str = "",
             n_z: int = N_Z, dx: float = DX) -> Snapshot:
    """Densities, D, D* and the theory's numbers for the current (G, D)."""
    G_np, D_logit = _as_numpy_fn(G), _as_numpy_fn(D)
    # Integration grid: all of p_data's support and all of G's range, so no mass falls off the
    # grid and Theorem 1's identity is checked to rounding error (its defect is log 4 × mass lost).
    g_lo, g_hi = theory.G_range(G_np, n_z=n_z)
    lo, hi = min(g_lo, data.support[0]), max(g_hi, data.support[1])
    dx = max(dx, (hi - lo) / 40_000)  # a diverged G must not make the grid huge
    x = lo - dx + dx * np.arange(int(math.ceil((hi - lo) / dx)) + 3)
    p_data = theory.cell_average(data.cdf, x)
    p_g = theory.density_of_G_1d(G_np, x, n_z=n_z)
    logits = D_logit(x)
    D_x = 1 / (1 + np.exp(-logits))
    log_D, log_1m_D = -np.logaddexp(0, -logits), -np.logaddexp(0, logits)  # -softplus(∓l)
    D_star = theory.optimal_discriminator(p_data, p_g)
    C_G = theory.virtual_criterion(p_data, p_g, x)
    jsd = theory.jsd(p_data, p_g, x)
    total = p_data + p_g
    near = total >= SUPPORT_FRACTION * total.max()  # where V actually depends on D (Eq. 3)
    err = np.abs(D_x - D_star)
    near_strict = total >= SUPPORT_FRACTION_STRICT * total.max()
    # The view grid for drawing: densities interpolated from the fine grid, D evaluated directly.
    xv = np.linspace(*data.view, 801)
    # arrows from the middles of N_ARROWS equal-mass z cells (not from z = ±sqrt 3, which a
    # LogitInput G sends to its extreme values)
    z_arrows = -theory.SQRT_3 + (np.arange(N_ARROWS) + 0.5) * (2 * theory.SQRT_3 / N_ARROWS)
    return Snapshot(
        step=step, label=label, x=xv, p_data=data.pdf(xv), p_g=np.interp(xv, x, p_g, 0, 0),
        D=1 / (1 + np.exp(-D_logit(xv))), D_star=np.interp(xv, x, D_star),
        z_arrows=z_arrows, G_arrows=G_np(z_arrows), jsd=jsd, C_G=C_G,
        V=theory.value_V(D_x, p_data, p_g, x, log_D=log_D, log_1m_D=log_1m_D),
        cg_identity_error=abs(C_G - (-theory.LOG_4 + 2 * jsd)),
        max_abs_d_minus_dstar=float(err[near].max()),
        max_abs_d_minus_dstar_1pct=float(err[near_strict].max()),
        mean_abs_d_minus_dstar=float(np.sum(err * total / 2) * dx),
        max_abs_d_minus_half=float(np.abs(D_x - 0.5)[near].max()),
        pg_mass=float(p_g.sum() * dx))


class Figure1Recorder(Callback):
    """Records Figure 1's snapshots during a run of the engine, and builds the four panels.

    Snapshots: at step 0 (``on_start``), then every ``max(1, steps // n_snapshots)`` steps and at
    the last step (``on_step``). Panels (a)-(c) at the first snapshot whose JSD is below
    ``PANEL_A_JSD`` (or a quarter of the way through), from copies; (d) the last snapshot. The
    snapshots show the trained G (the one D plays against), not a weight average.
    """

    def __init__(self, data: Data1D, n_snapshots: int = N_SNAPSHOTS,
                 log: Callable[[str], None] | None = None):
        self.data, self.n_snapshots, self.log = data, n_snapshots, log
        self.snapshots: list[Snapshot] = []
        self.panels: list[Snapshot] = []
        self.every = 1

    def on_start(self, engine: Any) -> None:
        st = engine.state
        self.every = max(1, engine.config.steps // self.n_snapshots)
        self.snapshots.append(evaluate(st.G, st.D, self.data, st.step))

    def on_step(self, engine: Any, stats: dict[str, Any]) -> None:
        st, steps, every = engine.state, engine.config.steps, self.every
        step = st.step
        if step % every and step != steps:
            return
        snap = evaluate(st.G, st.D, self.data, step)
        self.snapshots.append(snap)
        if not self.panels and (snap.jsd < PANEL_A_JSD or step >= steps // 4):
            self.panels += panels_abc(st.G, st.D, st.opt_G, st.opt_D, self.data,
                                      engine.dataset.train, engine.config,
                                      engine.objective.g_loss, snap)
        if self.log and (step * 10 // steps > (step - every) * 10 // steps or step == steps):
            self.log(f"step {step:>6}  JSD {snap.jsd:.4f}  C(G) {snap.C_G:+.4f}  "
                     f"V(D,G) {snap.V:+.4f}  max|D-1/2| {snap.max_abs_d_minus_half:.3f}")

    def on_end(self, engine: Any) -> None:
        st = engine.state
        if self.snapshots[-1].step != st.step:  # stopped (Ctrl-C) between snapshots
            self.snapshots.append(evaluate(st.G, st.D, self.data, st.step))
        final = self.snapshots[-1]
        final.label = f"(d) step {final.step}: near convergence, D ≈ 1/2"
        self.panels.append(final)


def panels_abc(G, D, opt_G, opt_D, data1d: Data1D, x_train: torch.Tensor, config: Config,
               g_loss, snap_a: Snapshot) -> list[Snapshot]:
    """(a) the snapshot; (b) D trained alone towards D*; (c) G then trained against that D.

    Works on copies with their own random streams, so the main run is unaffected.
    """
    a = copy.copy(snap_a)
    a.label = f"(a) step {a.step}: p_g overlaps p_data, D partly accurate"
    D_b, opt_D_b = _copy_with_optimizer(D, opt_D)
    stream = MinibatchStream(x_train, config.batch, torch.Generator().manual_seed(config.seed + 11))
    noise_gen = torch.Generator().manual_seed(config.seed + 12)
    noise = lambda: sample_noise(config.batch, 1, config.z_dist, noise_gen)  # noqa: E731
    for _ in range(INNER_D_STEPS):  # Algorithm 1's inner loop, run long: D -> D*
        d_step(G, D_b, opt_D_b, stream.next(), noise())
    b = evaluate(G, D_b, data1d, a.step, f"(b) {INNER_D_STEPS} D steps: D → D* = p_data/(p_data+p_g)")
    G_c, opt_G_c = _copy_with_optimizer(G, opt_G)
    c = b
    for n in range(1, G_STEPS_C + 1):  # G follows D's gradient towards the data ...
        g_step(G_c, D_b, opt_G_c, noise(), g_loss)
        c_next = evaluate(G_c, D_b, data1d, a.step)
        if c_next.jsd >= c.jsd:  # ... until the stale D stops guiding it closer
            break
        c = c_next
    c = copy.copy(c)
    c.label = f"(c) {n - 1} G steps: G(z) flows towards the data"
    return [a, b, c]


def _copy_with_optimizer(net: torch.nn.Module, opt: torch.optim.Optimizer):
    """A copy of a network and of its Adam optimiser's state (so the copy trains like the original)."""
    net2 = copy.deepcopy(net)
    opt2 = type(opt)(net2.parameters(), **opt.defaults)
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))
    return net2, opt2


# --- the run ---------------------------------------------------------------------------------------

@dataclass
class Figure1Run:
    """A finished 1-D run: its run folder, snapshots (one per frame) and Figure 1's four panels."""

    data: Data1D
    config: Config
    run: Run
    snapshots: list[Snapshot] = field(default_factory=list)
    panels: list[Snapshot] = field(default_factory=list)
    seconds: float = 0.0


def figure1_config(data: str = "gauss", steps: int | None = None, seed: int = 0,
                   runs_dir: str | Path | None = None, g_input: str | None = None) -> Config:
    """The preset of ``data`` (gauss: ``figure1-gauss``, mixture: ``figure1-mixture``) with the
    given overrides (None: the preset's)."""
    return resolve_config(DATA_1D[data].preset, steps=steps, seed=seed, g_input=g_input,
                          runs_dir=None if runs_dir is None else str(runs_dir))


def run_1d(data: str = "gauss", steps: int | None = None, seed: int = 0,
           runs_dir: str | Path | None = None, n_snapshots: int = N_SNAPSHOTS,
           log: Callable[[str], None] | None = None, g_input: str | None = None) -> Figure1Run:
    """Train the 1-D GAN (the engine, Algorithm 1) in a run folder under ``runs_dir`` and record
    snapshots and Figure 1's panels.

    ``steps`` and ``g_input`` ("logit" or "z") default to the preset's.
    """
    t0 = time.perf_counter()
    config = figure1_config(data, steps, seed, runs_dir, g_input)
    recorder = Figure1Recorder(DATA_1D[data], n_snapshots, log)
    threads = torch.get_num_threads()  # the run picks its own (1 for these small nets)
    try:
        run = train(config, progress=False, callbacks=[recorder])
    finally:
        torch.set_num_threads(threads)
    return Figure1Run(DATA_1D[data], config, run, recorder.snapshots, recorder.panels,
                      time.perf_counter() - t0)


def schedule_text(config: Config) -> str:
    """The learning-rate annealing in words: "cosine to 0.01x over the last 50% of the steps"."""
    for kind, args in parse_lr_schedule(config.lr_schedule):
        if kind == "cosine":
            return (f"cosine to {args['final']:g}x over the last {1 - args['start']:.0%} of "
                    f"the steps")
    return config.lr_schedule


def save_snapshots(snapshots: list[Snapshot], path: str | Path) -> Path:
    """The snapshots' arrays as one compressed npz (the view grid and p_data once)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, x=snapshots[0].x, step=[s.step for s in snapshots],
                            p_data=snapshots[0].p_data,
                            p_g=np.stack([s.p_g for s in snapshots]),
                            D=np.stack([s.D for s in snapshots]),
                            D_star=np.stack([s.D_star for s in snapshots]),
                            jsd=[s.jsd for s in snapshots], C_G=[s.C_G for s in snapshots],
                            V=[s.V for s in snapshots])
    return path


def figure1(data: str = "gauss", steps: int | None = None, out: str | Path = "figures/figure1",
            seed: int = 0, log: Callable[[str], None] | None = None,
            g_input: str | None = None) -> dict:
    """Train (the run folder goes in ``out/runs``, as ``gankit reproduce``'s), draw and save
    everything; return the summary (the CLI prints it as JSON). ``steps`` and ``g_input`` default
    to the preset's."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = run_1d(data, steps, seed, runs_dir=out / "runs", log=log, g_input=g_input)
    cfg, snaps, panels = result.config, result.snapshots, result.panels
    t0 = time.perf_counter()
    files = [draw_figure1(panels, out / "figure1.png"), draw_theory_curves(snaps, out / "theory.png")]
    files += animate(snaps, out / "figure1_run")
    files += [save_snapshots(snaps, out / "snapshots.npz"), result.run.path / "config.json"]
    final, first = snaps[-1], snaps[0]
    summary = {
        "figure": "figure1", "data": data, "steps": cfg.steps, "seed": cfg.seed,
        "schedule": cfg.schedule, "k": cfg.k, "g_loss": cfg.g_loss, "z_dist": cfg.z_dist,
        "g_input": cfg.g_input, "g_activation": cfg.g_activation, "optimizer": cfg.optimizer,
        "lr_g": cfg.lr_g, "lr_d": cfg.lr_d, "batch": cfg.batch, "lr_anneal": schedule_text(cfg),
        "initial_jsd": first.jsd, "final_jsd": final.jsd, "min_jsd": min(s.jsd for s in snaps),
        "max_abs_d_minus_dstar": final.max_abs_d_minus_dstar,
        "max_abs_d_minus_dstar_1pct": final.max_abs_d_minus_dstar_1pct,
        "mean_abs_d_minus_dstar": final.mean_abs_d_minus_dstar,
        "max_abs_d_minus_half": final.max_abs_d_minus_half,
        "cg_identity_error": final.cg_identity_error,
        "max_cg_identity_error": max(s.cg_identity_error for s in snaps),
        "final_C_G": final.C_G, "final_V": final.V,
        "panel_b_max_abs_d_minus_dstar": panels[1].max_abs_d_minus_dstar if len(panels) > 1 else None,
        "panel_a_max_abs_d_minus_dstar": panels[0].max_abs_d_minus_dstar,
        "support_fraction": SUPPORT_FRACTION, "support_fraction_strict": SUPPORT_FRACTION_STRICT,
        "pg_mass": final.pg_mass,
        "train_seconds": round(result.seconds, 2), "draw_seconds": round(time.perf_counter() - t0, 2),
        "files": [str(p) for p in files], "run_dir": str(result.run.path),
    }
    write_text_atomic(out / "summary.json", to_json(summary, indent=2))
    return summary
