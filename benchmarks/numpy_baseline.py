"""Plain single-network NumPy (float64) trial of the under-para protocol, manual gradients.

Written from the equations (paper App. A, D; docs/design.md §3.1), one network at a time, the way the
paper's authors ran it; ``bench_collect.py`` times it against the ensemble trainer.

Per layer l with input a (B x N_{l-1}) and fields theta (N_l x N_{l-1}):
    mu = tanh(theta/2), s = 1 - mu^2, m = a mu^T, v2 = a^2 s^T, z = m + sqrt(v2) eps   (A2)
    hidden: a' = LReLU(z) / sqrt(N_{l-1}); output: softmax cross-entropy (mean over the batch).
Backward (A3-A5), with dz = dCE/dz:
    dCE/dmu = dz^T a - 2 mu * ((dz eps / (2 sqrt v2))^T a^2),  dmu/dtheta = s / 2,
    dCE/da  = dz mu + 2 a * ((dz eps / (2 sqrt v2)) s).
Adam (lr 0.3, beta 0.9/0.999, eps 1e-8) on gradient + 1e-5 theta; theta ~ N(0, 0.1^2).
A trial: train, draw 10 binary nets w ~ sigmoid(theta), keep the best test accuracy.

    .venv/bin/python benchmarks/numpy_baseline.py [--epochs 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

SLOPE = 0.1
VAR_FLOOR = 1e-12


def lrelu(z: np.ndarray) -> np.ndarray:
    return np.where(z > 0, z, SLOPE * z)


def forward_backward(
    thetas: list[np.ndarray], x: np.ndarray, y: np.ndarray, rng: np.random.Generator
) -> tuple[float, list[np.ndarray]]:
    """Mean cross-entropy of one noisy mean-field pass on the batch and its gradient (A3-A5)."""
    a, cache = x, []
    for l, th in enumerate(thetas):
        mu = np.tanh(0.5 * th)
        s = 1.0 - mu * mu
        sd = np.sqrt((a * a) @ s.T + VAR_FLOOR)
        eps = rng.standard_normal(sd.shape)
        z = a @ mu.T + sd * eps
        cache.append((a, mu, s, sd, eps, z))
        a = z if l == len(thetas) - 1 else lrelu(z) / np.sqrt(th.shape[1])
    z = a - a.max(1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(1, keepdims=True)
    rows = np.arange(len(y))
    ce = float(-np.log(p[rows, y]).mean())
    dz = p
    dz[rows, y] -= 1.0
    dz /= len(y)
    grads = [np.empty(0)] * len(thetas)
    for l in range(len(thetas) - 1, -1, -1):
        a, mu, s, sd, eps, _ = cache[l]
        dv2 = dz * eps * 0.5 / sd
        grads[l] = (dz.T @ a - 2.0 * mu * (dv2.T @ (a * a))) * 0.5 * s
        if l:
            da = dz @ mu + 2.0 * a * (dv2 @ s)
            z_prev = cache[l - 1][5]
            dz = da * np.where(z_prev > 0, 1.0, SLOPE) / np.sqrt(thetas[l - 1].shape[1])
    return ce, grads


def fixed_accuracy(weights: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> float:
    a = x
    for l, w in enumerate(weights):
        z = a @ w.T
        a = z if l == len(weights) - 1 else lrelu(z) / np.sqrt(w.shape[1])
    return float((a.argmax(1) == y).mean())


def run_trial(
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    widths: list[int],
    seed: int,
    *,
    epochs: int = 50,
    batch: int = 200,
    lr: float = 0.3,
    weight_decay: float = 1e-5,
    init_std: float = 0.1,
    n_samples: int = 10,
    max_steps: int | None = None,
) -> dict[str, float]:
    """One trial: returns best sampled test accuracy, last CE and steps run (stops at ``max_steps``)."""
    x_tr, y_tr, x_te, y_te = data
    rng = np.random.default_rng(seed)
    thetas = [rng.standard_normal((o, i)) * init_std for i, o in zip(widths[:-1], widths[1:])]
    m1 = [np.zeros_like(t) for t in thetas]
    m2 = [np.zeros_like(t) for t in thetas]
    b1, b2, step, ce = 0.9, 0.999, 0, float("nan")
    for _ in range(epochs):
        order = rng.permutation(len(x_tr))
        for k in range(len(x_tr) // batch):
            if max_steps is not None and step >= max_steps:
                break
            idx = order[k * batch : (k + 1) * batch]
            ce, grads = forward_backward(thetas, x_tr[idx], y_tr[idx], rng)
            step += 1
            for th, g, u, v in zip(thetas, grads, m1, m2):
                g = g + weight_decay * th
                u *= b1
                u += (1 - b1) * g
                v *= b2
                v += (1 - b2) * g * g
                th -= lr / (1 - b1**step) * u / (np.sqrt(v / (1 - b2**step)) + 1e-8)
    accs = [
        fixed_accuracy([np.where(rng.random(t.shape) < 1 / (1 + np.exp(-t)), 1.0, -1.0) for t in thetas], x_te, y_te)
        for _ in range(n_samples)
    ]
    return {"acc_best": max(accs, default=float("nan")), "train_ce": ce, "steps": float(step)}


def load_under_para() -> tuple[np.ndarray, ...]:
    """Embedded MNIST-PCA20, float64: (x_train, y_train, x_test, y_test)."""
    from weightspace.data.datasets import load_embedded

    arrays, _ = load_embedded()
    return tuple(
        np.asarray(arrays[k], np.float64 if k.startswith("x") else np.int64)
        for k in ("x_train", "y_train", "x_test", "y_test")
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0 = time.perf_counter()
    res = run_trial(load_under_para(), [20, 15, 15, 10], args.seed, epochs=args.epochs)
    dt = time.perf_counter() - t0
    print(f"numpy baseline: {args.epochs} epochs in {dt:.2f} s ({dt / args.epochs:.3f} s/epoch), {res}")
