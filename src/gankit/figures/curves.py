"""Training curves from stats.jsonl, with the equilibrium values of Theorem 1 drawn in."""

from __future__ import annotations

from pathlib import Path

from gankit.constants import LOG_2, LOG_4
from gankit.utils.jsonl import read_jsonl
from gankit.utils.plotting import pyplot, save_figure


def read_stats(path: str | Path) -> list[dict]:
    """stats.jsonl rows (a line cut short by a crash is skipped, the rest kept)."""
    return read_jsonl(path)


def plot_curves(stats_path: str | Path, out_path: str | Path, g_loss: str = "nonsaturating") -> Path:
    """Two panels: losses (with log 4 and, for the non-saturating loss, log 2) and D(x), D(G(z))
    (with 1/2): at the game's equilibrium D = 1/2 everywhere (Theorem 1)."""
    plt = pyplot()

    rows = read_stats(stats_path)
    out_path = Path(out_path)
    steps = [r["step"] for r in rows]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    try:
        ax1.plot(steps, [r["Loss/D"] for r in rows], label="loss_D", color="tab:blue")
        ax1.plot(steps, [r["Loss/G"] for r in rows], label="loss_G", color="tab:orange")
        ax1.axhline(LOG_4, ls="--", color="tab:blue", lw=0.8, label="log 4 (loss_D at D = 1/2)")
        g_eq = LOG_2 if g_loss == "nonsaturating" else -LOG_2
        ax1.axhline(g_eq, ls="--", color="tab:orange", lw=0.8,
                    label=f"{'log 2' if g_eq > 0 else '-log 2'} (loss_G at D = 1/2)")
        ax1.set_ylabel("loss")
        ax1.legend(fontsize=8, loc="upper right")
        ax2.plot(steps, [r["Prob/D(x)"] for r in rows], label="D(x)", color="tab:green")
        ax2.plot(steps, [r["Prob/D(G(z))"] for r in rows], label="D(G(z))", color="tab:red")
        ax2.axhline(0.5, ls="--", color="k", lw=0.8, label="1/2 (equilibrium)")
        ax2.set_ylim(-0.02, 1.02)
        ax2.set_xlabel("generator step")
        ax2.set_ylabel("probability")
        ax2.legend(fontsize=8, loc="upper right")
        fig.tight_layout()
        save_figure(fig, out_path, dpi=100)
    finally:
        plt.close(fig)
    return out_path
