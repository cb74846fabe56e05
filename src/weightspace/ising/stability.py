"""Linear stability of a BP fixed point: spectral radius of the message-update Jacobian (paper App. C).

BP (docs/design.md §3.3) updates directed-edge messages m_{k→i}; with t_ik = tanh βJ_ik,
u_{k→i} = atanh(t_ik m_{k→i}) and H_i = h_i + Σ_k u_{k→i}, the undamped map is
f(M)_{i→j} = tanh(H_i − u_{j→i}). Its Jacobian at a fixed point M* lives on directed edges and has
the non-backtracking structure (i→j depends on k→i for k ≠ j only):

    B_{(i→j),(k→i)} = (1 − m_{i→j}²) · t_ik / (1 − t_ik² m_{k→i}²),   k ≠ i, j.

Products cost O(N²): with W[k,i] = A_ki v_{k→i} (A_ki the second factor above) and column sums
s_i = Σ_k W[k,i], (Bv)_{i→j} = (1 − m_{i→j}²)(s_i − W[j,i]). The damped map M ← dM + (1−d) f(M)
has Jacobian d·1 + (1−d)B. The fixed point is linearly stable (BP started near it returns to it)
iff the spectral radius ρ(B) < 1 (undamped; damping can only move eigenvalues with Re λ < 1 inwards).
ρ is computed by restarted Arnoldi on the (N,N) message arrays, with the small Hessenberg
eigenproblem solved on the host; works on NumPy and CuPy arrays.

This is BP's own stability condition. The largest eigenvalue of K = D^{-1/2} C^c D^{-1/2}
(ising.inverse) is only its weak-coupling, homogeneous-message approximation and can be well above
1 at a stable fixed point (e.g. an SK paramagnet at β = 0.95: λ_max(K) ≈ 1.7, ρ(B) ≈ 0.9).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from weightspace.backend import array_module


def message_update(J: Any, h: Any, M: Any, beta: float = 1.0) -> Any:
    """Undamped parallel BP update f(M) of one system: M (N,N) with M[i,j] = m_{i→j} (module
    docstring); the diagonal stays 0. Reference implementation (the fast kernel is ising.bp)."""
    xp = array_module(M)
    T = xp.tanh(beta * J)
    U = xp.arctanh(T * M)  # U[k,i] = u_{k→i} (T symmetric)
    H = h + U.sum(axis=0)
    F = xp.tanh(H[:, None] - U.T)
    n = M.shape[0]
    F[xp.arange(n), xp.arange(n)] = 0.0
    return F


@dataclass(frozen=True)
class MessageJacobian:
    """Matrix-free Jacobian of the BP update at messages M (module docstring): ``out`` = 1 − M²
    (N,N) at [i,j], ``gain`` = A (N,N) at [k,i], ``damping`` d."""

    out: Any
    gain: Any
    damping: float

    def matvec(self, v: Any) -> Any:
        """(d·1 + (1−d)B) v for v (N,N) with v[k,i] on edge k→i; O(N²)."""
        W = self.gain * v
        s = W.sum(axis=0)
        Bv = self.out * (s[:, None] - W.T)
        n = v.shape[0]
        Bv[array_module(v).arange(n), array_module(v).arange(n)] = 0.0
        return Bv if self.damping == 0.0 else self.damping * v + (1.0 - self.damping) * Bv


def message_jacobian(J: Any, M: Any, beta: float = 1.0, damping: float = 0.0) -> MessageJacobian:
    """The Jacobian operator at fixed-point messages M (N,N), M[i,j] = m_{i→j}."""
    xp = array_module(M)
    T = xp.tanh(beta * J)
    n = M.shape[0]
    out = 1.0 - M * M
    out[xp.arange(n), xp.arange(n)] = 0.0
    gain = T / (1.0 - (T * M) ** 2)  # gain[k,i] = t_ki / (1 − t_ki² m_{k→i}²)
    gain[xp.arange(n), xp.arange(n)] = 0.0
    return MessageJacobian(out=out, gain=gain, damping=float(damping))


def spectral_radius(
    op: MessageJacobian, shape: tuple[int, int], xp: Any, *, krylov: int = 20, tol: float = 3e-3,
    max_restarts: int = 10, seed: int = 0,
) -> float:
    """Largest |eigenvalue| of ``op`` by explicitly restarted Arnoldi (Krylov dimension ``krylov``;
    restart from the real part of the dominant Ritz vector, which spans a complex pair's plane).
    Stops when the dominant Ritz modulus changes by < tol (relative) between restarts.

    Accuracy: an isolated dominant eigenvalue (an ordering instability) converges in one or two
    restarts; when many eigenvalues crowd the edge of a disc (a spin-glass-like bulk) the estimate
    is good to a few per cent (measured on an N = 200 SK paramagnet: 0.94–0.97 across Krylov sizes
    and restarts)."""
    v = xp.asarray(np.random.default_rng(seed).normal(size=shape))
    n = shape[0]
    v[xp.arange(n), xp.arange(n)] = 0.0
    prev = np.inf
    rho = 0.0
    for _ in range(max_restarts):
        V = [v / xp.linalg.norm(v)]
        Hs = np.zeros((krylov + 1, krylov))
        k_used = krylov
        for k in range(krylov):
            w = op.matvec(V[k])
            for j in range(k + 1):  # modified Gram–Schmidt, twice for stability
                c = float((V[j] * w).sum())
                Hs[j, k] += c
                w = w - c * V[j]
            for j in range(k + 1):
                c = float((V[j] * w).sum())
                Hs[j, k] += c
                w = w - c * V[j]
            nw = float(xp.linalg.norm(w))
            Hs[k + 1, k] = nw
            if nw < 1e-12 * max(1.0, abs(Hs[: k + 1, k]).max()):  # invariant subspace found
                k_used = k + 1
                break
            V.append(w / nw)
        vals, vecs = np.linalg.eig(Hs[:k_used, :k_used])
        top = int(np.argmax(np.abs(vals)))
        rho = float(abs(vals[top]))
        if k_used < krylov or abs(rho - prev) <= tol * max(rho, 1e-12):
            return rho
        prev = rho
        y = np.real(vecs[:, top])
        v = sum(float(y[j]) * V[j] for j in range(k_used))
        if float(xp.linalg.norm(v)) == 0.0:
            v = V[-1]
    return rho


def bp_jacobian_radius(
    J: Any, messages: Any, *, beta: float = 1.0, damping: float = 0.0, krylov: int = 20, tol: float = 3e-3,
    seed: int = 0,
) -> float:
    """Spectral radius of the BP message-update Jacobian at fixed-point ``messages`` (N,N) (or a
    batch (B,N,N), of which system 0) of couplings βJ; ``damping`` d gives that of the damped map.
    < 1: linearly stable fixed point."""
    xp = array_module(messages)
    M = messages[0] if messages.ndim == 3 else messages
    J = J[0] if J.ndim == 3 else J
    op = message_jacobian(xp.asarray(J, dtype=xp.float64), xp.asarray(M, dtype=xp.float64), beta, damping)
    return spectral_radius(op, M.shape, xp, krylov=krylov, tol=tol, seed=seed)
