r"""Forward against reverse KL: fitting one Gaussian to a two-component mixture (the tutorial's figure).

The target is :math:`p = \tfrac12 \mathcal N(-\mu, s^2 I) + \tfrac12 \mathcal N(\mu, s^2 I)` in 2-D
with :math:`\mu = (1.6, 1.2)` (:math:`|\mu| = 2`) and :math:`s = 0.5`. A single Gaussian
:math:`q_\theta = \mathcal N(m, L L^\top)` (mean plus a Cholesky factor with a positive diagonal)
is fitted twice, in float64:

* **forward KL** :math:`\mathrm{KL}(p \| q_\theta) = -\mathbb E_p \log q_\theta + \text{const}`:
  maximum likelihood on samples of ``p`` (full batch, L-BFGS). Its optimum over all Gaussians is moment matching,
  :math:`m = 0`, :math:`\Sigma = s^2 I + \mu \mu^\top` (variance :math:`s^2 + |\mu|^2` along the
  axis through the two modes): the fit covers both modes and puts its mass between them.
* **reverse KL** :math:`\mathrm{KL}(q_\theta \| p) = -H(q_\theta) - \mathbb E_{q_\theta} \log p`:
  the entropy in closed form, the expectation by reparameterised samples (Adam, 512 per step)
  :math:`x = m + L \varepsilon` with the mixture's exact log-density. It is zero-forcing: the fit
  settles on one component, :math:`q \approx \mathcal N(\pm\mu, s^2 I)`, at
  :math:`\mathrm{KL}(q \| p) \approx \log 2`.

Both fits start from :math:`\mathcal N(m_0, 0.3^2 I)` with :math:`m_0 \sim \mathcal N(0, 0.5^2 I)`.
The reverse fit goes to the mode on :math:`m_0`'s side. (From a broad start such as
:math:`\mathcal N(m_0, I)` it can instead stall at a symmetric stationary point that straddles
both modes: reverse KL is not convex in :math:`(m, L)`.)

Both divergences are then estimated for both fits by Monte Carlo (``mc_samples`` draws, float64).

JSON (nested): ``target`` {``mu``, ``s``}, ``forward`` and ``reverse``, each {``mean`` [2],
``cov`` [2][2], ``var_along_modes`` (u^T Sigma u for u = mu / |mu|), ``kl_forward``
(KL(p || q)), ``kl_reverse`` (KL(q || p))}; ``forward`` also holds ``exact_cov``
(s^2 I + mu mu^T) and ``var_rel_error``; ``reverse`` also ``nearest_mode`` and
``mode_distance`` (|m - nearest mode|); ``steps``, ``samples``, ``mc_samples``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit.experiments.common import jsonable, pyplot, save_figure, single_thread

TITLE = "Forward KL covers the modes, reverse KL picks one"
CLAIM = "Minimising KL(p || q) over Gaussians averages the two modes (mean 0, variance s^2 + |mu|^2 along them); minimising KL(q || p) locks onto a single mode."

MU = (1.6, 1.2)
S = 0.5
INIT_STD = 0.3  # both fits start at N(m0, 0.3^2 I), m0 ~ N(0, 0.5^2 I)
LOG_2PI = math.log(2.0 * math.pi)


def mixture_log_density(x: torch.Tensor, mu: torch.Tensor, s: float) -> torch.Tensor:
    """log p(x) of the mixture 1/2 N(-mu, s^2 I) + 1/2 N(mu, s^2 I); ``x`` ``[N, d]`` -> ``[N]``."""
    d = x.shape[1]
    centres = torch.stack([-mu, mu])  # (2, d)
    sq = ((x[:, None, :] - centres[None]) ** 2).sum(-1) / s**2  # (N, 2)
    comp = -0.5 * sq - d * math.log(s) - 0.5 * d * LOG_2PI  # (N, 2) log N(x; c, s^2 I)
    return torch.logsumexp(comp, dim=1) - math.log(2.0)


def mixture_sample(n: int, mu: torch.Tensor, s: float, gen: torch.Generator) -> torch.Tensor:
    """``n`` draws ``[n, d]`` of the mixture (float64)."""
    sign = torch.where(torch.rand(n, generator=gen, dtype=torch.float64) < 0.5, -1.0, 1.0)
    return sign[:, None] * mu[None] + s * torch.randn(n, mu.numel(), generator=gen, dtype=torch.float64)


class Gaussian(torch.nn.Module):
    """q = N(m, L L^T) with L lower triangular; its diagonal is exp(raw) so that L is invertible.

    Starts at N(mean, std^2 I).
    """

    def __init__(self, mean: torch.Tensor, std: float = 1.0) -> None:
        super().__init__()
        d = mean.numel()
        self.mean = torch.nn.Parameter(mean.clone().double())
        # log-diagonal + strict lower part of L
        self.raw = torch.nn.Parameter(torch.diag(torch.full((d,), math.log(std), dtype=torch.float64)))

    def chol(self) -> torch.Tensor:
        """The Cholesky factor ``[d, d]``."""
        return torch.tril(self.raw, -1) + torch.diag(torch.exp(torch.diagonal(self.raw)))

    def cov(self) -> torch.Tensor:
        L = self.chol()
        return L @ L.T

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log q(x) for ``x`` ``[N, d]`` -> ``[N]``."""
        L = self.chol()
        white = torch.linalg.solve_triangular(L, (x - self.mean).T, upper=False)  # (d, N) = L^-1 (x - m)
        d = x.shape[1]
        return -0.5 * (white**2).sum(0) - torch.diagonal(L).log().sum() - 0.5 * d * LOG_2PI

    def entropy(self) -> torch.Tensor:
        """H(q) = d/2 (1 + log 2 pi) + sum log L_ii (closed form)."""
        d = self.mean.numel()
        return 0.5 * d * (1.0 + LOG_2PI) + torch.diagonal(self.chol()).log().sum()

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """Reparameterised draws ``m + L eps`` ``[n, d]`` (differentiable in m and L)."""
        eps = torch.randn(n, self.mean.numel(), generator=gen, dtype=torch.float64)
        return self.mean + eps @ self.chol().T


def _adam(q: Gaussian, loss_fn, steps: int, lr: float) -> None:
    opt = torch.optim.Adam(q.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    for _ in range(steps):
        loss = loss_fn()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()


def fit_forward(data: torch.Tensor, init: torch.Tensor, max_iter: int = 500) -> Gaussian:
    """Minimise KL(p || q) = -E_p log q + const by maximum likelihood on ``data`` ``[N, d]``.

    A deterministic full-batch problem, so L-BFGS (strong Wolfe line search) solves it to
    round-off; its optimum is the sample mean and covariance of ``data``.
    """
    q = Gaussian(init, INIT_STD)
    opt = torch.optim.LBFGS(q.parameters(), lr=1.0, max_iter=max_iter, tolerance_grad=1e-12,
                            tolerance_change=1e-14, history_size=20, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        loss = -q.log_prob(data).mean()
        loss.backward()
        return loss

    opt.step(closure)
    return q


def fit_reverse(mu: torch.Tensor, s: float, steps: int, init: torch.Tensor, gen: torch.Generator,
                batch: int = 512) -> Gaussian:
    """Minimise KL(q || p) = -H(q) - E_q log p with reparameterised samples of q."""
    q = Gaussian(init, INIT_STD)
    _adam(q, lambda: -q.entropy() - mixture_log_density(q.sample(batch, gen), mu, s).mean(), steps, lr=0.05)
    return q


@torch.no_grad()
def kl_estimates(q: Gaussian, mu: torch.Tensor, s: float, gen: torch.Generator, n: int) -> tuple[float, float]:
    """Monte Carlo (KL(p || q), KL(q || p)) with ``n`` draws of each, float64."""
    xp = mixture_sample(n, mu, s, gen)
    xq = q.sample(n, gen)
    forward = (mixture_log_density(xp, mu, s) - q.log_prob(xp)).mean()
    reverse = (q.log_prob(xq) - mixture_log_density(xq, mu, s)).mean()
    return float(forward), float(reverse)


def numbers(quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Fit both directions and report the fits and their divergences.

    Args:
        quick: 10,000 data points, 400 reverse-KL steps and 50,000 Monte Carlo draws instead of
            50,000, 2,000 and 500,000.
        seed: seeds the data, the initial mean m0 (shared by both fits) and
            the reparameterisation noise.

    Returns:
        The JSON-ready nested dict described in the module docstring.
    """
    n, steps, mc = (10_000, 400, 50_000) if quick else (50_000, 2_000, 500_000)
    mu = torch.tensor(MU, dtype=torch.float64)
    u = mu / mu.norm()
    gen = torch.Generator().manual_seed(seed)
    with single_thread():
        data = mixture_sample(n, mu, S, gen)  # (n, 2)
        init = 0.5 * torch.randn(2, generator=gen, dtype=torch.float64)
        fwd = fit_forward(data, init)
        rev = fit_reverse(mu, S, steps, init, gen)
        out: dict[str, Any] = {"target": {"mu": list(MU), "s": S}, "steps": steps, "samples": n,
                               "mc_samples": mc}
        exact_cov = S**2 * torch.eye(2, dtype=torch.float64) + torch.outer(mu, mu)
        for name, q in (("forward", fwd), ("reverse", rev)):
            cov = q.cov().detach()
            kl_f, kl_r = kl_estimates(q, mu, S, gen, mc)
            out[name] = {"mean": q.mean.detach(), "cov": cov, "var_along_modes": float(u @ cov @ u),
                         "kl_forward": kl_f, "kl_reverse": kl_r}
    out["forward"]["exact_cov"] = exact_cov
    exact_var = S**2 + float(mu @ mu)
    out["forward"]["var_rel_error"] = abs(out["forward"]["var_along_modes"] - exact_var) / exact_var
    m = rev.mean.detach()
    nearest = mu if float(m @ mu) >= 0 else -mu
    out["reverse"]["nearest_mode"] = nearest
    out["reverse"]["mode_distance"] = float((m - nearest).norm())
    return jsonable(out)


def summary(result: dict[str, Any]) -> list[str]:
    """Markdown lines with the key numbers."""
    f, r = result["forward"], result["reverse"]
    s, mu = result["target"]["s"], result["target"]["mu"]
    exact = s**2 + mu[0] ** 2 + mu[1] ** 2
    fmt = lambda v: "(" + ", ".join(f"{x:.3f}" for x in v) + ")"  # noqa: E731
    return [
        f"- target: 1/2 N(-mu, s^2 I) + 1/2 N(mu, s^2 I), mu = {fmt(mu)}, s = {s}",
        f"- forward fit: mean {fmt(f['mean'])}, variance along the modes {f['var_along_modes']:.3f} "
        f"(moment matching: s^2 + |mu|^2 = {exact:.3f}; error {100 * f['var_rel_error']:.2f} %)",
        f"- reverse fit: mean {fmt(r['mean'])}, {r['mode_distance']:.3f} from the mode {fmt(r['nearest_mode'])}; "
        f"variance along the modes {r['var_along_modes']:.3f} (s^2 = {s**2})",
        "",
        "| fit | KL(p ‖ q) | KL(q ‖ p) |",
        "|---|---|---|",
        f"| forward (max. likelihood) | {f['kl_forward']:.3f} | {f['kl_reverse']:.3f} |",
        f"| reverse (reparameterised) | {r['kl_forward']:.3f} | {r['kl_reverse']:.3f} |",
    ]


def _gauss_density(points: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    diff = points - mean
    prec = np.linalg.inv(cov)
    quad = np.einsum("...i,ij,...j->...", diff, prec, diff)
    return np.exp(-0.5 * quad) / (2.0 * math.pi * math.sqrt(np.linalg.det(cov)))


def plot(result: dict[str, Any], path: str | Path) -> None:
    """Contours of the mixture (blue) and of each fit (red), side by side."""
    plt = pyplot()
    mu, s = np.asarray(result["target"]["mu"]), result["target"]["s"]
    g = np.linspace(-4.0, 4.0, 241)
    xx, yy = np.meshgrid(g, g)
    pts = np.stack([xx, yy], axis=-1)  # (241, 241, 2)
    eye = s**2 * np.eye(2)
    mix = 0.5 * _gauss_density(pts, -mu, eye) + 0.5 * _gauss_density(pts, mu, eye)
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.4))
    titles = {"forward": r"forward: $\min_q \mathrm{KL}(p \,\|\, q)$ (mean-seeking)",
              "reverse": r"reverse: $\min_q \mathrm{KL}(q \,\|\, p)$ (mode-seeking)"}
    for ax, name in zip(axes, ("forward", "reverse"), strict=True):
        fit = result[name]
        dens = _gauss_density(pts, np.asarray(fit["mean"]), np.asarray(fit["cov"]))
        ax.contour(xx, yy, mix, levels=6, colors="tab:blue", linewidths=1.2)
        ax.contour(xx, yy, dens, levels=6, colors="tab:red", linewidths=1.2, linestyles="--")
        ax.plot(*np.asarray(fit["mean"]), "+", color="tab:red", ms=10, mew=2)
        ax.set(aspect="equal", xlim=(-4, 4), ylim=(-4, 4), title=titles[name])
        ax.text(0.02, 0.02, f"KL(p||q) = {fit['kl_forward']:.2f}\nKL(q||p) = {fit['kl_reverse']:.2f}",
                transform=ax.transAxes, fontsize=8, va="bottom",
                bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "0.8"})
        ax.grid(alpha=0.3)
    axes[0].plot([], [], color="tab:blue", label="p (mixture)")
    axes[0].plot([], [], color="tab:red", ls="--", label="q (Gaussian fit)")
    axes[0].legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


__all__ = ["CLAIM", "TITLE", "Gaussian", "fit_forward", "fit_reverse", "mixture_log_density", "numbers", "plot",
           "summary"]
