"""The paper's Figure 1, drawn from a real 1-D run instead of a sketch.

A small GAN (z ~ U(-sqrt 3, sqrt 3), 1-D -> 1-D MLPs, Algorithm 1, alternating) learns a 1-D p_data.
At every snapshot the densities are computed exactly on a grid (``gankit.theory``: p_g by the change
of variables through G, D* by Proposition 1, C(G) and the JSD of Theorem 1), so the pictures show the
real p_g, not a histogram.

Figure 1's four panels are:
(a) a snapshot of the run where p_g first overlaps p_data (JSD below ``PANEL_A_JSD``);
(b) the same G, with a copy of D trained alone for ``INNER_D_STEPS`` steps: D moves towards D*;
(c) then a copy of G trained against that D (fixed) while the JSD falls, at most ``G_STEPS_C`` steps:
    G(z) flows towards the data (more steps against a stale D overshoot: G's mass runs past p_data
    to where D is highest — the reason Algorithm 1 interleaves the two);
(d) the end of the run, where D is close to 1/2.
(b) and (c) use copies, so the run itself is Algorithm 1 untouched.

The recipe (measured with benchmarks/figure1_run.py; the numbers are in its docstring) is chosen so
that the run *ends* at the paper's equilibrium, D = D* = 1/2, where the metric can see it:

- G has smooth (ELU) hidden units. A ReLU G is piecewise linear in z, so p_g is a staircase with a
  jump at every kink; D* = p_data / (p_data + p_g) jumps with it, and a smooth D cannot follow.
  (tanh units more often ended with a fold, a non-monotone G whose p_g has cusps: JSD 0.03–0.04.)
- G's input layer is the fixed, parameter-free map
  z -> sqrt(3)/pi · logit((z + sqrt 3) / (2 sqrt 3)) (``LogitInput``; z itself stays uniform, as in
  the paper). Why: a bounded z through an MLP of bounded slope gives a p_g with bounded support and
  hard edges, and D* = 1 just beyond them. To produce a Gaussian's tails G'(z) must grow without
  bound at the ends of z; a small MLP on raw z learns that from the few samples there only slowly.
  With this recipe on raw z (``g_input="z"``), G's range ended near [0.9, 3.0] while p_data + p_g
  >= 10% of its peak on [0.93, 3.07]: final JSD 0.03–0.04, max |D - D*| 0.25–0.65 (seeds 0–2),
  against 0.0006–0.001 and 0.01–0.02 through the logit layer. Through it G's range is unbounded
  and G only has to reshape a logistic (unit variance) into p_data; the arrows x = G(z) still start
  from a uniform z.
- Two time-scales (Heusel et al., 2017) and k = 2: D learns 10× faster than G (3e-3 against 3e-4)
  and takes two steps per G step, so D stays close to D* and G follows the JSD's gradient instead of
  chasing a stale D (with equal rates of 1e-3 and k = 1 the JSD swung between 0.02 and 0.5 during
  training). k = 2 and D (64, 64) are for the mixture: with k = 1 and D (32, 32) its final JSD was
  0.03–0.2.
- The last half of the run anneals both learning rates (cosine) to 1% of their values, so the game
  settles instead of ending at a random phase of its minibatch-noise oscillation.
"""

from __future__ import annotations

import copy
import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from gankit import theory
from gankit.algorithm1 import d_step, g_step, training_iteration
from gankit.config import resolve_config
from gankit.data.base import Dataset, MinibatchStream
from gankit.data.toy import GAUSS1D_MEAN, GAUSS1D_STD, TOY_DATA_SEED, TOY_TRAIN_SIZE, sample_mixture
from gankit.objectives import OBJECTIVES
from gankit.nets import build_networks, sample_noise
from gankit.optim import build_optimizers

PANEL_A_JSD = 0.3  # (a): the first snapshot with JSD(p_data ‖ p_g) below this (nats; log 2 = 0.69)
INNER_D_STEPS = 300  # (b): D-only steps, G fixed (Algorithm 1's inner loop run long)
G_STEPS_C = 40  # (c): at most this many G-only steps, D fixed (stops when JSD stops falling)
#: max |D - D*| is reported where p_data + p_g >= this fraction of its peak. Outside, Eq. 3 weights
#: D's error by p_data + p_g, so V hardly depends on D and no trained D is expected to match D*
#: (a Gaussian has infinite support, and D* = p_data / (p_data + p_g) is a ratio of two vanishing
#: tails there). 10% of the peak is N(2, 0.5^2)'s ±2.15 sigma, 97% of its mass. The summary also
#: gives the stricter ``max_abs_d_minus_dstar_1pct`` (1% of the peak, ±3 sigma: the tolerance region
#: of the Proposition 1 test in tests/test_theory.py).
SUPPORT_FRACTION = 0.1
SUPPORT_FRACTION_STRICT = 0.01

#: The training recipe (see the module docstring): per-data default steps, G and D, two time-scales.
DEFAULT_STEPS = {"gauss": 4000, "mixture": 6000}  # the mixture: a steep middle and two tails
G_HIDDEN, D_HIDDEN = (32, 32), (64, 64)
G_ACTIVATION = "elu"
LR_G, LR_D, K_D_STEPS, BATCH = 3e-4, 3e-3, 2, 100
LR_ANNEAL_FROM = 0.5  # cosine-anneal both learning rates over the last half of the run ...
LR_FINAL_FRACTION = 0.01  # ... down to 1% of their initial values
LOGIT_EPS = 1e-6  # LogitInput clamps u to [eps, 1 - eps], so G's range stays finite
N_Z = 20_001  # z grid for the change of variables
DX = 0.005  # x grid spacing for the integrals
N_ARROWS = 15  # arrows x = G(z) drawn from the z line

class LogitInput(torch.nn.Module):
    """G's fixed first layer: uniform z -> w = sqrt(3)/pi · logit(u), u = (z + sqrt 3) / (2 sqrt 3).

    No parameters: z is still U(-sqrt 3, sqrt 3) and the trainable part of G is the MLP ``net``
    after it. w is logistic with unit variance, unbounded as u -> 0 or 1, so G = net(w) can put
    mass in p_data's tails without learning an infinite slope at the ends of z (see the module
    docstring).
    u is clamped to [eps, 1 - eps]: the 2·eps of p_z's mass beyond lands on G's two end values.
    """

    SCALE = math.sqrt(3) / math.pi  # logistic(0, 1) has variance pi^2 / 3

    def __init__(self, net: torch.nn.Module, eps: float = LOGIT_EPS):
        super().__init__()
        self.net, self.eps = net, eps

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        u = ((z + theory.SQRT_3) / (2 * theory.SQRT_3)).clamp(self.eps, 1 - self.eps)
        return self.net(self.SCALE * torch.logit(u))


def lr_factor(step: int, steps: int, start: float = LR_ANNEAL_FROM,
              final: float = LR_FINAL_FRACTION) -> float:
    """Learning-rate multiplier for update ``step`` (1-based) of ``steps``: 1, then a cosine down
    to ``final`` over the last ``1 - start`` of the run (the game settles before the last snapshot).
    """
    begin = int(steps * start)
    if step <= begin or steps <= begin:
        return 1.0
    t = (step - begin) / (steps - begin)
    return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * t))


#: 1-D p_data: (cdf, pdf, sampler(n, generator), view window)
MIXTURE_MEANS, MIXTURE_STD = (1.25, 2.75), 0.35


@dataclass
class Data1D:
    """A 1-D p_data with a known density (for D*, JSD, C(G)) and a training sample."""

    name: str
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

    def dataset(self) -> Dataset:
        """The fixed training sample (gankit's toy-data convention: 100,000 points, seed 1234)."""
        gen = torch.Generator().manual_seed(TOY_DATA_SEED)
        means = torch.tensor(self.means, dtype=torch.float64)[:, None]
        return Dataset(f"{self.name}1d", sample_mixture(means, self.std, TOY_TRAIN_SIZE, gen),
                       unit_range=False)


DATA_1D = {
    "gauss": Data1D("gauss", (GAUSS1D_MEAN,), GAUSS1D_STD),  # the gauss1d dataset's density
    "mixture": Data1D("mixture", MIXTURE_MEANS, MIXTURE_STD),
}


@dataclass
class Snapshot:
    """Everything a panel or a frame shows, and the theory's numbers, at one moment."""

    step: int
    label: str
    x: np.ndarray  # the view grid
    p_data: np.ndarray
    p_g: np.ndarray
    D: np.ndarray
    D_star: np.ndarray
    z_arrows: np.ndarray
    G_arrows: np.ndarray  # x = G(z) for z_arrows
    jsd: float
    C_G: float  # max_D V by integration with D = D* (Eq. 4)
    V: float  # V(D, G) with the network's D (Eq. 3)
    cg_identity_error: float  # |C(G) - (-log 4 + 2 JSD)| (Theorem 1)
    max_abs_d_minus_dstar: float  # where p_data + p_g >= SUPPORT_FRACTION of its peak
    max_abs_d_minus_dstar_1pct: float  # where p_data + p_g >= SUPPORT_FRACTION_STRICT of its peak
    mean_abs_d_minus_dstar: float  # weighted by (p_data + p_g)/2
    max_abs_d_minus_half: float
    pg_mass: float  # mass of p_g on the integration grid (should be 1)

    def numbers(self) -> dict[str, float]:
        return {k: v for k, v in asdict(self).items() if isinstance(v, (int, float, str))}


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


@dataclass
class Figure1Run:
    """A finished 1-D run: its snapshots (one per frame) and Figure 1's four panels."""

    data: Data1D
    config: dict
    snapshots: list[Snapshot] = field(default_factory=list)
    panels: list[Snapshot] = field(default_factory=list)
    seconds: float = 0.0


def run_1d(data: str = "gauss", steps: int | None = None, seed: int = 0, n_snapshots: int = 60,
           log: Callable[[str], None] | None = None, g_input: str = "logit") -> Figure1Run:
    """Train the 1-D GAN with Algorithm 1 and record snapshots and Figure 1's panels.

    ``steps``: generator steps (default ``DEFAULT_STEPS[data]``). ``g_input``: "logit" (G's fixed
    first layer is :class:`LogitInput`) or "z" (the MLP sees z itself).
    """
    t0 = time.perf_counter()
    data1d = DATA_1D[data]
    steps = DEFAULT_STEPS[data] if steps is None else steps
    if g_input not in ("logit", "z"):
        raise ValueError(f"g_input must be 'logit' or 'z', got {g_input!r}")
    # The gauss1d preset (z 1-D uniform, as in Figure 1) with small nets (a few ms per iteration
    # on one core) and the recipe of the module docstring.
    config = resolve_config("gauss1d", steps=steps, seed=seed, g_hidden=G_HIDDEN, d_hidden=D_HIDDEN,
                            g_activation=G_ACTIVATION, lr_d=LR_D, lr_g=LR_G, k=K_D_STEPS,
                            batch=BATCH)
    dataset = data1d.dataset()
    torch.manual_seed(seed)
    G, D = build_networks(config, dataset)
    if g_input == "logit":
        G = LogitInput(G)
    opt_G, opt_D = build_optimizers(config, G, D)
    objective = OBJECTIVES.get(config.g_loss)
    stream = MinibatchStream(dataset.train, config.batch, torch.Generator().manual_seed(seed + 1))
    noise_gen = torch.Generator().manual_seed(seed + 2)

    def next_noise() -> torch.Tensor:
        return sample_noise(config.batch, 1, config.z_dist, noise_gen)

    run = Figure1Run(data1d, {**config.to_dict(), "dataset": dataset.name, "g_input": g_input,
                              "lr_anneal_from": LR_ANNEAL_FROM,
                              "lr_final_fraction": LR_FINAL_FRACTION})
    every = max(1, steps // n_snapshots)
    run.snapshots.append(evaluate(G, D, data1d, 0))
    panel_a_done = False
    for step in range(1, steps + 1):
        factor = lr_factor(step, steps)
        for opt, lr in ((opt_G, config.lr_g), (opt_D, config.lr_d)):
            for group in opt.param_groups:
                group["lr"] = lr * factor
        training_iteration(G, D, opt_G, opt_D, stream.next, next_noise, objective, k=config.k,
                           schedule=config.schedule)  # Algorithm 1
        if step % every and step != steps:
            continue
        snap = evaluate(G, D, data1d, step)
        run.snapshots.append(snap)
        if not panel_a_done and (snap.jsd < PANEL_A_JSD or step >= steps // 4):
            run.panels += _panels_abc(G, D, opt_G, opt_D, data1d, dataset, config, objective.g_loss, snap)
            panel_a_done = True
        if log and (step * 10 // steps > (step - every) * 10 // steps or step == steps):
            log(f"step {step:>6}  JSD {snap.jsd:.4f}  C(G) {snap.C_G:+.4f}  V(D,G) {snap.V:+.4f}  "
                f"max|D-1/2| {snap.max_abs_d_minus_half:.3f}")
    final = run.snapshots[-1]
    final.label = f"(d) step {final.step}: near convergence, D ≈ 1/2"
    run.panels.append(final)
    run.seconds = time.perf_counter() - t0
    return run


def _panels_abc(G, D, opt_G, opt_D, data1d, dataset, config, g_loss, snap_a):
    """(a) the snapshot; (b) D trained alone towards D*; (c) G then trained against that D.

    Works on copies with their own random streams, so the main run is unaffected.
    """
    a = copy.copy(snap_a)
    a.label = f"(a) step {a.step}: p_g overlaps p_data, D partly accurate"
    D_b, opt_D_b = _copy_with_optimizer(D, opt_D)
    stream = MinibatchStream(dataset.train, config.batch, torch.Generator().manual_seed(config.seed + 11))
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


# --- drawing -----------------------------------------------------------------------------------------

def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


X_LINE, Z_LINE = -0.18, -0.55  # heights of the x line and of the z line below the densities


def draw_panel(ax, snap: Snapshot, ymax: float = 1.05, show_dstar: bool = True,
               legend: bool = False) -> list:
    """One Figure 1 panel: p_data dotted black, D dashed blue, p_g solid green; z line with arrows."""
    lo, hi = snap.x[0], snap.x[-1]
    artists = []
    artists += ax.plot(snap.x, snap.p_data, ":", color="black", lw=1.8, label="p_data")
    artists += ax.plot(snap.x, snap.p_g, "-", color="green", lw=1.5, label="p_g")
    artists += ax.plot(snap.x, snap.D, "--", color="blue", lw=1.5, label="D(x)")
    if show_dstar:
        # D* only where p_data + p_g is not negligible (>= 1% of its peak): beyond, it is the ratio
        # of two vanishing tails, which swings between 0 and 1 with no effect on V (Eq. 3)
        total = snap.p_data + snap.p_g
        D_star = np.where(total >= SUPPORT_FRACTION_STRICT * total.max(), snap.D_star, np.nan)
        artists += ax.plot(snap.x, D_star, "-", color="tab:blue", lw=0.6, alpha=0.6,
                           label="D* (Prop. 1)")
    # The paper's lower half: the z line (z ~ U(-sqrt 3, sqrt 3), spread under the view) and the
    # x line above it; arrows show the mapping x = G(z).
    artists.append(ax.hlines([X_LINE, Z_LINE], lo, hi, color="black", lw=0.8))
    margin = 0.15 * (hi - lo)
    z_pos = np.interp(snap.z_arrows, [-theory.SQRT_3, theory.SQRT_3], [lo + margin, hi - margin])
    for zp, gx in zip(z_pos, snap.G_arrows):
        gx = float(np.clip(gx, lo, hi))
        artists.append(ax.annotate("", xy=(gx, X_LINE), xytext=(zp, Z_LINE),
                                   arrowprops=dict(arrowstyle="->", lw=0.7, color="black")))
    artists.append(ax.text(lo, Z_LINE - 0.05, "z", va="top", fontsize=8))
    artists.append(ax.text(lo, X_LINE + 0.02, "x", va="bottom", fontsize=8))
    ax.set_xlim(lo, hi)
    ax.set_ylim(Z_LINE - 0.12, ymax)
    ax.set_yticks([0, 0.5, 1.0])
    ax.spines[["top", "right"]].set_visible(False)
    ax.spines["left"].set_bounds(0, 1)
    ax.spines["bottom"].set_visible(False)
    ax.set_xticks([])
    if legend:
        ax.legend(fontsize=7, loc="upper left", ncol=2, frameon=False)
    return artists


def _save(fig, path: Path, **kw) -> Path:
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        fig.savefig(tmp, **kw)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def draw_figure1(panels: list[Snapshot], path: str | Path) -> Path:
    """Figure 1: four panels side by side, as in the paper, from a real run."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.4), sharey=True)
    try:
        for i, (ax, snap) in enumerate(zip(np.atleast_1d(axes), panels)):
            draw_panel(ax, snap, legend=(i == 0))
            ax.set_title(f"{snap.label}\nJSD {snap.jsd:.3f}, max|D−D*| {snap.max_abs_d_minus_dstar:.2f}",
                         fontsize=8)
        fig.tight_layout()
        return _save(fig, Path(path), dpi=100)
    finally:
        plt.close(fig)


def draw_theory_curves(snapshots: list[Snapshot], path: str | Path) -> Path:
    """V(D, G), C(G) = max_D V and -log 4 + 2·JSD over training, with the floor -log 4 (Theorem 1)."""
    plt = _plt()
    steps = [s.step for s in snapshots]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7, 5.5), sharex=True)
    try:
        ax1.plot(steps, [s.V for s in snapshots], color="tab:blue", lw=1.2, label="V(D, G), network D")
        ax1.plot(steps, [s.C_G for s in snapshots], color="black", lw=2.5, alpha=0.5,
                 label="C(G) = max_D V = V(D*, G)")
        ax1.plot(steps, [-theory.LOG_4 + 2 * s.jsd for s in snapshots], "--", color="tab:red",
                 lw=1.2, label="−log 4 + 2·JSD(p_data ‖ p_g)")
        ax1.axhline(-theory.LOG_4, color="gray", ls=":", lw=1, label="−log 4 (global minimum)")
        ax1.set_ylabel("nats")
        ax1.legend(fontsize=8)
        ax2.plot(steps, [s.jsd for s in snapshots], color="tab:red", label="JSD(p_data ‖ p_g)")
        ax2.plot(steps, [s.max_abs_d_minus_half for s in snapshots], color="tab:blue",
                 label=f"max |D − 1/2| (where p_data + p_g ≥ {SUPPORT_FRACTION:.0%} of its peak)")
        ax2.plot(steps, [s.max_abs_d_minus_dstar for s in snapshots], color="tab:green", lw=1,
                 label="max |D − D*| (same region)")
        ax2.set_xlabel("generator step")
        ax2.set_ylim(bottom=0)
        ax2.legend(fontsize=8)
        fig.tight_layout()
        return _save(fig, Path(path), dpi=100)
    finally:
        plt.close(fig)


def animate(snapshots: list[Snapshot], path: str | Path, fps: int = 8) -> list[Path]:
    """The whole run as a GIF (Pillow), and as an MP4 too when ffmpeg is installed."""
    plt = _plt()
    from matplotlib.animation import FFMpegWriter, FuncAnimation, PillowWriter

    fig, ax = plt.subplots(figsize=(5.5, 3.3))

    def frame(i: int):
        ax.clear()
        s = snapshots[i]
        draw_panel(ax, s, legend=True)
        ax.set_title(f"step {s.step}   JSD {s.jsd:.3f}   C(G) {s.C_G:+.3f}", fontsize=9)
        return []

    anim = FuncAnimation(fig, frame, frames=len(snapshots), blit=False)
    path = Path(path)
    written = []
    try:
        gif = path.with_suffix(".gif")
        tmp = gif.with_name(f".{gif.stem}.tmp-{os.getpid()}.gif")
        anim.save(tmp, writer=PillowWriter(fps=fps), dpi=72)
        os.replace(tmp, gif)
        written.append(gif)
        if shutil.which("ffmpeg"):
            mp4 = path.with_suffix(".mp4")
            anim.save(mp4, writer=FFMpegWriter(fps=fps), dpi=100)
            written.append(mp4)
    finally:
        plt.close(fig)
    return written


# --- the command's work ---------------------------------------------------------------------------------

def figure1(data: str = "gauss", steps: int | None = None, out: str | Path = "runs/figure1",
            seed: int = 0, log: Callable[[str], None] | None = None,
            g_input: str = "logit") -> dict:
    """Run, draw and save everything; return the summary (the CLI prints it as JSON).

    ``steps`` defaults to ``DEFAULT_STEPS[data]``; ``g_input`` as in :func:`run_1d`.
    """
    steps = DEFAULT_STEPS[data] if steps is None else steps
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny nets: threads cost more than they save (cf. train.choose_threads)
    try:
        run = run_1d(data, steps, seed, log=log, g_input=g_input)
    finally:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    files = [draw_figure1(run.panels, out / "figure1.png"),
             draw_theory_curves(run.snapshots, out / "theory.png")]
    files += animate(run.snapshots, out / "figure1_run")
    final, first = run.snapshots[-1], run.snapshots[0]
    summary = {
        "figure": "figure1", "data": data, "steps": steps, "seed": seed,
        "schedule": run.config["schedule"], "k": run.config["k"], "g_loss": run.config["g_loss"],
        "z_dist": run.config["z_dist"], "g_input": g_input,
        "g_activation": run.config["g_activation"], "optimizer": run.config["optimizer"],
        "lr_g": run.config["lr_g"], "lr_d": run.config["lr_d"], "batch": run.config["batch"],
        "lr_anneal": f"cosine to {LR_FINAL_FRACTION:g}x over the last "
                     f"{1 - LR_ANNEAL_FROM:.0%} of the steps",
        "initial_jsd": first.jsd, "final_jsd": final.jsd,
        "min_jsd": min(s.jsd for s in run.snapshots),
        "max_abs_d_minus_dstar": final.max_abs_d_minus_dstar,
        "max_abs_d_minus_dstar_1pct": final.max_abs_d_minus_dstar_1pct,
        "mean_abs_d_minus_dstar": final.mean_abs_d_minus_dstar,
        "max_abs_d_minus_half": final.max_abs_d_minus_half,
        "cg_identity_error": final.cg_identity_error,
        "max_cg_identity_error": max(s.cg_identity_error for s in run.snapshots),
        "final_C_G": final.C_G, "final_V": final.V,
        "panel_b_max_abs_d_minus_dstar": run.panels[1].max_abs_d_minus_dstar,
        "panel_a_max_abs_d_minus_dstar": run.panels[0].max_abs_d_minus_dstar,
        "support_fraction": SUPPORT_FRACTION, "support_fraction_strict": SUPPORT_FRACTION_STRICT,
        "pg_mass": final.pg_mass,
        "train_seconds": round(run.seconds, 2), "draw_seconds": round(time.perf_counter() - t0, 2),
    }
    (out / "config.json").write_text(json.dumps(run.config, indent=2), encoding="utf-8")
    np.savez_compressed(out / "snapshots.npz", x=run.snapshots[0].x,
                        step=[s.step for s in run.snapshots],
                        p_data=run.snapshots[0].p_data,
                        p_g=np.stack([s.p_g for s in run.snapshots]),
                        D=np.stack([s.D for s in run.snapshots]),
                        D_star=np.stack([s.D_star for s in run.snapshots]),
                        jsd=[s.jsd for s in run.snapshots], C_G=[s.C_G for s in run.snapshots],
                        V=[s.V for s in run.snapshots])
    summary["files"] = [str(p) for p in files + [out / "snapshots.npz", out / "config.json"]]
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary
