"""Pseudolikelihood maximisation with an l1 penalty (paper App. E, Eqs. E1-E2; docs/design.md §3.3).

For each spin i, a logistic regression of s_i on the other spins:

    P(s_i | s_\\i) = 1 / (1 + exp(-2 s_i H_i)),   H_i = h_i + sum_{j != i} W_ij s_j,

minimising  L_i(W_i, h_i) + pen_i sum_{j != i} |W_ij|,
    L_i = (1/M) sum_mu ln(1 + exp(-2 s_i^mu H_i^mu)) = (1/M) sum_mu [ln 2cosh H_i^mu - s_i^mu H_i^mu].

Penalty scale. pen_i = lam * lam_max_i with lam_max_i the smallest penalty at which the
regression's couplings are all zero: at W_i = 0 the optimal field is h_i = atanh(m_i), where
the coupling gradient is dL_i/dW_ij = -(C_ij - m_i m_j), so

    lam_max_i = max_{j != i} |C_ij - m_i m_j|   (largest connected correlation of spin i).

Symmetrisation J = (W + W^T)/2; h_i comes from regression i.

Standardised features (``standardize=True``), as Boyd's ``l1_logreg_train -s`` that the authors
ran (with ``-r``: lambda relative to lambda_max). What ``-s`` does, read in l1_logreg 0.8's source
(``l1_logreg_train``: ``standardize_data`` replaces each feature by x~_j = (x_j - mu_j)/sigma_j, the
penalty lambda sum_j |w~_j| acts on the standardised coefficients, and the returned coefficients
are w~_j / sigma_j with the intercept shifted by -mu . w): in the original units the penalty on
coupling W_ij is weighted by the spread of spin j, pen_i sigma_j |W_ij| with
sigma_j = sqrt(1 - m_j^2), and lambda_max becomes

    lam_max_i = max_{j != i} |C_ij - m_i m_j| / sigma_j.

Couplings to strongly magnetised spins (small sigma_j) are penalised less; lambda_max grows. (Their
logistic loss is ln(1 + e^{-b z}) with z = v + w.x, so w = 2 W; the penalty's zero threshold is the
same in both units.) Frozen spins (sigma_j = 0) do not enter lambda_max.

Solver: all N regressions together, as one matrix problem (proximal Newton-type).
Regressors are centred (x = s - m, intercept b_i = h_i + sum_j W_ij m_j). The Hessian of
regression i in the couplings, (1/M) X^T diag(sech^2 H_i) X, is approximated by c_i Sigma
with Sigma = X^T X / M (the connected correlation matrix, the same for all i) and
c_i = mean_mu sech^2 H_i^mu. Each outer step
  1. solves the N l1-penalised quadratic models at once by FISTA on N x N matrices (cheap);
  2. line-searches per regression: first trial the 1-D Newton step along the direction
     (it damps the overshoot where the model misjudges the Hessian), then Armijo
     backtracking on the exact penalised objective (H is affine in the step: no matmul);
  3. refits the fields b_i alone by two exact 1-D Newton steps (elementwise only);
costing two M x N x N matmuls (the step's change of H and the new gradient
(tanh H - S)^T X / M); the large arrays are float32. At the end, entries that damped
steps left at |W_ij| <= tol while |g_ij| <= pen_i (zero is optimal) are set to exactly 0.

Convergence: the largest proximal-gradient (KKT) residual, in units of the gradient of L_i
(a correlation). Observed on a planted N = 675 model: fast decrease to ~5e-4, then slow
progress (the Hessian model's mismatch limits the linear rate).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from weightspace.backend import array_module


@dataclass
class PLResult:
    """Fitted model and diagnostics of :func:`fit_pseudolikelihood`.

    J (N, N) symmetric with zero diagonal; h (N,); W (N, N) the unsymmetrised couplings
    (row i from regression i); lambda_max (N,); lam the fraction used; standardize (penalty
    weights sigma_j, module docstring); sparsity the fraction
    of pairs i<j with J_ij = 0; sparsity_rows the fraction of off-diagonal W_ij = 0;
    converged (KKT violation <= tol); kkt the final violation; kkt_history, objective_history
    (sum_i of penalised objectives) per outer iteration; n_iter; line_search_failures the
    number of regressions whose step was rejected after all halvings; n_frozen the number of
    spins with |m_i| = 1 in the data (their regressions are degenerate); seconds.
    """

    J: Any
    h: Any
    W: Any
    lambda_max: Any
    lam: float
    standardize: bool
    sparsity: float
    sparsity_rows: float
    converged: bool
    kkt: float
    n_iter: int
    line_search_failures: int
    n_frozen: int
    seconds: float
    kkt_history: list = field(default_factory=list)
    objective_history: list = field(default_factory=list)


def _soft(A: Any, thr: Any) -> Any:
    xp = array_module(A)
    return xp.sign(A) * xp.maximum(xp.abs(A) - thr, 0.0)


def _zero_diag(A: Any) -> Any:
    A[array_module(A).diag_indices(A.shape[0])] = 0.0
    return A


def kkt_violation(gW: Any, gb: Any, W: Any, pen: Any) -> float:
    """Largest optimality residual of the N penalised regressions (0 exactly at the optimum).

    Couplings: the proximal-gradient residual W_ij - soft(W_ij - g_ij, pen_i), i.e.
    max(|g_ij| - pen_ij, 0) at W_ij = 0 and |g_ij + pen_ij sign W_ij| away from zero; fields |g_b,i|.
    ``pen`` (N,) per regression or (N, N) per coupling.
    """
    xp = array_module(W)
    r = _zero_diag(W - _soft(W - gW, pen if pen.ndim == 2 else pen[:, None]))
    return float(max(float(xp.abs(r).max()), float(xp.abs(gb).max())))


def _lasso_step(ghat: Any, W: Any, Sigma: Any, lamhat: Any, lip: float, n_iter: int) -> Any:
    """argmin_V sum_i [ghat_i.(V-W)_i + 1/2 (V-W)_i Sigma (V-W)_i + sum_j lamhat_ij |V_ij|], V_ii = 0.

    FISTA with gradient-based restart, step 1/lip (lip >= largest eigenvalue of Sigma).
    """
    xp = array_module(W)
    V, Y, t = W.copy(), W.copy(), 1.0
    thr = lamhat / lip
    for _ in range(n_iter):
        V_new = _zero_diag(_soft(Y - (ghat + (Y - W) @ Sigma) / lip, thr))
        step = V_new - V
        if float(xp.sum((Y - V_new) * step)) > 0:  # momentum points uphill: restart
            t = 1.0
        t_new = 0.5 * (1.0 + (1.0 + 4.0 * t * t) ** 0.5)
        Y = V_new + ((t - 1.0) / t_new) * step
        change = float(xp.abs(step).max())
        V, t = V_new, t_new
        if change <= 1e-3 * max(float(xp.abs(V - W).max()), 1e-8):
            break
    return V


class _Objective:
    """Per-regression loss L_i and its gradient for fields H (M, N) held in float32."""

    def __init__(self, X: Any, Xc: Any) -> None:
        self.xp = array_module(X)
        self.X, self.Xc = X, Xc
        self.buf = self.xp.empty_like(X)
        self.buf2 = self.xp.empty_like(X)
        self.sech2 = self.xp.empty_like(X)  # sech^2 H at the last gradient point

    def loss(self, H: Any) -> Any:
        """L_i = mean_mu [ln 2cosh H - s H] (N,), accumulated in float64."""
        xp, a, b = self.xp, self.buf, self.buf2
        xp.abs(H, out=a)
        xp.multiply(a, -2.0, out=b)
        xp.exp(b, out=b)
        xp.log1p(b, out=b)
        a += b  # ln 2cosh H = |H| + ln(1 + e^{-2|H|})
        xp.multiply(self.X, H, out=b)
        a -= b
        return a.mean(axis=0, dtype=xp.float64)

    def gradient(self, H: Any) -> tuple[Any, Any, Any]:
        """(g_W (N, N), g_b (N,), c (N,)): g_W[i, j] = mean_mu (tanh H_i - s_i) x_j."""
        xp, T, w = self.xp, self.buf, self.sech2
        xp.tanh(H, out=T)
        xp.multiply(T, T, out=w)
        xp.subtract(1.0, w, out=w)
        c = w.mean(axis=0, dtype=xp.float64)
        T -= self.X
        gW = (T.T @ self.Xc).astype(xp.float64) / T.shape[0]
        gb = T.mean(axis=0, dtype=xp.float64)
        return _zero_diag(gW), gb, c

    def refit_fields(self, H: Any, n_newton: int = 2) -> Any:
        """Newton steps on the fields alone, in place on H; returns the total shift of b (N,).

        The field b_i of regression i is a 1-D problem: db = -mean(tanh H_i - s_i) /
        mean(sech^2 H_i). This removes the field part of the error that the block-diagonal
        Hessian model (no field-coupling cross terms) leaves behind.
        """
        xp, T = self.xp, self.buf
        total = xp.zeros(H.shape[1], dtype=xp.float64)
        for _ in range(n_newton):
            xp.tanh(H, out=T)
            c = 1.0 - (T * T).mean(axis=0, dtype=xp.float64)
            g = (T - self.X).mean(axis=0, dtype=xp.float64)
            db = -g / xp.maximum(c, 1e-6)
            H += db.astype(H.dtype)
            total += db
        return total

    def curvature(self, dH: Any) -> Any:
        """d^2 L_i / dt^2 at t = 0 along H + t dH: mean_mu sech^2(H) dH^2 (N,)."""
        xp, a = self.xp, self.buf2
        xp.multiply(dH, dH, out=a)
        a *= self.sech2
        return a.mean(axis=0, dtype=xp.float64)


def fit_pseudolikelihood(
    configs: Any,
    lam: float = 0.05,
    tol: float = 1e-3,
    max_iter: int = 100,
    inner_iter: int = 300,
    dtype: Any = None,
    progress: bool = False,
    standardize: bool = False,
) -> PLResult:
    """Fit (J, h) to ±1 configurations (M, N) by l1-penalised pseudolikelihood (App. E).

    ``lam`` is the fraction of lam_max_i used as penalty in regression i (0 = no penalty);
    stops when the KKT residual is <= ``tol`` or after ``max_iter`` outer steps. The residual
    is in units of the gradient (a correlation), whose sampling noise is ~1/sqrt(M)
    (3e-3 at M = 1e5): the default 1e-3 is well inside it.
    ``dtype`` of the big arrays, float32 by default. ``standardize``: penalty weighted as
    ``l1_logreg -s`` (module docstring).
    """
    xp = array_module(configs)
    dtype = xp.float32 if dtype is None else dtype
    if lam < 0:
        raise ValueError(f"lam={lam}: the penalty fraction must be >= 0")
    X = xp.asarray(configs, dtype=dtype)
    if X.ndim != 2 or X.shape[0] < 2 or X.shape[1] < 2:
        raise ValueError(f"configs: shape {tuple(X.shape)}, need (M >= 2, N >= 2) ±1 array")
    if not bool(xp.all(xp.abs(X) == 1)):
        raise ValueError("configs: entries must be ±1 (convert 0/1 data with 2x - 1)")
    t0 = time.perf_counter()
    M, N = X.shape
    m = X.mean(axis=0, dtype=xp.float64)
    Xc = X - m.astype(dtype)
    Sigma = (Xc.T @ Xc).astype(xp.float64) / M
    off = _zero_diag(Sigma.copy())
    spread = xp.sqrt(xp.maximum(1.0 - m * m, 0.0)) if standardize else xp.ones(N)
    weight = xp.where(spread > 0, 1.0 / xp.where(spread > 0, spread, 1.0), 0.0)  # 1/sigma_j; 0: frozen
    lam_max = (xp.abs(off) * weight[None, :]).max(axis=1)
    pen = lam * lam_max
    # penalty per coupling pen_i sigma_j (a frozen spin's regressor is 0: its couplings stay 0 anyway)
    P = pen[:, None] * xp.where(spread > 0, spread, 1.0)[None, :]
    lip = float(xp.linalg.eigvalsh(Sigma)[-1])
    rounding = 4.0 * float(xp.finfo(dtype).eps)
    n_frozen = int(xp.sum(xp.abs(m) >= 1.0))
    eps = 0.5 / M
    b = xp.arctanh(xp.clip(m, -1.0 + eps, 1.0 - eps))
    W = xp.zeros((N, N), dtype=xp.float64)
    H = xp.empty_like(X)
    H[...] = b.astype(dtype)
    Ht = xp.empty_like(X)
    obj = _Objective(X, Xc)
    loss = obj.loss(H)
    gW, gb, c = obj.gradient(H)
    kkt_hist, obj_hist, failures, converged, it = [], [], 0, False, 0
    bar = tqdm(total=max_iter, desc="pseudolikelihood", disable=not progress)
    for it in range(max_iter + 1):
        kkt = kkt_violation(gW, gb, W, P)
        F_old = loss + (P * xp.abs(W)).sum(axis=1)
        kkt_hist.append(kkt)
        obj_hist.append(float(F_old.sum()))
        bar.set_postfix(kkt=f"{kkt:.2e}")
        if kkt <= tol or it == max_iter:
            converged = kkt <= tol
            break
        cc = xp.maximum(c, 1e-3)
        V = _lasso_step(gW / cc[:, None], W, Sigma, P / cc[:, None], lip, inner_iter)
        D, db = V - W, -gb / cc
        delta = (gW * D).sum(axis=1) + gb * db + (P * (xp.abs(V) - xp.abs(W))).sum(axis=1)
        dH = Xc @ D.T.astype(dtype)
        dH += db.astype(dtype)
        # first trial step: 1-D Newton along D, t = -delta / (d^2 L / dt^2), in [1e-3, 2]
        curv = obj.curvature(dH)
        step = xp.where(curv > 0, xp.clip(-delta / xp.where(curv > 0, curv, 1.0), 1e-3, 2.0),
                        1.0)
        accepted = xp.zeros(N, dtype=bool)
        new_loss = loss.copy()
        slack = rounding * xp.abs(F_old)  # changes below this are float rounding, not ascent
        for _ in range(20):  # per-regression backtracking, Armijo on the penalised objective
            xp.multiply(dH, step.astype(dtype), out=Ht)
            Ht += H
            lt = obj.loss(Ht)
            Ft = lt + (P * xp.abs(W + step[:, None] * D)).sum(axis=1)
            ok = (~accepted) & (Ft <= F_old + 1e-4 * step * delta + slack)
            new_loss = xp.where(ok, lt, new_loss)
            accepted |= ok
            if bool(accepted.all()):
                break
            step = xp.where(accepted, step, 0.5 * step)
        failed = ~accepted
        failures += int(failed.sum())
        step = xp.where(failed, 0.0, step)
        xp.multiply(dH, step.astype(dtype), out=Ht)
        H += Ht
        W += step[:, None] * D
        b += step * db
        b += obj.refit_fields(H)
        loss = obj.loss(H)
        gW, gb, c = obj.gradient(H)
        bar.update(1)
    bar.close()
    # Damped steps leave entries that the step zeroed at (1 - t) of their value: set those
    # with |W_ij| <= tol that satisfy the zero condition |g_ij| <= pen_i to exactly zero,
    # rebuild H from (W, b) and check optimality again at the final point.
    snap = (W != 0) & (xp.abs(W) <= tol) & (xp.abs(gW) <= P)
    if bool(snap.any()):
        W[snap] = 0.0
        H = (Xc @ W.T.astype(dtype)) + b.astype(dtype)
        b += obj.refit_fields(H)
        gW, gb, c = obj.gradient(H)
        kkt_hist.append(kkt_violation(gW, gb, W, P))
        converged = kkt_hist[-1] <= tol
    J = 0.5 * (W + W.T)
    iu = xp.triu_indices(N, k=1)
    return PLResult(
        J=J,
        h=b - W @ m,
        W=W,
        lambda_max=lam_max,
        lam=float(lam),
        standardize=standardize,
        sparsity=float(xp.mean(J[iu] == 0)),
        sparsity_rows=float((xp.sum(W == 0) - N) / (N * (N - 1))),
        converged=converged,
        kkt=kkt_hist[-1],
        n_iter=it,
        line_search_failures=failures,
        n_frozen=n_frozen,
        seconds=time.perf_counter() - t0,
        kkt_history=kkt_hist,
        objective_history=obj_hist,
    )


@dataclass
class SparsityPath:
    """Sparsity (fraction of J_ij = 0, i<j) of l1 pseudolikelihood fits: ``by_lam`` (L,) at the
    fractions ``lams`` on all configurations; ``by_m`` (K,) at ``lam`` on random subsets of ``sizes``
    configurations."""

    lams: list
    by_lam: list
    sizes: list
    by_m: list
    lam: float
    standardize: bool


def sparsity_path(
    configs: Any, lams: list, sizes: list, lam: float, *, standardize: bool = False, seed: int = 0, **fit_kw: Any
) -> SparsityPath:
    """The lambda path (sparsity vs lambda on all M configurations) and the M-dependence (sparsity at
    ``lam`` on random subsets of each size in ``sizes`` that is < M, then all M)."""
    xp = array_module(configs)
    by_lam = [fit_pseudolikelihood(configs, lam=float(a), standardize=standardize, **fit_kw).sparsity for a in lams]
    M = configs.shape[0]
    rng = np.random.default_rng(seed)
    sizes = [int(k) for k in sizes if int(k) < M] + [M]
    by_m = []
    for k in sizes:
        if k == M and lam in lams:  # the lambda path's fit on all configurations
            by_m.append(by_lam[list(lams).index(lam)])
            continue
        sub = configs if k == M else configs[xp.asarray(np.sort(rng.choice(M, size=k, replace=False)))]
        by_m.append(fit_pseudolikelihood(sub, lam=lam, standardize=standardize, **fit_kw).sparsity)
    return SparsityPath(list(map(float, lams)), by_lam, sizes, by_m, float(lam), standardize)
