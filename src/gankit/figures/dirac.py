"""The Dirac-GAN (Mescheder et al., 2018): the paper's warning that the game may not converge, made visible.

p_data = δ_0, G = δ_θ (one parameter θ: every z maps to x = θ), D(x) = sigmoid(ψ·x) (one parameter ψ).
The unique equilibrium is θ = ψ = 0. The gradients come from gankit's own losses (Eq. 1 in logit
space) through autograd, so this exercises the same code as real training:

- simultaneous updates (the authors' code's schedule) spiral outwards: the game's Jacobian at the
  equilibrium has eigenvalues ±i·f'(0), and an explicit Euler step multiplies the radius by
  |1 + i·h·f'(0)| > 1 per step;
- alternating updates (Algorithm 1, k = 1) circle for ever at roughly constant radius;
- an R1 penalty (γ/2)·E‖∇_x D(x_real)‖² on D (here (γ/2)·ψ²) damps ψ and the spiral converges.

The generator objective defaults to the minimax one (Eq. 1), Mescheder et al.'s setting: its
continuous-time flow is an exact rotation (d(θ² + ψ²)/dt = 0), so what happens is entirely due to
the update scheme. With the non-saturating loss the flow itself contracts away from the
equilibrium (d(θ² + ψ²)/dt = -2θψ·tanh(θψ/2) <= 0), which hides the effect from far away.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gankit.objectives import G_LOSSES, d_loss
from gankit.utils.plotting import pyplot, save_figure

SCHEMES = ("simultaneous", "alternating", "r1")


def _logits(theta: torch.Tensor, psi: torch.Tensor, x_real: torch.Tensor):
    """D's logits ψ·x on the real point (x = 0) and on the fake point x = G(z) = θ."""
    return psi * x_real, psi * theta.expand_as(x_real)


def _grads(theta, psi, g_loss, gamma: float):
    """(∂loss_G/∂θ, ∂loss_D/∂ψ) at (θ, ψ), with R1 on the real data when gamma > 0."""
    theta = theta.detach().requires_grad_(True)
    psi = psi.detach().requires_grad_(True)
    x_real = torch.zeros(1, requires_grad=True)  # p_data = δ_0
    real_logits, fake_logits = _logits(theta, psi, x_real)
    loss_D = d_loss(real_logits, fake_logits)
    if gamma > 0:  # R1 (Mescheder et al. 2018): (γ/2)·E‖∇_x D(x_real)‖², D as a logit
        (grad_x,) = torch.autograd.grad(real_logits.sum(), x_real, create_graph=True)
        loss_D = loss_D + gamma / 2 * grad_x.pow(2).sum()
    (g_psi,) = torch.autograd.grad(loss_D, psi)
    (g_theta,) = torch.autograd.grad(g_loss(psi.detach() * theta.expand(1)), theta)
    return g_theta.detach(), g_psi.detach()


def trajectory(scheme: str, steps: int = 300, lr: float = 0.1, start=(1.0, 1.0), gamma: float = 1.0,
               g_loss: str = "minimax") -> np.ndarray:
    """Gradient-descent trajectory [(θ, ψ)] of length steps + 1 under one update scheme.

    ``scheme``: simultaneous (both from the same point), alternating (D first, then G against the
    new D, as Algorithm 1), or r1 (simultaneous with the R1 penalty of weight ``gamma``).
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}")
    loss = G_LOSSES[g_loss]
    theta, psi = torch.tensor([start[0]], dtype=torch.float64), torch.tensor([start[1]], dtype=torch.float64)
    path = [(start[0], start[1])]
    gamma = gamma if scheme == "r1" else 0.0
    for _ in range(steps):
        g_theta, g_psi = _grads(theta, psi, loss, gamma)
        if scheme == "alternating":  # Algorithm 1: D step, then G step against the updated D
            psi = psi - lr * g_psi
            g_theta, _ = _grads(theta, psi, loss, gamma)
            theta = theta - lr * g_theta
        else:
            theta, psi = theta - lr * g_theta, psi - lr * g_psi
        path.append((float(theta), float(psi)))
    return np.array(path)


def radii(path: np.ndarray) -> np.ndarray:
    """Distance of each point of a trajectory from the equilibrium (0, 0)."""
    return np.hypot(path[:, 0], path[:, 1])


def vector_field(theta: np.ndarray, psi: np.ndarray, g_loss: str = "minimax"):
    """-(∂loss_G/∂θ, ∂loss_D/∂ψ) on a grid: the direction gradient descent moves (θ, ψ)."""
    loss = G_LOSSES[g_loss]
    U, W = np.zeros_like(theta), np.zeros_like(psi)
    for idx in np.ndindex(theta.shape):
        g_t, g_p = _grads(torch.tensor([theta[idx]], dtype=torch.float64),
                          torch.tensor([psi[idx]], dtype=torch.float64), loss, 0.0)
        U[idx], W[idx] = -float(g_t), -float(g_p)
    return U, W


def figure_dirac(out: str | Path, steps: int = 300, lr: float = 0.1, gamma: float = 1.0,
                 g_loss: str = "minimax") -> dict:
    """Draw the three trajectories over the vector field; return start/end radii per scheme."""
    plt = pyplot()

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {s: trajectory(s, steps, lr, gamma=gamma, g_loss=g_loss) for s in SCHEMES}
    lim = max(2.0, 1.1 * max(np.abs(p).max() for p in paths.values()))
    lim = min(lim, 4.0)
    g = np.linspace(-lim, lim, 17)
    T, P = np.meshgrid(g, g)
    U, W = vector_field(T, P, g_loss)
    fig, ax = plt.subplots(figsize=(6, 6))
    try:
        ax.quiver(T, P, U, W, color="0.7", angles="xy")
        styles = {"simultaneous": ("tab:red", "simultaneous (spirals out)"),
                  "alternating": ("tab:blue", "alternating, Algorithm 1 (circles)"),
                  "r1": ("tab:green", f"simultaneous + R1, γ = {gamma:g} (converges)")}
        for s, p in paths.items():
            color, label = styles[s]
            ax.plot(p[:, 0], p[:, 1], color=color, lw=1.2, label=label)
            ax.plot(*p[-1], "o", color=color, ms=4)
        ax.plot([1.0], [1.0], "ks", ms=5, label="start (θ, ψ) = (1, 1)")
        ax.plot([0], [0], "k*", ms=10, label="equilibrium")
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_xlabel("θ (G = δ_θ)")
        ax.set_ylabel("ψ (D(x) = sigmoid(ψ x))")
        ax.set_title(f"Dirac-GAN, p_data = δ_0, {g_loss} G loss: {steps} steps of size {lr:g}",
                     fontsize=10)
        ax.legend(fontsize=8, loc="lower left")
        fig.tight_layout()
        path = save_figure(fig, out / "dirac.png", dpi=100)
    finally:
        plt.close(fig)
    r = {s: radii(p) for s, p in paths.items()}
    return {"figure": "dirac", "steps": steps, "lr": lr, "gamma": gamma, "g_loss": g_loss,
            "start_radius": float(r["simultaneous"][0]),
            **{f"final_radius_{s}": float(r[s][-1]) for s in SCHEMES},
            "files": [str(path)]}
