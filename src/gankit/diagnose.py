"""Convergence and mode-collapse verdicts from a run's logged statistics (and metrics, if any).

Over 400 lines on purpose: the verdicts decide together (one precedence, one set of calibrated
thresholds), so they are kept in one module a reader can check against each other.

The paper names two failures: the game may not converge, and G may collapse many z onto few x.
:func:`diagnose` turns ``stats.jsonl`` rows (``Loss/D``, ``Loss/G``, ``Prob/D(x)``, ``Prob/D(G(z))``,
``step``; optionally ``Grad/D``, ``Grad/G``, ``Grad/D_input_real``, ``Diversity/G``),
``metrics.jsonl`` rows and, for image runs, statistics of the sample grids into :class:`Verdict` s,
each with its evidence (the numbers) and a remedy. Kinds, in order of precedence:

- ``diverged``: a NaN/Inf in any statistic (error), or gradient norms that blew up after the
  warm-up (warning);
- ``d_wins``: D separates real from fake outright and G's signal is gone: the saturating minimax
  loss (its gradient in the logit is -D(G(z))), or G's gradient collapsed, or D(G(z)) ~ 0;
- ``oscillating``: D(x) - D(G(z)) swings around its trend and the swings do not decay;
- ``mode_collapse``: mode/class coverage or recall far below the real-data ceiling, or a shrunken
  fake batch;
- ``artifacts``: the newest sample grid has a checkerboard: a peak of energy at period 2 that the
  real images do not have;
- ``interrupted``: the log stops before the planned last step (Ctrl-C, a kill, or still running):
  the verdicts judge the rows logged so far (never "diverged" for that alone);
- ``too_early``: too early to judge: too few rows, D has not yet told real from fake at any logged
  step (the warm-up), or fewer than ``min_steps`` generator steps. It replaces every milder verdict
  (collapse, oscillation, equilibrium, healthy); the mode metrics go into its evidence;
- ``d_ahead``: D separates real from fake as in ``d_wins`` but G's signal is alive (info: usual
  early in a run, e.g. paper-mnist's first epochs);
- ``near_equilibrium``: D(x) ~ D(G(z)) ~ 1/2 and loss_D ~ log 4 (Theorem 1's point), and nothing
  above was found. Necessary, not sufficient: never reported next to a failure, since a collapsed G
  can sit there too (the collapse verdict says so instead);
- ``healthy``: none of the above problems; D still tells real from fake, but not perfectly.

The thresholds (:class:`Thresholds`) are calibrated on real runs of the presets and on deliberately
broken runs: ``benchmarks/verdict_calibration.py``. Everything here is a pure function of lists of
dicts (run folders: :mod:`gankit.runs.diagnosis`), so each verdict is tested with a synthetic log.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from gankit.constants import LOG_4
from gankit.objectives import OBJECTIVES, Objective

D_X, D_GZ = "Prob/D(x)", "Prob/D(G(z))"
F_X, F_GZ = "Critic/f(x)", "Critic/f(G(z))"  # a critic's mean scores (objectives without D(x))
GRAD_KEYS = ("Grad/D", "Grad/G", "Grad/D_input_real")

#: Verdict kinds in order of precedence (the report lists them so, within a severity), with titles.
TITLES = {
    "diverged": "diverged",
    "d_wins": "D wins (G gradients vanish)",
    "oscillating": "oscillating",
    "mode_collapse": "mode collapse suspected",
    "artifacts": "sample artefacts (checkerboard)",
    "interrupted": "interrupted",
    "too_early": "too early to judge",
    "d_ahead": "D ahead (G still learning)",
    "near_equilibrium": "near equilibrium",
    "healthy": "healthy",
}
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2, "ok": 3}
#: What no verdict here can see; printed with every diagnosis.
LIMITS = ("The verdicts read D's outputs, the losses, gradient norms, G's batch spread, the mode "
          "metrics and a checkerboard statistic of the newest sample grid: they cannot see how good "
          "samples look otherwise (blurry, noisy or off-distribution images, other artefacts), nor "
          "memorisation of the training set. Look at samples/ and measure with gankit eval.")
#: The verdicts given when no problem was found; :func:`diagnose` reports at most one, and only
#: alone (an ``interrupted`` note aside).
GOOD = ("d_ahead", "near_equilibrium", "healthy")
#: Failures that stand however early the run is (they are facts, not trends).
DECISIVE = ("diverged", "d_wins")


@dataclass(frozen=True)
class Thresholds:
    """Every number the verdicts compare against, in one place (see each check for why).

    Calibrated on real runs (benchmarks/results/verdict_calibration.md)."""

    window: float = 0.25            # the final fraction of the log that is "the current state"
    min_rows: int = 4               # fewer rows than this (after the warm-up) in a comparison: none
    # too early to judge: fewer rows after the warm-up, or fewer generator steps, than these
    min_judged_rows: int = 8
    min_steps: int = 1000
    # the warm-up: leading rows where D(x) - D(G(z)) < start_gap and G's batch has no spread
    # (Diversity/G < start_diversity): D has not started to tell real from fake (e.g. the paper's
    # G starts at the data mean, and D at 1/2 everywhere, for ~400 steps on digits)
    start_gap: float = 0.02
    start_diversity: float = 0.3
    # D wins: D's loss far below log 4 and fakes confidently rejected over the final window ...
    d_wins_loss_d: float = 0.35
    d_wins_d_fake: float = 0.15
    d_wins_gap: float = 0.6
    # ... and G's signal gone: the minimax loss, Grad/G below 1% of its peak, or D(G(z)) this low
    vanish_ratio: float = 0.01
    d_wins_d_fake_extreme: float = 0.01
    # oscillation of gap = D(x) - D(G(z)) around its linear trend over the second half
    osc_amplitude: float = 0.08     # std of the detrended gap
    osc_crossings: int = 3          # sign changes of the detrended gap (a trend is not a swing)
    osc_decay: float = 0.5          # amplitude(last quarter) / amplitude(third quarter) above this
    # equilibrium (Theorem 1: D = 1/2 everywhere, loss_D = log 4)
    eq_prob: float = 0.1
    eq_loss_d: float = 0.15
    # gradient blow-up: final window's median over the median after the warm-up, before the window
    blowup_factor: float = 100.0
    # mode collapse
    toy_mode_fraction: float = 1.0  # fewer than this fraction of the modes captured
    class_kl: float = 0.05          # KL(class histogram || uniform) in nats (noise floor: 0.00045)
    stacked_modes: int = 900
    stacked_kl: float = 0.3
    recall_ratio: float = 0.5       # recall below half the real-data recall
    diversity: float = 0.3          # Diversity/G: fake batch spread / real batch spread
    # checkerboard: the fakes' period-2 peak (period2_peak: white noise 1) above this, and this
    # many times the real images'
    checkerboard_peak: float = 2.0
    checkerboard_ratio: float = 2.0
    # a critic (hinge, WGAN): near equilibrium when E f(x) - E f(G(z)) fell below this of its peak
    critic_eq_fraction: float = 0.1


@dataclass(frozen=True)
class Verdict:
    """One finding: ``kind`` (a key of :data:`TITLES`), severity ok/info/warning/error, a one-line
    summary, the evidence (name -> number) and a suggested remedy."""

    kind: str
    severity: str
    summary: str
    evidence: Mapping[str, float] = field(default_factory=dict)
    remedy: str = ""

    @property
    def title(self) -> str:
        return TITLES[self.kind]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (RFC 8259): a NaN/Inf in the evidence becomes None (null)."""
        evidence = {k: (None if is_number(v) and not math.isfinite(v) else v)
                    for k, v in self.evidence.items()}
        return {**asdict(self), "title": self.title, "evidence": evidence}

    def __str__(self) -> str:
        text = f"[{self.severity}] {self.title}: {self.summary}"
        return text + (f" Remedy: {self.remedy}" if self.remedy else "")


# --- helpers ---------------------------------------------------------------------------------------

def _series(rows: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
    return np.array([float(r[key]) for r in rows if is_number(r.get(key))], dtype=np.float64)


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


#: How a NaN/Inf may be spelled in a JSON file that keeps to RFC 8259 (which has no NaN).
_NON_FINITE_SPELLINGS = ("NaN", "nan", "Infinity", "-Infinity", "inf", "-inf")


def is_non_finite(v: Any) -> bool:
    """A logged statistic that is NaN/Inf: a float, or (in a log written as strict JSON) ``null``
    or a string such as ``"NaN"``."""
    if is_number(v):
        return not math.isfinite(v)
    return v is None or (isinstance(v, str) and v in _NON_FINITE_SPELLINGS)


def _tail(x: np.ndarray, frac: float, min_len: int = 2) -> np.ndarray:
    n = max(min_len, int(math.ceil(len(x) * frac)))
    return x[-n:]


def _finite(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Rows before the first non-finite value (the statistics of a run before it broke)."""
    out = []
    for r in rows:
        if any(is_non_finite(v) for v in r.values()):
            break
        out.append(r)
    return out


def _r(v: float, digits: int = 4) -> float:
    return float(round(v, digits)) if math.isfinite(v) else float(v)


def warmup_rows(rows: Sequence[Mapping[str, Any]], th: Thresholds = Thresholds()) -> int:
    """How many leading rows are the warm-up: D(x) - D(G(z)) below ``start_gap`` and (where it is
    logged) Diversity/G below ``start_diversity``, i.e. D has not started to tell real from fake
    and G's batch has no spread. With the paper's initialisation G starts at the data mean and D at
    1/2: the statistics sit at the equilibrium's values, and gradients are ~1000x below their later
    level, which is neither equilibrium nor mode collapse, nor a baseline for gradient growth."""
    for i, r in enumerate(rows):
        dx, dgz = r.get(D_X), r.get(D_GZ)
        if is_number(dx) and is_number(dgz) and abs(dx - dgz) >= th.start_gap:
            return i
        div = r.get("Diversity/G")
        if is_number(div) and div >= th.start_diversity:
            return i
    return len(rows)


# --- the checks ------------------------------------------------------------------------------------

def check_diverged(rows: Sequence[Mapping[str, Any]], th: Thresholds = Thresholds(),
                   game: Objective | None = None) -> Verdict | None:
    """NaN/Inf in any logged statistic (error); else gradient norms that blew up (warning).

    Growth is measured from the gradients' level after the warm-up (the final window's median
    over the median of the rows between the warm-up and the window), never from the warm-up's
    tiny values: the digits preset's Grad/G grows ~180x from its warm-up in a healthy run."""
    for r in rows:
        bad = sorted(k for k, v in r.items() if is_non_finite(v))
        if bad:
            step = r.get("step", float("nan"))
            good = _finite(rows)
            ev: dict[str, float] = {"step": float(step)}
            if good and "step" in good[-1]:  # none when the very first logged row is bad
                ev["last_finite_step"] = float(good[-1]["step"])
            for k in ("Loss/D", "Loss/G", D_X, D_GZ, F_X, F_GZ, *GRAD_KEYS):
                if good and is_number(good[-1].get(k)):
                    ev[f"last_finite {k}"] = _r(float(good[-1][k]))
            bound = ("a Lipschitz constraint bounds the critic (--objective wgan-gp, or "
                     "--d-spectral-norm)" if game is not None and game.is_critic else
                     "use the non-saturating loss (--g-loss nonsaturating); a gradient penalty "
                     "(R1) also bounds D's gradients")
            return Verdict("diverged", "error",
                           f"{', '.join(bad)} became NaN/Inf at step {step}.", ev,
                           f"lower the learning rates (--lr-d/--lr-g, e.g. by 10x) and resume from "
                           f"the last good checkpoint; {bound}.")
    started = rows[warmup_rows(rows, th):]
    for key in GRAD_KEYS:
        g = _series(started, key)
        n_win = max(2, int(math.ceil(len(g) * th.window)))
        before, now = g[:-n_win], g[-n_win:]
        if len(before) < th.min_rows:
            continue
        early, late = float(np.median(before)), float(np.median(now))
        if early > 0 and late > th.blowup_factor * early:
            return Verdict("diverged", "warning",
                           f"{key} grew {late / early:.0f}x after the warm-up (median {early:.3g} "
                           f"before the final {th.window:.0%} of the log, {late:.3g} in it): the "
                           f"game is diverging.",
                           {f"{key} median before": _r(early), f"{key} median now": _r(late),
                            "growth": _r(late / early, 1)},
                           "lower the learning rates, or add an R1 gradient penalty on real data "
                           "(it bounds D's input gradient, Mescheder et al. 2018).")
    return None


def check_d_wins(rows: Sequence[Mapping[str, Any]], g_loss: str | None = None,
                 th: Thresholds = Thresholds(), eq_loss: float = LOG_4) -> Verdict | None:
    """D rejects fakes outright over the final window (loss_D << log 4, D(G(z)) ~ 0, D(x) ~ 1)
    and G's signal is gone: the minimax loss (its gradient scale is D(G(z)) itself), Grad/G below
    ``vanish_ratio`` of its peak, or D(G(z)) below ``d_wins_d_fake_extreme``.

    D being well ahead is not by itself a failure: with the non-saturating loss G's gradient scale
    is 1 - D(G(z)) ~ 1 there, and every paper-mnist run starts so and recovers. ``eq_loss``: D's
    loss at the equilibrium (log 4 for the paper's objective, 1/4 for LSGAN's), which scales the
    loss threshold."""
    m = _means(rows, th)
    if m is None or not _far_ahead(m, th, eq_loss):
        return None
    mld, mdx, mdgz = m
    ev = {"Loss/D": _r(mld), "equilibrium Loss/D": _r(eq_loss), D_X: _r(mdx), D_GZ: _r(mdgz)}
    why = []
    grad_g = _series(rows, "Grad/G")
    if len(grad_g) >= 2:
        peak, now = float(grad_g.max()), float(_tail(grad_g, th.window).mean())
        ev.update({"Grad/G peak": _r(peak), "Grad/G now": _r(now)})
        if peak > 0 and now < th.vanish_ratio * peak:
            why.append(f"Grad/G fell to {now / peak:.2%} of its peak: G's gradients vanished.")
    if mdgz < th.d_wins_d_fake_extreme:
        why.append(f"D(G(z)) {mdgz:.4f}: every fake is rejected with certainty.")
    if g_loss == "minimax":
        # d/dl log(1 - sigmoid(l)) = -sigmoid(l): G's signal is D(G(z)) itself
        ev["minimax gradient scale D(G(z))"] = _r(mdgz)
        why.append(f"With the minimax loss G's gradient scale is D(G(z)) = {mdgz:.3f}.")
        remedy = ("switch to the non-saturating loss (--g-loss nonsaturating: its gradient scale is "
                  "1 - D(G(z)) ~ 1 here instead of D(G(z)) ~ 0); ")
    else:
        remedy = ""
    if not why:
        return None
    remedy += ("weaken D: a lower --lr-d (or a higher --lr-g), k = 1, instance noise or an R1 "
               "penalty on real data; check that G is not too small for the data.")
    return Verdict("d_wins", "error",
                   f"D separates real from fake: loss_D {mld:.3f} (equilibrium {eq_loss:.3f}), "
                   f"D(x) {mdx:.3f}, D(G(z)) {mdgz:.3f} over the final {th.window:.0%} of the "
                   f"log. " + " ".join(why), ev, remedy)


def oscillation_stats(gap: np.ndarray) -> dict[str, float]:
    """Amplitude, swing count and decay of ``gap`` over its second half, around a linear trend."""
    half = gap[len(gap) // 2:]
    t = np.arange(len(half), dtype=np.float64)
    trend = np.polyval(np.polyfit(t, half, 1), t) if len(half) >= 2 else half
    resid = half - trend
    signs = np.sign(resid[np.abs(resid) > 1e-12])
    q = len(resid) // 2
    a3, a4 = (float(resid[:q].std()), float(resid[q:].std())) if q >= 2 else (float("nan"),) * 2
    return {"amplitude": float(resid.std()), "crossings": float((np.diff(signs) != 0).sum()),
            "decay": a4 / a3 if a3 > 0 else float("nan"),
            "amplitude_third_quarter": a3, "amplitude_last_quarter": a4}


def check_oscillating(rows: Sequence[Mapping[str, Any]], th: Thresholds = Thresholds()
                      ) -> Verdict | None:
    """D(x) - D(G(z)) keeps swinging around its trend, without decaying, over the second half."""
    dx, dgz = _series(rows, D_X), _series(rows, D_GZ)
    n = min(len(dx), len(dgz))
    if n < 2 * th.min_rows:
        return None
    s = oscillation_stats(dx[:n] - dgz[:n])
    decaying = math.isfinite(s["decay"]) and s["decay"] <= th.osc_decay
    if not (s["amplitude"] > th.osc_amplitude and s["crossings"] >= th.osc_crossings and not decaying):
        return None
    ev = {"gap amplitude (std)": _r(s["amplitude"]), "swings": s["crossings"],
          "amplitude 3rd quarter": _r(s["amplitude_third_quarter"]),
          "amplitude last quarter": _r(s["amplitude_last_quarter"]), "decay ratio": _r(s["decay"])}
    loss_g = _series(rows, "Loss/G")
    if len(loss_g) >= 4:
        ev["Loss/G std (2nd half)"] = _r(float(loss_g[len(loss_g) // 2:].std()))
    return Verdict("oscillating", "warning",
                   f"D(x) - D(G(z)) swings by +-{s['amplitude']:.2f} around its trend "
                   f"({int(s['crossings'])} swings in the second half) and does not decay "
                   f"(last/third quarter amplitude {s['decay']:.2f}).", ev,
                   "lower both learning rates or Adam's beta1 (e.g. 0.5 -> 0), use the "
                   "alternating schedule (not simultaneous), or add an R1 penalty: it makes the "
                   "Dirac-GAN's circling converge (Mescheder et al. 2018).")


def _means(rows: Sequence[Mapping[str, Any]], th: Thresholds) -> tuple[float, float, float] | None:
    """loss_D, D(x), D(G(z)) averaged over the final window."""
    loss_d, dx, dgz = (_tail(_series(rows, k), th.window) for k in ("Loss/D", D_X, D_GZ))
    if min(len(loss_d), len(dx), len(dgz)) == 0:
        return None
    return float(loss_d.mean()), float(dx.mean()), float(dgz.mean())


def _far_ahead(m: tuple[float, float, float], th: Thresholds, eq_loss: float) -> bool:
    """D's loss far below its equilibrium value, fakes confidently rejected, a wide gap."""
    mld, mdx, mdgz = m
    return (mld < th.d_wins_loss_d * eq_loss / LOG_4 and mdgz < th.d_wins_d_fake
            and mdx - mdgz > th.d_wins_gap)


def at_equilibrium_values(rows: Sequence[Mapping[str, Any]], th: Thresholds = Thresholds(),
                          eq_loss: float = LOG_4) -> bool:
    """D(x) ~ D(G(z)) ~ 1/2 and loss_D ~ its equilibrium value (log 4 for Eq. 1) over the final
    window (Theorem 1's values)."""
    m = _means(rows, th)
    return m is not None and (abs(m[1] - 0.5) < th.eq_prob and abs(m[2] - 0.5) < th.eq_prob
                              and abs(m[0] - eq_loss) < th.eq_loss_d * eq_loss / LOG_4)


def check_equilibrium(rows: Sequence[Mapping[str, Any]], th: Thresholds = Thresholds(),
                      eq_loss: float = LOG_4) -> Verdict | None:
    """D(x) ~ D(G(z)) ~ 1/2 and loss_D ~ its equilibrium value over the final window (Theorem 1)."""
    if not at_equilibrium_values(rows, th, eq_loss):
        return None
    mld, mdx, mdgz = _means(rows, th)  # type: ignore[misc]
    where = "log 4 = 1.386" if eq_loss == LOG_4 else f"{eq_loss:g}"
    return Verdict("near_equilibrium", "ok",
                   f"D(x) {mdx:.3f} and D(G(z)) {mdgz:.3f} are near 1/2 and loss_D {mld:.3f} "
                   f"near {where} (Theorem 1's equilibrium). Necessary, not sufficient: "
                   f"check mode coverage too.",
                   {"Loss/D": _r(mld), D_X: _r(mdx), D_GZ: _r(mdgz)},
                   "none needed; confirm with a mode/coverage metric (gankit eval).")


def _latest(metric_rows: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    out: dict[str, Mapping[str, Any]] = {}
    for r in metric_rows:
        if isinstance(r, Mapping) and "metric" in r:
            out[str(r["metric"])] = r  # the file is in time order: the last one wins
    return out


def _num(row: Mapping[str, Any], key: str, default: float = float("nan")) -> float:
    v = row.get(key)
    return float(v) if is_number(v) else default


def check_mode_collapse(rows: Sequence[Mapping[str, Any]], metric_rows: Sequence[Mapping[str, Any]] = (),
                        th: Thresholds = Thresholds(), eq_loss: float = LOG_4) -> Verdict | None:
    """Coverage far below the real-data ceiling in any mode metric, or a shrunken fake batch.

    When D sits at 1/2 meanwhile the summary says so: a collapsed G can fool a D at equilibrium,
    so those values are no evidence of convergence (and no ``near_equilibrium`` verdict is given).
    """
    found, ev = _coverage(rows, metric_rows, th)
    if not found:
        return None
    summary = "; ".join(found) + "."
    m = _means(rows, th)
    if m is not None and at_equilibrium_values(rows, th, eq_loss):
        summary += (f" D sits near 1/2 (D(x) {m[1]:.3f}, D(G(z)) {m[2]:.3f}): the collapsed G "
                    f"fools D, so those values are no sign of convergence.")
    return Verdict("mode_collapse", "error", summary, ev,
                   "packing (PacGAN: D judges 2-4 samples at once), minibatch discrimination or "
                   "unrolled D steps; a lower G learning rate; check coverage again with gankit eval.")


def _coverage(rows: Sequence[Mapping[str, Any]], metric_rows: Sequence[Mapping[str, Any]],
              th: Thresholds) -> tuple[list[str], dict[str, float]]:
    """(what falls short of the real-data ceiling, the coverage numbers) from metrics and rows."""
    found: list[str] = []
    ev: dict[str, float] = {}
    latest = _latest(metric_rows)
    toy = latest.get("toy_modes")
    if toy and is_number(toy.get("modes")) and is_number(toy.get("n_modes")):
        if toy["modes"] < th.toy_mode_fraction * toy["n_modes"]:
            found.append(f"{int(toy['modes'])}/{int(toy['n_modes'])} modes captured")
        ev.update({"toy modes": float(toy["modes"]), "toy modes of": float(toy["n_modes"]),
                   "toy %HQ": _r(_num(toy, "hq_percent"), 2), "toy KL": _r(_num(toy, "kl"))})
    cls = latest.get("mnist_classes10k")
    if cls and is_number(cls.get("kl")):
        classes = _num(cls, "classes", 10.0)
        if classes < 10 or cls["kl"] > th.class_kl:
            found.append(f"{int(classes)}/10 classes, class KL {cls['kl']:.3f} nats "
                         f"(real {_num(cls, 'real_kl'):.4f})")
        ev.update({"classes": classes, "class KL": _r(cls["kl"]),
                   "class KL real": _r(_num(cls, "real_kl")),
                   "class KL noise floor": _r(_num(cls, "kl_noise_floor"), 6)})
    st = latest.get("stacked_modes26k")
    if st and is_number(st.get("modes")):
        if st["modes"] < th.stacked_modes or _num(st, "kl", 0.0) > th.stacked_kl:
            why = (f" (favoured digits within a channel: {_num(st, 'kl_channels'):.3f}; stacks "
                   f"with an unclear digit: {_num(st, 'unsure_percent'):.0f}%, real "
                   f"{_num(st, 'real_unsure_percent'):.0f}%)" if is_number(st.get("kl_channels"))
                   and is_number(st.get("real_unsure_percent")) else "")
            found.append(f"{int(st['modes'])}/1000 Stacked-MNIST modes, KL {_num(st, 'kl'):.3f}"
                         + why)
        ev.update({"stacked modes": float(st["modes"]), "stacked KL": _r(_num(st, "kl"))})
        for key in ("kl_channels", "unsure_percent", "real_unsure_percent"):
            if is_number(st.get(key)):
                ev[f"stacked {key.replace('_', ' ')}"] = _r(st[key])
    pr = latest.get("mnist_pr10k")
    if pr and is_number(pr.get("recall")) and is_number(pr.get("real_recall")):
        if pr["recall"] < th.recall_ratio * pr["real_recall"]:
            found.append(f"recall {pr['recall']:.3f} vs real {pr['real_recall']:.3f}")
        ev.update({"recall": _r(pr["recall"]), "recall real": _r(pr["real_recall"])})
    div = _tail(_series(rows, "Diversity/G"), th.window)
    if len(div):
        if float(div.mean()) < th.diversity:
            found.append(f"fake batch spread {float(div.mean()):.2f}x the real one")
        ev["Diversity/G"] = _r(float(div.mean()))
    return found, ev


def check_artifacts(image_stats: Mapping[str, float] | None, th: Thresholds = Thresholds()
                    ) -> Verdict | None:
    """A checkerboard in the newest sample grid: its period-2 peak (:func:`period2_peak`) is at
    least ``checkerboard_peak`` and ``checkerboard_ratio`` times the real images'. ``image_stats``:
    ``fake_peak``, ``real_peak`` (and ``step``) from :func:`gankit.runs.diagnosis.image_statistics`.
    """
    if not image_stats:
        return None
    fake, real = image_stats.get("fake_peak"), image_stats.get("real_peak")
    if not (is_number(fake) and is_number(real)) or math.isnan(fake) or math.isnan(real):
        return None
    ratio = fake / real if real > 0 else float("inf")
    if fake < th.checkerboard_peak or ratio < th.checkerboard_ratio:
        return None
    ev = {"period-2 peak fakes": _r(fake), "period-2 peak reals": _r(real), "ratio": _r(ratio, 2)}
    if is_number(image_stats.get("step")):
        ev["grid step"] = float(image_stats["step"])
    return Verdict("artifacts", "warning",
                   f"the newest sample grid has {fake:.1f}x as much energy at period 2 (a "
                   f"checkerboard) as at the neighbouring frequencies; the real images "
                   f"{real:.2f}x. A stride-2 transposed convolution's pattern shows through.", ev,
                   "train longer (the pattern usually fades), or lower G's learning rate; look at "
                   "the grids in samples/.")


def period2_peak(images: np.ndarray) -> float:
    """Energy per frequency at period 2 over that at the neighbouring frequencies, pooled over
    ``images`` ([N, H, W] or [N, H, W, C], each with its mean removed).

    A stride-2 transposed convolution's checkerboard is a period of two pixels along rows and/or
    columns: a peak on the 2-D spectrum's lines at frequency 1/2. White noise is flat (~1), real
    images fall with frequency (MNIST 0.9, 8x8 digits 0.45), a pure checkerboard is infinite; so
    noisy samples (an early MLP G's speckle) do not count as a checkerboard.
    """
    x = np.asarray(images, dtype=np.float64)
    if x.ndim == 4:
        x = x.mean(axis=3)
    if x.ndim != 3 or min(x.shape[1:]) < 4 or len(x) == 0:
        return float("nan")
    h, w = x.shape[1] - x.shape[1] % 2, x.shape[2] - x.shape[2] % 2
    x = x[:, :h, :w] - x[:, :h, :w].mean(axis=(1, 2), keepdims=True)
    power = (np.abs(np.fft.fft2(x)) ** 2).sum(axis=0)
    at = np.concatenate([power[h // 2, :], power[:, w // 2]]).mean()
    near = np.concatenate([power[h // 2 - 1, :], power[h // 2 + 1, :],
                           power[:, w // 2 - 1], power[:, w // 2 + 1]]).mean()
    if near <= 1e-12 * max(power.sum(), 1e-300):
        return float("inf") if at > 1e-12 * max(power.sum(), 1e-300) else float("nan")
    return float(at / near)


# --- the verdict list ------------------------------------------------------------------------------

def diagnose(stats_rows: Sequence[Mapping[str, Any]], metric_rows: Sequence[Mapping[str, Any]] = (),
             g_loss: str | None = None, thresholds: Thresholds = Thresholds(), *,
             planned_steps: int | None = None, interrupted: bool | None = None,
             image_stats: Mapping[str, float] | None = None, objective: str = "gan"
             ) -> list[Verdict]:
    """All verdicts for a run's statistics (``stats.jsonl`` rows) and metrics, in precedence order.

    Precedence (never a contradictory pair):

    1. ``diverged`` and ``d_wins`` are facts and stand however short the run. A run that diverged
       is judged on its rows before the first NaN/Inf as well, so the report also says what led
       there (e.g. D winning first).
    2. Too few rows after the warm-up, a warm-up not over, or fewer than ``min_steps`` steps:
       ``too_early`` replaces oscillation, collapse, artefacts, equilibrium and healthy; the mode
       metrics and batch spread are its evidence.
    3. Otherwise ``oscillating``, ``mode_collapse`` and ``artifacts`` as found.
    4. Only when nothing above was found: ``d_ahead`` (D as far ahead as in ``d_wins`` but G's
       gradients alive), else ``near_equilibrium``, else ``healthy``.

    ``interrupted`` (a Ctrl-C, from the engine) or, when None, a log that stops before
    ``planned_steps`` adds an ``interrupted`` note; an unfinished run is never called diverged for
    that. ``g_loss`` (``minimax``/``nonsaturating``) sharpens the D-wins evidence. ``image_stats``
    (``fake_peak``, ``real_peak``: :func:`period2_peak` of the newest grid and of the reals)
    enables the artefact check. ``objective`` (the config's): LSGAN's D estimates D* itself, so its
    verdicts are the paper's with its own equilibrium loss (1/4); a critic (hinge, WGAN, WGAN-GP)
    has no D = 1/2, so the checks that read D's probabilities give way to :func:`check_critic`,
    which reads the gap E f(x) - E f(G(z)) (0 at p_g = p_data). Never empty.
    """
    th = thresholds
    game = OBJECTIVES.get(objective) if objective in OBJECTIVES else OBJECTIVES.get("gan")
    eq_loss = game.d_loss_at_equilibrium if not game.is_critic else LOG_4
    rows = [r for r in stats_rows if isinstance(r, Mapping)]
    verdicts: list[Verdict] = []
    div = check_diverged(rows, th, game)
    if div:
        verdicts.append(div)
    good = _finite(rows)
    note = _interrupted(good, planned_steps, interrupted, bool(div and div.severity == "error"))
    if note:
        verdicts.append(note)
    warm = warmup_rows(good, th)
    judged = good[warm:]
    if len(judged) >= th.min_rows and not game.is_critic:
        wins = check_d_wins(judged, g_loss, th, eq_loss)
        if wins:
            verdicts.append(wins)
    if not any(v.kind in DECISIVE for v in verdicts):
        early = _too_early(good, warm, metric_rows, th, image_stats)
        if early:
            return _ordered([*verdicts, early])
    for v in (None if game.is_critic else check_oscillating(judged, th),
              check_mode_collapse(judged, metric_rows, th, eq_loss), check_artifacts(image_stats, th)):
        if v:
            verdicts.append(v)
    if not any(v.severity in ("error", "warning") for v in verdicts):
        if game.is_critic:
            verdicts.append(check_critic(judged, th))
        else:
            verdicts.append(_d_ahead(judged, th, eq_loss) or check_equilibrium(judged, th, eq_loss)
                            or _healthy(judged, th))
    return _ordered(verdicts)


def _ordered(verdicts: list[Verdict]) -> list[Verdict]:
    kinds = list(TITLES)
    return sorted(verdicts, key=lambda v: (SEVERITY_ORDER[v.severity], kinds.index(v.kind)))


def _interrupted(rows: Sequence[Mapping[str, Any]], planned_steps: int | None,
                 interrupted: bool | None, diverged: bool) -> Verdict | None:
    last = rows[-1].get("step") if rows else None
    if diverged or interrupted is False or not is_number(last):
        return None
    if interrupted is None and not (is_number(planned_steps) and last < planned_steps):
        return None
    of = f" of {int(planned_steps)}" if is_number(planned_steps) else ""
    how = "by Ctrl-C" if interrupted else "before its last step (Ctrl-C, a kill, or still running)"
    ev = {"last logged step": float(last)}
    if is_number(planned_steps):
        ev["planned steps"] = float(planned_steps)
    return Verdict("interrupted", "info",
                   f"the run stopped {how} at step {int(last)}{of}: the verdicts judge the "
                   f"{len(rows)} rows logged so far; stopping early is not divergence.", ev,
                   "gankit train --resume RUN continues it exactly.")


def _too_early(rows: Sequence[Mapping[str, Any]], warm: int, metric_rows: Sequence[Mapping[str, Any]],
               th: Thresholds, image_stats: Mapping[str, float] | None = None) -> Verdict | None:
    last = rows[-1].get("step") if rows else None
    last = float(last) if is_number(last) else float("nan")
    judged = len(rows) - warm
    if judged >= th.min_judged_rows and not (last < th.min_steps):
        return None
    if len(rows) and warm == len(rows):
        signs = (f"D(x) - D(G(z)) < {th.start_gap}, G's batch without spread"
                 if any(D_X in r for r in rows) else "G's batch without spread")
        why = (f"D has not yet told real from fake at any of the {len(rows)} logged rows "
               f"({signs}): the warm-up is not over, and its values are neither equilibrium nor "
               f"collapse")
    elif judged < th.min_judged_rows:
        after = f" after the warm-up (its {warm} rows excluded)" if warm else ""
        why = f"only {judged} logged rows{after}; at least {th.min_judged_rows} are needed"
    else:
        why = f"only {last:.0f} generator steps; at least {th.min_steps} are needed"
    found, ev = _coverage(rows[warm:], metric_rows, th)
    board = check_artifacts(image_stats, th)
    if board:
        found.append(f"a checkerboard in the newest sample grid (period-2 peak "
                     f"{board.evidence['period-2 peak fakes']:.1f}, real images "
                     f"{board.evidence['period-2 peak reals']:.2f})")
        ev.update(board.evidence)
    ev = {"rows": float(len(rows)), "warm-up rows": float(warm), "last step": last, **ev}
    so_far = f" So far: {'; '.join(found)}." if found else ""
    return Verdict("too_early", "info", f"{why}.{so_far}", ev,
                   "train longer (gankit train --resume RUN --steps N) or log more often "
                   "(--log-every), then diagnose again.")


def _d_ahead(rows: Sequence[Mapping[str, Any]], th: Thresholds, eq_loss: float = LOG_4
             ) -> Verdict | None:
    """D separates real from fake as in ``d_wins`` but G's signal is alive (not minimax, Grad/G
    not collapsed, D(G(z)) not ~0): usual early in a run (every paper-mnist run starts so)."""
    m = _means(rows, th)
    if not (m and _far_ahead(m, th, eq_loss)):
        return None
    mld, mdx, mdgz = m
    # 1 - D(G(z)) is G's gradient scale for the non-saturating loss and for LSGAN's alike
    ev = {"Loss/D": _r(mld), D_X: _r(mdx), D_GZ: _r(mdgz),
          "non-saturating gradient scale 1 - D(G(z))": _r(1 - mdgz)}
    grad_g = _series(rows, "Grad/G")
    if len(grad_g) >= 2:
        ev.update({"Grad/G peak": _r(float(grad_g.max())),
                   "Grad/G now": _r(float(_tail(grad_g, th.window).mean()))})
    return Verdict("d_ahead", "info",
                   f"D rejects most fakes (D(x) {mdx:.3f}, D(G(z)) {mdgz:.3f}, loss_D {mld:.3f} over "
                   f"the final {th.window:.0%}) but G's gradients are alive: the non-saturating "
                   f"loss's scale 1 - D(G(z)) is {1 - mdgz:.2f}. Usual early in a run; not D "
                   f"winning.", ev,
                   "train on and diagnose again; if D(G(z)) keeps falling towards 0 or Grad/G "
                   "collapses, weaken D (a lower --lr-d, instance noise, an R1 penalty).")


def _healthy(rows: Sequence[Mapping[str, Any]], th: Thresholds) -> Verdict:
    ev = {k: _r(float(_tail(_series(rows, k), th.window).mean()))
          for k in ("Loss/D", "Loss/G", D_X, D_GZ, *GRAD_KEYS, "Diversity/G")
          if len(_series(rows, k))}
    return Verdict("healthy", "ok",
                   f"no NaN, no gradient blow-up, D not winning outright, no sustained oscillation, "
                   f"no sign of collapse (D(x) {ev.get(D_X, float('nan')):.3f}, D(G(z)) "
                   f"{ev.get(D_GZ, float('nan')):.3f} over the final {th.window:.0%}).", ev,
                   "none needed; measure coverage with gankit eval (toy_modes, mnist_classes10k, ...).")


def check_critic(rows: Sequence[Mapping[str, Any]], th: Thresholds = Thresholds()) -> Verdict:
    """A critic's verdict when no problem was found (hinge, WGAN, WGAN-GP): the gap
    E f(x) - E f(G(z)) over the final window against its peak. The gap is 0 at p_g = p_data (for
    WGAN it estimates the Wasserstein distance, up to the clip's Lipschitz constant); f's own values
    have no equilibrium (f + c is as good a critic), so no "D = 1/2" is looked for.
    ``near_equilibrium`` when the gap fell below ``critic_eq_fraction`` of its peak, else
    ``healthy`` with the gap's course as evidence."""
    fx, fgz = _series(rows, F_X), _series(rows, F_GZ)
    n = min(len(fx), len(fgz))
    gap = fx[:n] - fgz[:n]
    ev = {k: _r(float(_tail(_series(rows, k), th.window).mean()))
          for k in ("Loss/D", "Loss/G", F_X, F_GZ, *GRAD_KEYS, "Diversity/G")
          if len(_series(rows, k))}
    if n == 0:
        return Verdict("healthy", "ok", "no NaN and no gradient blow-up; the critic's scores were "
                       "not logged, so its gap cannot be judged.", ev,
                       "none needed; measure coverage with gankit eval.")
    now, peak = float(_tail(gap, th.window).mean()), float(gap.max())
    ev.update({"critic gap now": _r(now), "critic gap peak": _r(peak)})
    course = (f"the critic's gap E f(x) - E f(G(z)) is {now:.3g} over the final {th.window:.0%} "
              f"(peak {peak:.3g}); it is 0 at the equilibrium p_g = p_data, where a critic's own "
              f"scores have no fixed value (no D = 1/2 for a critic)")
    if peak > 0 and abs(now) < th.critic_eq_fraction * peak:
        return Verdict("near_equilibrium", "ok", f"{course[0].upper()}{course[1:]}: it fell below "
                       f"{th.critic_eq_fraction:.0%} of its peak. Necessary, not sufficient: check "
                       f"mode coverage too.", ev,
                       "none needed; confirm with a mode/coverage metric (gankit eval).")
    return Verdict("healthy", "ok", f"no NaN, no gradient blow-up, no sign of collapse; {course}.",
                   ev, "none needed; measure coverage with gankit eval (toy_modes, "
                   "mnist_classes10k, ...).")


def report_markdown(run_name: str, verdicts: Sequence[Verdict], metric_rows: Sequence[Mapping[str, Any]],
                    plot_name: str | None = "diagnosis.png") -> str:
    """The text of ``report.md``: verdicts with evidence and remedies, then the latest metrics."""
    lines = [f"# Diagnosis of {run_name}", ""]
    for v in verdicts:
        lines += [f"## {v.title} ({v.severity})", "", v.summary, ""]
        if v.evidence:
            lines += ["| evidence | value |", "|---|---|"]
            lines += [f"| {k} | {val:.6g} |" if isinstance(val, float) else f"| {k} | {val} |"
                      for k, val in v.evidence.items()]
            lines.append("")
        if v.remedy:
            lines += [f"**Remedy:** {v.remedy}", ""]
    latest = _latest(metric_rows)
    if latest:
        lines += ["## Metrics (latest of each; `real_*` = real data, the ceiling)", ""]
        for name, row in latest.items():
            values = {k: v for k, v in row.items()
                      if is_number(v) and k not in ("step", "seed", "seconds")}
            body = ", ".join(f"{k} {v:.4g}" for k, v in values.items())
            lines.append(f"- **{name}** (step {row.get('step')}): {body}")
        lines.append("")
    lines += ["## What these verdicts cannot see", "", LIMITS, ""]
    if plot_name:
        lines += [f"![diagnosis]({plot_name})", "",
                  "Shaded: the final window the verdicts judge; hatched: the warm-up (D had not "
                  "started; not judged); red line: first NaN/Inf.", ""]
    return "\n".join(lines)


__all__ = ["GOOD", "LIMITS", "TITLES", "Thresholds", "Verdict", "check_artifacts", "check_d_wins",
           "check_diverged", "check_equilibrium", "check_mode_collapse", "check_oscillating",
           "diagnose", "period2_peak", "is_non_finite", "report_markdown", "warmup_rows"]
