"""Convergence and mode-collapse verdicts from a run's logged statistics (and metrics, if any).

The paper names two failures: the game may not converge, and G may collapse many z onto few x.
:func:`diagnose` turns ``stats.jsonl`` rows (``Loss/D``, ``Loss/G``, ``Prob/D(x)``, ``Prob/D(G(z))``,
``step``; optionally ``Grad/D``, ``Grad/G``, ``Grad/D_input_real``, ``Diversity/G``) and
``metrics.jsonl`` rows into :class:`Verdict` s, each with its evidence (the numbers) and a remedy:

- ``diverged``: a NaN/Inf in any statistic (error), or gradient norms that blew up (warning);
- ``d_wins``: D separates real from fake outright (loss_D -> 0, D(G(z)) -> 0): G's gradients vanish,
  the saturating minimax loss worst of all (its gradient in the logit is -D(G(z)));
- ``oscillating``: D(x) - D(G(z)) swings around its trend and the swings do not decay;
- ``mode_collapse``: mode/class coverage or recall far below the real-data ceiling;
- ``near_equilibrium``: D(x) ~ D(G(z)) ~ 1/2 and loss_D ~ log 4 (Theorem 1's point). Necessary,
  not sufficient: a collapsed G can sit there too, so it is reported next to any collapse verdict;
- ``healthy``: none of the above problems; D still tells real from fake, but not perfectly.

Everything here is a pure function of lists of dicts (run folders: :mod:`gankit.runs.diagnosis`), so each verdict is tested with a synthetic log. Thresholds live in :class:`Thresholds`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from gankit.constants import LOG_4

D_X, D_GZ = "Prob/D(x)", "Prob/D(G(z))"
GRAD_KEYS = ("Grad/D", "Grad/G", "Grad/D_input_real")

#: Verdict kinds, most severe first, with their titles.
TITLES = {
    "diverged": "diverged",
    "d_wins": "D wins (G gradients vanish)",
    "oscillating": "oscillating",
    "mode_collapse": "mode collapse suspected",
    "inconclusive": "inconclusive",
    "near_equilibrium": "near equilibrium",
    "healthy": "healthy",
}
SEVERITY_ORDER = {"error": 0, "warning": 1, "ok": 2}


@dataclass(frozen=True)
class Thresholds:
    """Every number the verdicts compare against, in one place (see each check for why)."""

    window: float = 0.25            # the final fraction of the log that is "the current state"
    min_rows: int = 4               # fewer logged rows than this: inconclusive
    # D wins: D's loss far below log 4 and fakes confidently rejected
    d_wins_loss_d: float = 0.35
    d_wins_d_fake: float = 0.15
    d_wins_gap: float = 0.6
    vanish_ratio: float = 0.01      # Grad/G now below 1% of its peak: vanished
    # oscillation of gap = D(x) - D(G(z)) around its linear trend over the second half
    osc_amplitude: float = 0.08     # std of the detrended gap
    osc_crossings: int = 3          # sign changes of the detrended gap (a trend is not a swing)
    osc_decay: float = 0.5          # amplitude(last quarter) / amplitude(third quarter) above this
    # equilibrium (Theorem 1: D = 1/2 everywhere, loss_D = log 4)
    eq_prob: float = 0.1
    eq_loss_d: float = 0.15
    # gradient blow-up: final median over the first window's median
    blowup_factor: float = 100.0
    # mode collapse
    toy_mode_fraction: float = 1.0  # fewer than this fraction of the modes captured
    class_kl: float = 0.05          # KL(class histogram || uniform) in nats (noise floor: 0.00045)
    stacked_modes: int = 900
    stacked_kl: float = 0.3
    recall_ratio: float = 0.5       # recall below half the real-data recall
    diversity: float = 0.3          # Diversity/G: fake batch spread / real batch spread


@dataclass(frozen=True)
class Verdict:
    """One finding: ``kind`` (a key of :data:`TITLES`), severity ok/warning/error, a one-line
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
        return {**asdict(self), "title": self.title, "evidence": dict(self.evidence)}

    def __str__(self) -> str:
        text = f"[{self.severity}] {self.title}: {self.summary}"
        return text + (f" Remedy: {self.remedy}" if self.remedy else "")


# --- helpers ---------------------------------------------------------------------------------------

def _series(rows: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
    return np.array([float(r[key]) for r in rows if is_number(r.get(key))], dtype=np.float64)


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _tail(x: np.ndarray, frac: float, min_len: int = 2) -> np.ndarray:
    n = max(min_len, int(math.ceil(len(x) * frac)))
    return x[-n:]


def _finite(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Rows before the first non-finite value (the statistics of a run before it broke)."""
    out = []
    for r in rows:
        if any(is_number(v) and not math.isfinite(v) for v in r.values()):
            break
        out.append(r)
    return out


def _r(v: float, digits: int = 4) -> float:
    return float(round(v, digits)) if math.isfinite(v) else float(v)


# --- the checks ------------------------------------------------------------------------------------

def check_diverged(rows: Sequence[Mapping[str, Any]], th: Thresholds = Thresholds()
                   ) -> Verdict | None:
    """NaN/Inf in any logged statistic (error); else gradient norms that blew up (warning)."""
    for r in rows:
        bad = sorted(k for k, v in r.items() if is_number(v) and not math.isfinite(v))
        if bad:
            step = r.get("step", float("nan"))
            good = _finite(rows)
            ev: dict[str, float] = {"step": float(step)}
            if good and "step" in good[-1]:  # none when the very first logged row is bad
                ev["last_finite_step"] = float(good[-1]["step"])
            for k in ("Loss/D", "Loss/G", D_X, D_GZ, *GRAD_KEYS):
                if good and is_number(good[-1].get(k)):
                    ev[f"last_finite {k}"] = _r(float(good[-1][k]))
            return Verdict("diverged", "error",
                           f"{', '.join(bad)} became NaN/Inf at step {step}.", ev,
                           "lower the learning rates (--lr-d/--lr-g, e.g. by 10x), use the "
                           "non-saturating loss (--g-loss nonsaturating), and resume from the last "
                           "good checkpoint; a gradient penalty (R1) also bounds D's gradients.")
    for key in GRAD_KEYS:
        g = _series(rows, key)
        if len(g) < th.min_rows:
            continue
        early = float(np.median(g[:max(2, len(g) // 4)]))
        late = float(np.median(_tail(g, th.window)))
        if early > 0 and late > th.blowup_factor * early:
            return Verdict("diverged", "warning",
                           f"{key} grew {late / early:.0f}x (median {early:.3g} early, {late:.3g} "
                           f"now): the game is diverging.",
                           {f"{key} early median": _r(early), f"{key} late median": _r(late),
                            "growth": _r(late / early, 1)},
                           "lower the learning rates, or add an R1 gradient penalty on real data "
                           "(it bounds D's input gradient, Mescheder et al. 2018).")
    return None


def check_d_wins(rows: Sequence[Mapping[str, Any]], g_loss: str | None = None,
                 th: Thresholds = Thresholds()) -> Verdict | None:
    """D rejects fakes outright over the final window: loss_D << log 4, D(G(z)) ~ 0, D(x) ~ 1."""
    loss_d, dx, dgz = (_tail(_series(rows, k), th.window) for k in ("Loss/D", D_X, D_GZ))
    if min(len(loss_d), len(dx), len(dgz)) == 0:
        return None
    mld, mdx, mdgz = float(loss_d.mean()), float(dx.mean()), float(dgz.mean())
    if not (mld < th.d_wins_loss_d and mdgz < th.d_wins_d_fake and mdx - mdgz > th.d_wins_gap):
        return None
    ev = {"Loss/D": _r(mld), "log 4": _r(LOG_4), D_X: _r(mdx), D_GZ: _r(mdgz)}
    vanished = ""
    grad_g = _series(rows, "Grad/G")
    if len(grad_g) >= 2:
        peak, now = float(grad_g.max()), float(_tail(grad_g, th.window).mean())
        ev.update({"Grad/G peak": _r(peak), "Grad/G now": _r(now)})
        if peak > 0 and now < th.vanish_ratio * peak:
            vanished = f" Grad/G fell to {now / peak:.2%} of its peak: G's gradients vanished."
    if g_loss == "minimax":
        # d/dl log(1 - sigmoid(l)) = -sigmoid(l): G's signal is D(G(z)) itself
        ev["minimax gradient scale D(G(z))"] = _r(mdgz)
        remedy = ("switch to the non-saturating loss (--g-loss nonsaturating: its gradient scale is "
                  "1 - D(G(z)) ~ 1 here instead of D(G(z)) ~ 0); ")
    else:
        remedy = ""
    remedy += ("weaken D: a lower --lr-d (or a higher --lr-g), k = 1, instance noise or an R1 "
               "penalty on real data; check that G is not too small for the data.")
    return Verdict("d_wins", "error",
                   f"D separates real from fake: loss_D {mld:.3f} (equilibrium log 4 = 1.386), "
                   f"D(x) {mdx:.3f}, D(G(z)) {mdgz:.3f} over the final {th.window:.0%} of the "
                   f"log.{vanished}", ev, remedy)


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


def check_equilibrium(rows: Sequence[Mapping[str, Any]], th: Thresholds = Thresholds()
                      ) -> Verdict | None:
    """D(x) ~ D(G(z)) ~ 1/2 and loss_D ~ log 4 over the final window (Theorem 1's values)."""
    loss_d, dx, dgz = (_tail(_series(rows, k), th.window) for k in ("Loss/D", D_X, D_GZ))
    if min(len(loss_d), len(dx), len(dgz)) == 0:
        return None
    mld, mdx, mdgz = float(loss_d.mean()), float(dx.mean()), float(dgz.mean())
    if abs(mdx - 0.5) < th.eq_prob and abs(mdgz - 0.5) < th.eq_prob and abs(mld - LOG_4) < th.eq_loss_d:
        return Verdict("near_equilibrium", "ok",
                       f"D(x) {mdx:.3f} and D(G(z)) {mdgz:.3f} are near 1/2 and loss_D {mld:.3f} "
                       f"near log 4 = 1.386 (Theorem 1's equilibrium). Necessary, not sufficient: "
                       f"check mode coverage too.",
                       {"Loss/D": _r(mld), D_X: _r(mdx), D_GZ: _r(mdgz)},
                       "none needed; confirm with a mode/coverage metric (gankit eval).")
    return None


def _latest(metric_rows: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    out: dict[str, Mapping[str, Any]] = {}
    for r in metric_rows:
        if "metric" in r:
            out[str(r["metric"])] = r  # the file is in time order: the last one wins
    return out


def check_mode_collapse(rows: Sequence[Mapping[str, Any]], metric_rows: Sequence[Mapping[str, Any]] = (),
                        th: Thresholds = Thresholds()) -> Verdict | None:
    """Coverage far below the real-data ceiling in any mode metric, or a shrunken fake batch."""
    found: list[str] = []
    ev: dict[str, float] = {}
    latest = _latest(metric_rows)
    toy = latest.get("toy_modes")
    if toy and is_number(toy.get("modes")) and is_number(toy.get("n_modes")):
        if toy["modes"] < th.toy_mode_fraction * toy["n_modes"]:
            found.append(f"{int(toy['modes'])}/{int(toy['n_modes'])} modes captured")
        ev.update({"toy modes": float(toy["modes"]), "toy modes of": float(toy["n_modes"]),
                   "toy %HQ": _r(float(toy.get("hq_percent", float("nan"))), 2),
                   "toy KL": _r(float(toy.get("kl", float("nan"))))})
    cls = latest.get("mnist_classes10k")
    if cls and is_number(cls.get("kl")):
        if cls.get("classes", 10) < 10 or cls["kl"] > th.class_kl:
            found.append(f"{int(cls.get('classes', 0))}/10 classes, class KL {cls['kl']:.3f} nats "
                         f"(real {float(cls.get('real_kl', float('nan'))):.4f})")
        ev.update({"classes": float(cls.get("classes", float("nan"))), "class KL": _r(cls["kl"]),
                   "class KL real": _r(float(cls.get("real_kl", float("nan")))),
                   "class KL noise floor": _r(float(cls.get("kl_noise_floor", float("nan"))), 6)})
    st = latest.get("stacked_modes26k")
    if st and is_number(st.get("modes")):
        if st["modes"] < th.stacked_modes or st.get("kl", 0.0) > th.stacked_kl:
            found.append(f"{int(st['modes'])}/1000 Stacked-MNIST modes, KL {st.get('kl', float('nan')):.3f}")
        ev.update({"stacked modes": float(st["modes"]), "stacked KL": _r(float(st.get("kl", float("nan"))))})
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
    if not found:
        return None
    return Verdict("mode_collapse", "error", "; ".join(found) + ".", ev,
                   "packing (PacGAN: D judges 2-4 samples at once), minibatch discrimination or "
                   "unrolled D steps; a lower G learning rate; check coverage again with gankit eval.")


# --- the verdict list ------------------------------------------------------------------------------

def diagnose(stats_rows: Sequence[Mapping[str, Any]], metric_rows: Sequence[Mapping[str, Any]] = (),
             g_loss: str | None = None, thresholds: Thresholds = Thresholds()) -> list[Verdict]:
    """All verdicts for a run's statistics (``stats.jsonl`` rows) and metrics, most severe first.

    A run that diverged is judged on its rows before the first NaN/Inf as well, so the report
    also says what led there (e.g. D winning first). ``g_loss`` (``minimax``/``nonsaturating``)
    sharpens the D-wins evidence. Never empty: with no problem it is ``healthy`` or
    ``near_equilibrium``; with too few rows, ``inconclusive``.
    """
    th = thresholds
    rows = [r for r in stats_rows if isinstance(r, Mapping)]
    verdicts: list[Verdict] = []
    div = check_diverged(rows, th)
    if div:
        verdicts.append(div)
    good = _finite(rows)
    if len(good) < th.min_rows:
        if not verdicts:
            verdicts.append(Verdict("inconclusive", "warning",
                                    f"only {len(good)} logged rows; at least {th.min_rows} are needed "
                                    f"to judge the run.", {"rows": float(len(good))},
                                    "train longer or log more often (--log-every)."))
    else:
        for v in (check_d_wins(good, g_loss, th), check_oscillating(good, th)):
            if v:
                verdicts.append(v)
    collapse = check_mode_collapse(good, metric_rows, th)
    if collapse:
        verdicts.append(collapse)
    if len(good) >= th.min_rows and not any(v.kind in ("d_wins", "oscillating") for v in verdicts):
        eq = check_equilibrium(good, th)
        if eq and not div:
            verdicts.append(eq)
        elif not verdicts:
            verdicts.append(_healthy(good, th))
    return sorted(verdicts, key=lambda v: SEVERITY_ORDER[v.severity])


def _healthy(rows: Sequence[Mapping[str, Any]], th: Thresholds) -> Verdict:
    ev = {k: _r(float(_tail(_series(rows, k), th.window).mean()))
          for k in ("Loss/D", "Loss/G", D_X, D_GZ, *GRAD_KEYS) if len(_series(rows, k))}
    return Verdict("healthy", "ok",
                   f"no NaN, no gradient blow-up, D not winning outright, no sustained oscillation "
                   f"(D(x) {ev.get(D_X, float('nan')):.3f}, D(G(z)) {ev.get(D_GZ, float('nan')):.3f} "
                   f"over the final {th.window:.0%}).", ev,
                   "none needed; measure coverage with gankit eval (toy_modes, mnist_classes10k, ...).")


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
    if plot_name:
        lines += [f"![diagnosis]({plot_name})", "",
                  "Shaded: the final window the verdicts judge; red line: first NaN/Inf.", ""]
    return "\n".join(lines)


__all__ = ["TITLES", "Thresholds", "Verdict", "check_d_wins", "check_diverged", "check_equilibrium",
           "check_mode_collapse", "check_oscillating", "diagnose",
           "report_markdown"]
