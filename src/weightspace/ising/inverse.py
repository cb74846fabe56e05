"""Closed-form inverse Ising solutions used as starting points of Boltzmann learning (docs/design.md §3.3).

- Naive mean field: J = −(C_conn)^{-1} off-diagonal, h_i = atanh m_i − Σ_j J_ij m_j.
- Independent pairs / Bethe (Ricci-Tersenghi 2012, Nguyen & Berg 2012): from each pair marginal
  p_{ss'} = (1 + s m_i + s' m_j + ss' C_ij)/4,
    J_ij = ¼ ln[p₊₊p₋₋/(p₊₋p₋₊)],  cavity field a_{i→j} = ¼ ln[p₊₊p₊₋/(p₋₊p₋₋)],
  messages m_{i→j} = tanh a_{i→j} and h_i = atanh m_i − Σ_k atanh(tanh J_ik m_{k→i}), which makes
  those messages an exact BP fixed point whose beliefs reproduce m and C.
Constant spins (|m_i| ≥ 1 − const_tol) carry no information on couplings: their couplings are 0,
their field is ±atanh(1 − const_tol), and they are returned in a mask.

Stability of the independent-pair fixed point: a BP fixed point's beliefs fix (J, h) uniquely (J_ij
from the pair belief as above), so the beliefs reachable by BP from scratch are among those whose
independent-pair fixed point is linearly stable: BP Jacobian radius < 1 (ising.stability). For weak
couplings t_ij ≈ C^c_ij/(D_i D_j) (C^c = C − m mᵀ off the diagonal, D = 1 − m²) and that radius is
≈ λ_max(K), K = D^{-1/2} C^c D^{-1/2}: a heuristic only (an SK paramagnet at β = 0.95 has
λ_max(K) ≈ 1.7 and radius ≈ 0.9). :func:`stable_correlations` clips the spectrum of K at ρ (the
Frobenius-nearest K' with λ_max ≤ ρ, Mirsky), a one-parameter path from the data (ρ = λ_max) to
independent spins (ρ = 0) on which the start of learning picks ρ by the Jacobian radius.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from weightspace.backend import array_module


@dataclass
class Inversion:
    """J (N,N) symmetric zero-diagonal, h (N,), constant (N,) bool mask of frozen spins,
    messages (N,N) BP fixed-point messages M[i,j] = m_{i→j} (None where not defined),
    n_floored: number of pair probabilities raised to the floor to keep J finite."""

    J: Any
    h: Any
    constant: Any
    messages: Any | None
    n_floored: int


def _validate(m: Any, C: Any) -> None:
    n = m.shape[-1]
    if m.ndim != 1 or C.shape != (n, n):
        raise ValueError(f"inverse: need m (N,) and C (N,N), got {m.shape} and {C.shape}")
    xp = array_module(C)
    if not bool(xp.all(xp.abs(m) <= 1 + 1e-9)) or not bool(xp.allclose(C, C.T)):
        raise ValueError("inverse: m must lie in [−1,1] and C must be symmetric raw ⟨σ_iσ_j⟩")


def constant_spins(m: Any, const_tol: float = 1e-6) -> Any:
    """Mask of spins that never flip in the data: |m_i| ≥ 1 − const_tol."""
    xp = array_module(m)
    return xp.abs(m) >= 1.0 - const_tol


def connected(m: Any, C: Any) -> Any:
    """Connected correlation C_ij − m_i m_j."""
    xp = array_module(C)
    return C - xp.outer(m, m)


def _frozen_field(m: Any, constant: Any, h: Any, const_tol: float) -> Any:
    xp = array_module(h)
    big = float(xp.arctanh(xp.asarray(1.0 - const_tol)))
    return xp.where(constant, xp.sign(m) * big, h)


def naive_mean_field(m: Any, C: Any, *, ridge: float = 0.0, const_tol: float = 1e-6) -> Inversion:
    """nMF inversion: J = −(C_conn + ridge·I)^{-1} off-diagonal on the non-constant spins,
    h_i = atanh m_i − Σ_j J_ij m_j."""
    _validate(m, C)
    xp = array_module(C)
    const = constant_spins(m, const_tol)
    free = xp.nonzero(~const)[0]
    n = m.shape[0]
    J = xp.zeros((n, n), dtype=C.dtype)
    if free.size > 1:
        cc = connected(m, C)[free[:, None], free[None, :]] + ridge * xp.eye(free.size)
        try:
            inv = xp.linalg.inv(cc)
        except Exception as err:  # numpy LinAlgError; CuPy returns NaN instead
            raise ValueError("naive_mean_field: C_conn is singular; pass ridge > 0") from err
        if not bool(xp.all(xp.isfinite(inv))):
            raise ValueError("naive_mean_field: C_conn is singular; pass ridge > 0")
        sub = -inv
        sub[xp.arange(free.size), xp.arange(free.size)] = 0.0
        J[free[:, None], free[None, :]] = 0.5 * (sub + sub.T)
    mm = xp.clip(m, -1.0 + const_tol, 1.0 - const_tol)
    h = xp.arctanh(mm) - J @ m
    return Inversion(J=J, h=_frozen_field(m, const, h, const_tol), constant=const,
                     messages=None, n_floored=0)


def independent_pair(
    m: Any,
    C: Any,
    *,
    pseudocount: float = 0.0,
    shrink: float = 1.0,
    p_floor: float = 1e-9,
    const_tol: float = 1e-6,
) -> Inversion:
    """Independent-pair (Bethe) inversion from the pair marginals.

    ``pseudocount`` λ mixes every pair marginal with the uniform one, p → (1−λ)p + λ/4
    (m, C → (1−λ)m, (1−λ)C). ``shrink`` multiplies J before the fields are solved for. With
    shrink = 1 the returned messages are an exact BP fixed point reproducing (1−λ)m and (1−λ)C;
    with shrink < 1 the fields keep single-site beliefs at the data given the shrunk messages'
    couplings (the messages are then no longer a fixed point).
    """
    if not 0.0 <= pseudocount < 1.0 or not 0.0 <= shrink <= 1.0:
        raise ValueError("independent_pair: need 0 ≤ pseudocount < 1 and 0 ≤ shrink ≤ 1")
    _validate(m, C)
    xp = array_module(C)
    const = constant_spins(m, const_tol)
    lam = pseudocount
    mi = (1.0 - lam) * m[:, None]
    mj = (1.0 - lam) * m[None, :]
    cc = (1.0 - lam) * C
    p = xp.stack([(1 + s * mi + t * mj + s * t * cc) / 4 for s in (1, -1) for t in (1, -1)])
    n = m.shape[0]
    idx = xp.arange(n)
    live = ~(const[:, None] | const[None, :])
    live[idx, idx] = False
    n_floored = int(xp.sum((p < p_floor) & live[None]))
    lp = xp.log(xp.maximum(p, p_floor))  # order: ++, +-, -+, --
    J = 0.25 * (lp[0] + lp[3] - lp[1] - lp[2])
    a = 0.25 * (lp[0] + lp[1] - lp[2] - lp[3])  # cavity field of i in the absence of j
    J = xp.where(live, shrink * J, 0.0)
    msg = xp.tanh(a)
    msg[idx, idx] = 0.0
    clip = 1.0 - const_tol
    u = xp.arctanh(xp.clip(xp.tanh(J) * msg, -clip, clip))  # u[k,i] = u_{k→i}
    h = xp.arctanh(xp.clip((1.0 - lam) * m, -clip, clip)) - u.sum(axis=0)
    return Inversion(J=J, h=_frozen_field(m, const, h, const_tol), constant=const,
                     messages=msg, n_floored=n_floored)


@dataclass
class CorrelationSpectrum:
    """Eigen-decomposition K = V diag(values) Vᵀ of K = D^{-1/2} C^c D^{-1/2} (module docstring);
    scale = D^{1/2} (N,); constant (N,) bool mask of frozen spins (zero rows of K)."""

    values: Any
    vectors: Any
    scale: Any
    constant: Any


def correlation_spectrum(m: Any, C: Any, const_tol: float = 1e-6) -> CorrelationSpectrum:
    """Spectrum of the stability matrix K of the independent-pair fixed point (module docstring);
    constant spins have zero rows."""
    _validate(m, C)
    xp = array_module(C)
    cc = connected(m, C)
    n = m.shape[0]
    cc[xp.arange(n), xp.arange(n)] = 0.0
    scale = xp.sqrt(xp.maximum(1.0 - m * m, const_tol))
    values, vectors = xp.linalg.eigh(cc / scale[:, None] / scale[None, :])
    return CorrelationSpectrum(values=values, vectors=vectors, scale=scale,
                               constant=constant_spins(m, const_tol))


def stable_correlations(m: Any, C: Any, rho: float, spectrum: CorrelationSpectrum | None = None
                        ) -> Any:
    """Raw second moments C' = C − D^{1/2} V (λ − ρ)₊ Vᵀ D^{1/2} (unit diagonal): the data's
    correlations with every mode of K above ρ clipped to ρ, whose independent-pair BP fixed point
    is then linearly stable for ρ < 1 (module docstring)."""
    xp = array_module(C)
    sp = spectrum if spectrum is not None else correlation_spectrum(m, C)
    excess = xp.maximum(sp.values - rho, 0.0)
    Cp = C - (sp.vectors * excess) @ sp.vectors.T * xp.outer(sp.scale, sp.scale)
    n = m.shape[0]
    Cp[xp.arange(n), xp.arange(n)] = 1.0
    return 0.5 * (Cp + Cp.T)
