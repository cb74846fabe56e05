"""Maximal-entropy perturbation profiles at fixed function error (Li & Saad 2018, Eqs. 9, 12, Fig. 2a-c).

Maximise S_con = (1/L) sum_l ln eta_l (Eq. 9) or S_bin = (1/L) sum_l H(p_l) (Eq. 12) subject
to q^L = 1 - 2 eps, with q^l = (2/pi) asin(rho_l q^{l-1}) (Eqs. 8, 11).

Exact reparametrisation. With d_l = 1 - q^l the layer map reads d_l = G(x_l),
x_l = 1 - rho_l (1 - d_{l-1}), G(x) = (4/pi) asin(sqrt(x/2)), so a chain d_0 = 0 < d_1 < ...
< d_L = 2 eps fixes every layer's perturbation: 1 - rho_l = (G^{-1}(d_l) - d_{l-1}) / (1 - d_{l-1}).
The chain is feasible iff G(d_{l-1}) <= d_l (rho_l <= 1) and d_l <= G^{-(L-l)}(d_L) (the target is
still reachable). Each free d_l (l < L) is placed linearly between these bounds by
t_l in [0, 1], which turns the constrained problem into a box: t_l = 0 is p_l = 0 (layer l
unperturbed), t_{L-1} = 1 is p_L = 0. The box is searched globally (full grid, or random points
when the grid is too large) and the best candidates are refined by a vectorised shrinking
pattern search, which copes with the faces and kinks of the non-convex binary problem. Working
with d rather than q keeps the tiny early-layer perturbations at small eps resolved
(eta_1 ~ eps^(2^(L-1)) would vanish against 1 in q = 1 - d).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.optimize import minimize_scalar
from tqdm import tqdm

KINDS = ("continuous", "binary")
MAX_CANDIDATES = 200_000
STENCIL_MAX = 20_000
FTOL = 1e-14


def _g(x: np.ndarray) -> np.ndarray:
    """G(x) = (4/pi) asin(sqrt(x/2)): 1 - q^l for 1 - rho_l q^{l-1} = x (Eqs. 8, 11)."""
    return (4.0 / math.pi) * np.arcsin(np.sqrt(np.clip(x, 0.0, 2.0) / 2.0))


def _g_inv(d: np.ndarray) -> np.ndarray:
    """G^{-1}(d) = 2 sin^2(pi d / 4)."""
    return 2.0 * np.sin(0.25 * math.pi * d) ** 2


def _check(eps: float, n_layers: int, kind: str) -> None:
    if not 0.0 < eps < 0.5:
        raise ValueError(f"function_space.epsilons: eps={eps} must lie strictly between 0 and 0.5")
    if n_layers < 1:
        raise ValueError(f"function_space.L={n_layers}: need at least one layer")
    if kind not in KINDS:
        raise ValueError(f"maxent kind={kind!r}: choose one of {KINDS}")


def reachable_bounds(eps: float, n_layers: int) -> np.ndarray:
    """hi_l = G^{-(L-l)}(2 eps), l = 0..L: the largest d_l from which q^L = 1 - 2 eps is reachable."""
    hi = np.empty(n_layers + 1)
    hi[-1] = 2.0 * eps
    for layer in range(n_layers - 1, -1, -1):
        hi[layer] = _g_inv(hi[layer + 1])
    return hi


def chain_from_box(t: np.ndarray, eps: float, n_layers: int) -> np.ndarray:
    """Map box points t [n, L-1] to overlap-error chains d [n, L+1] with d_0 = 0, d_L = 2 eps.

    d_l = lo_l + t_l (hi_l - lo_l) with lo_l = G(d_{l-1}) (layer l unperturbed at t_l = 0).
    """
    t = np.atleast_2d(np.asarray(t, dtype=float))
    hi = reachable_bounds(eps, n_layers)
    d = np.zeros((t.shape[0], n_layers + 1))
    d[:, -1] = 2.0 * eps
    for layer in range(1, n_layers):
        lo = np.minimum(_g(d[:, layer - 1]), hi[layer])
        d[:, layer] = lo + t[:, layer - 1] * (hi[layer] - lo)
    return d


def one_minus_rho(d: np.ndarray) -> np.ndarray:
    """1 - rho_l = (G^{-1}(d_l) - d_{l-1}) / (1 - d_{l-1}) for each layer, shape [n, L]."""
    prev = d[:, :-1]
    return np.clip((_g_inv(d[:, 1:]) - prev) / (1.0 - prev), 0.0, 1.0)


def profile_from_omr(omr: np.ndarray, kind: str) -> np.ndarray:
    """Per-layer perturbation: eta_l = sqrt(1 - rho_l^2) (continuous) or p_l = (1 - rho_l)/2 (binary)."""
    return np.sqrt(omr * (2.0 - omr)) if kind == "continuous" else 0.5 * omr


def entropy_of_omr(omr: np.ndarray, kind: str) -> np.ndarray:
    """S_con = mean_l ln eta_l (Eq. 9) or S_bin = mean_l H(p_l) (Eq. 12), from 1 - rho_l [n, L]."""
    if kind == "continuous":
        with np.errstate(divide="ignore"):
            return 0.5 * (np.log(omr) + np.log(2.0 - omr)).mean(axis=-1)
    p = 0.5 * omr
    safe = np.where(p > 0.0, p, 1.0)
    return (-np.where(p > 0.0, p * np.log(safe), 0.0) - (1.0 - p) * np.log1p(-p)).mean(axis=-1)


def box_entropy(t: np.ndarray, eps: float, n_layers: int, kind: str) -> np.ndarray:
    """Entropy of the profiles encoded by box points t [n, L-1]."""
    return entropy_of_omr(one_minus_rho(chain_from_box(t, eps, n_layers)), kind)


def _starts(f, n_free: int, n_grid: int, n_starts: int, rng: np.random.Generator) -> np.ndarray:
    """The ``n_starts`` best local maxima of ``f`` on the full grid of ``n_grid`` values per axis.

    Local maxima (no better grid neighbour, diagonals included) come from distinct basins, which
    matters for the non-convex binary problem. If the grid would exceed MAX_CANDIDATES points,
    the best of MAX_CANDIDATES random points are used instead.
    """
    if n_grid**n_free > MAX_CANDIDATES:
        cand = rng.random((MAX_CANDIDATES, n_free))
        return cand[np.argsort(f(cand))[::-1][:n_starts]]
    axes = [np.linspace(0.0, 1.0, n_grid)] * n_free
    cand = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, n_free)
    vals = np.nan_to_num(f(cand), nan=-np.inf).reshape((n_grid,) * n_free)
    padded = np.pad(vals, 1, constant_values=-np.inf)
    is_max = np.ones(vals.shape, dtype=bool)
    for shift in np.ndindex(*(3,) * n_free):
        if shift == (1,) * n_free:
            continue
        window = tuple(slice(o, o + n_grid) for o in shift)
        is_max &= vals >= padded[window]
    flat = np.nonzero(is_max.ravel())[0]
    flat = flat[np.argsort(vals.ravel()[flat])[::-1][:n_starts]]
    return cand[flat]


def _stencil(n_free: int) -> np.ndarray:
    """Search stencil: the 5^n grid on [-1, 1]^n, or the axis points when that is too large."""
    if 5**n_free <= STENCIL_MAX:
        axes = [np.linspace(-1.0, 1.0, 5)] * n_free
        return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, n_free)
    eye = np.eye(n_free)
    return np.concatenate([np.zeros((1, n_free))] + [a * eye for a in (-1.0, -0.5, 0.5, 1.0)])


def pattern_search(
    f, starts: np.ndarray, spacing: float, tol: float, max_iter: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Vectorised compass search on [0, 1]^n maximising ``f`` (points [m, n] -> values [m]).

    Every start evaluates a stencil of half-width h around its point. If the best stencil point
    improves the value by more than FTOL (relative, so rounding noise on flat directions does not
    count) the start moves there and doubles h (at most 0.5), otherwise it halves h; a start is
    done when h < ``tol``.
    Returns final points, values and the number of starts still unconverged after ``max_iter``.
    """
    stencil = _stencil(starts.shape[1])
    x = starts.copy()
    fx = f(x)
    h = np.full(len(x), float(spacing))
    for _ in range(max_iter):
        active = h >= tol
        if not active.any():
            break
        xa, ha = x[active], h[active]
        pts = np.clip(xa[:, None, :] + ha[:, None, None] * stencil[None], 0.0, 1.0)
        vals = f(pts.reshape(-1, x.shape[1])).reshape(pts.shape[:2])
        best = np.argmax(vals, axis=1)
        gain = vals[np.arange(len(xa)), best] - fx[active]
        better = gain > FTOL * np.maximum(1.0, np.abs(fx[active]))
        idx = np.nonzero(active)[0]
        x[idx[better]] = pts[better, best[better]]
        fx[idx[better]] = vals[better, best[better]]
        h[idx[better]] = np.minimum(2.0 * h[idx[better]], 0.5)
        h[idx[~better]] *= 0.5
    return x, fx, int((h >= tol).sum())


@dataclass
class MaxEntProfile:
    """Maximal-entropy perturbation profile at error eps (one point of Fig. 2a/b)."""

    eps: float
    kind: str
    profile: np.ndarray  # eta*_l (continuous) or p*_l (binary), l = 1..L
    q: np.ndarray  # q^0..q^L along the chain
    entropy: float
    n_unconverged: int  # pattern-search starts that did not reach the tolerance


def max_entropy_profile(
    eps: float,
    kind: str,
    n_layers: int = 4,
    n_grid: int = 21,
    n_starts: int = 4,
    tol: float = 1e-10,
    max_iter: int = 5000,
    seed: int = 0,
) -> MaxEntProfile:
    """Global maximum of the entropy at fixed q^L = 1 - 2 eps over the exact box reparametrisation.

    A grid scan of the box picks the ``n_starts`` best local maxima; each is refined by
    ``zoom_search``; the best refined point wins.
    """
    _check(eps, n_layers, kind)
    n_free = n_layers - 1
    if n_free == 0:
        d = np.array([[0.0, 2.0 * eps]])
        best_t, n_bad = np.zeros(0), 0
    else:

        def f(t: np.ndarray) -> np.ndarray:
            return box_entropy(t, eps, n_layers, kind)

        starts = _starts(f, n_free, n_grid, n_starts, np.random.default_rng(seed))
        spacing = 1.0 / max(n_grid - 1, 1)
        pts, vals, n_bad = pattern_search(f, starts, spacing, tol, max_iter)
        best_t = pts[np.argmax(vals)]
        d = chain_from_box(best_t[None, :], eps, n_layers)
    omr = one_minus_rho(d)
    return MaxEntProfile(
        eps, kind, profile_from_omr(omr, kind)[0], 1.0 - d[0], float(entropy_of_omr(omr, kind)[0]), n_bad
    )


@dataclass
class MaxEntCurve:
    """Profiles and entropy S_0(eps) over a grid of errors (Fig. 2a/b with inset)."""

    eps: np.ndarray
    profiles: np.ndarray  # [n_eps, L]
    entropy: np.ndarray  # S_0(eps)
    q: np.ndarray  # [n_eps, L + 1]
    n_unconverged: int


def max_entropy_curve(eps_grid: np.ndarray, kind: str, n_layers: int = 4, **search) -> MaxEntCurve:
    """``max_entropy_profile`` at every eps of ``eps_grid`` (``search``: its search options)."""
    res = [
        max_entropy_profile(float(e), kind, n_layers, **search)
        for e in tqdm(eps_grid, desc=f"max-entropy {kind}", unit="eps")
    ]
    return MaxEntCurve(
        np.asarray(eps_grid, dtype=float),
        np.stack([r.profile for r in res]),
        np.array([r.entropy for r in res]),
        np.stack([r.q for r in res]),
        sum(r.n_unconverged for r in res),
    )


def alignment_thresholds(curve: MaxEntCurve, rel_tol: float = 1e-9) -> np.ndarray:
    """Per layer, the largest eps of the curve at which the layer is unperturbed, else nan.

    Unperturbed means p*_l <= rel_tol * max_l' p*_l' (aligned layers come out exactly 0 up to
    rounding, while the last layer's p*_L is tiny but finite at small eps).
    """
    scale = curve.profiles.max(axis=1, keepdims=True)
    aligned = curve.profiles <= rel_tol * scale
    out = np.full(curve.profiles.shape[1], np.nan)
    for layer in range(curve.profiles.shape[1]):
        if aligned[:, layer].any():
            out[layer] = curve.eps[aligned[:, layer]].max()
    return out


def generalization_curve(curve: MaxEntCurve, alphas: np.ndarray) -> np.ndarray:
    """Annealed eps*(alpha) = argmax_eps [S_0(eps) + alpha ln(1 - eps)] (Fig. 2c).

    S_0 is a cubic spline in ln eps through the computed curve; the maximum is bracketed on the
    curve's grid and refined with bounded Brent. Alphas whose maximum sits on the grid's edge
    give nan (extend the eps grid).
    """
    log_eps = np.log(curve.eps)
    spline = CubicSpline(log_eps, curve.entropy)
    out = np.full(len(alphas), np.nan)
    for i, alpha in enumerate(np.asarray(alphas, dtype=float)):
        f_grid = curve.entropy + alpha * np.log1p(-curve.eps)
        j = int(np.argmax(f_grid))
        if j in (0, len(log_eps) - 1):
            continue
        res = minimize_scalar(
            lambda u, a=alpha: -(spline(u) + a * np.log1p(-np.exp(u))),
            bounds=(log_eps[j - 1], log_eps[j + 1]),
            method="bounded",
            options={"xatol": 1e-10},
        )
        out[i] = math.exp(res.x)
    return out
