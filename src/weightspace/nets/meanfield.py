"""Mean-field (local reparametrization) forward pass of binary-weight networks (paper App. A).

Each weight w in {-1, +1} has a field theta with P(w=+1) = sigmoid(theta), so
mu = 2 sigmoid(theta) - 1 = tanh(theta/2) and Var w = 1 - mu^2. Per layer (Eq. A2):
m_j = sum_i mu_ij a_i, v_j^2 = sum_i (1 - mu_ij^2) a_i^2, z_j = m_j + v_j eps_j,
a_j = LReLU(z_j)/sqrt(N_{l-1}); the last z goes to softmax cross-entropy. Autograd through
this gives Eqs. A3-A5. All tensors carry a leading ensemble axis E (independent networks).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from ..streams import SAMPLE, uniforms
from .forward import LRELU_SLOPE, lrelu
from .spins import layers_to_config

_VAR_FLOOR = 1e-12  # keeps d sqrt(v^2)/d theta finite when a layer's variance vanishes


def weight_means(theta: Tensor) -> Tensor:
    """mu = 2 sigmoid(theta) - 1 = tanh(theta / 2)."""
    return torch.tanh(0.5 * theta)


def meanfield_logits(thetas: Sequence[Tensor], x: Tensor, eps: Sequence[Tensor] | None = None) -> Tensor:
    """Output pre-activations ``[E, B, N_L]`` for fields ``thetas`` (``[E, N_l, N_{l-1}]``) and inputs
    ``x`` (``[E, B, N_0]``, or ``[B, N_0]`` shared by all networks).

    ``eps=None`` gives the noiseless mean-field output z = m.
    """
    a = x
    last = len(thetas) - 1
    for l, th in enumerate(thetas):
        mu = weight_means(th)
        mt = mu.transpose(-1, -2)
        z = a @ mt
        if eps is not None:
            v2 = (a * a) @ (1.0 - mt * mt)
            z = z + torch.sqrt(v2 + _VAR_FLOOR) * eps[l]
        a = z if l == last else lrelu(z) / math.sqrt(th.shape[-1])
    return a


def sample_weights(thetas: Sequence[Tensor], n: int, generator: torch.Generator | None) -> list[Tensor]:
    """Draw ``n`` binary configurations per network from one generator: ``[n, E, N_l, N_{l-1}]`` in
    {-1, +1}, w = +1 with probability sigmoid(theta) (collection and training use :func:`sample_configs`)."""
    out = []
    for th in thetas:
        u = torch.rand((n, *th.shape), generator=generator, device=th.device, dtype=th.dtype)
        out.append(torch.where(u < torch.sigmoid(th), 1.0, -1.0).to(th.dtype))
    return out


def sample_configs(thetas: Sequence[Tensor], n: int, keys: Tensor) -> Tensor:
    """``[n, E, N]`` ±1 configurations, sample s of network e from its own stream (:mod:`.batches`):
    spin i is +1 iff u_si < sigmoid(theta_i), u_s = ``uniforms(SAMPLE, s, 0)`` over the N spins."""
    theta = layers_to_config(thetas)  # [E, N]
    s = torch.arange(n, device=theta.device)[:, None, None]
    u = uniforms(keys, SAMPLE, s, 0, theta.shape[-1], theta.dtype)
    return torch.where(u < torch.sigmoid(theta), 1.0, -1.0).to(theta.dtype)


def meanfield_grads(
    thetas: Sequence[Tensor], x: Tensor, y: Tensor, eps: Sequence[Tensor]
) -> tuple[Tensor, list[Tensor]]:
    """Per-network mean cross-entropy ``[E]`` of one noisy pass (inputs ``x [E, B, N_0]``, labels
    ``y [E, B]``, noise ``eps[l] [E, N_l, B]``, feature-major) and its gradient d CE_e / d theta_e, computed by hand
    (paper Eqs. A3-A5); equals autograd of :func:`meanfield_logits` + softmax cross-entropy.

    With dz = dCE/dz and dv2 = dz eps / (2 sqrt v2) per layer:
    dCE/dmu = dz^T a - 2 mu (dv2^T a^2), dmu/dtheta = (1 - mu^2)/2, dCE/da = dz mu + 2 a (dv2 s).
    Activations are kept feature-major, ``[E, N_l, B]``, so every product is a batched GEMM whose
    long side is the batch: 2-6x faster on CPU than ``[E, B, N_l] @ W^T`` (docs/benchmarks.md).
    """
    cache = []
    a = x.transpose(1, 2)
    last = len(thetas) - 1
    for l, th in enumerate(thetas):
        mu = torch.tanh(0.5 * th)
        s = 1.0 - mu * mu
        a2 = a * a
        sd = torch.sqrt(torch.bmm(s, a2) + _VAR_FLOOR)
        e = eps[l]
        z = torch.bmm(mu, a) + sd * e
        cache.append((a, a2, mu, s, sd, z, e))
        if l < last:
            a = lrelu(z) * (1.0 / math.sqrt(th.shape[-1]))
    p = torch.softmax(z, 1)
    ce = -torch.log(p.gather(1, y.unsqueeze(1)).squeeze(1)).mean(1)
    onehot = y.unsqueeze(1) == torch.arange(p.shape[1], device=y.device)[:, None]  # [E, C, B]
    dz = (p - onehot.to(p.dtype)) * (1.0 / y.shape[1])
    grads: list[Tensor] = list(thetas)
    for l in range(last, -1, -1):
        a, a2, mu, s, sd, z, e = cache[l]
        dv2 = dz * e * 0.5 / sd
        grads[l] = (torch.bmm(dz, a.transpose(1, 2)) - 2.0 * mu * torch.bmm(dv2, a2.transpose(1, 2))) * (0.5 * s)
        if l:
            da = torch.bmm(mu.transpose(1, 2), dz) + 2.0 * a * torch.bmm(s.transpose(1, 2), dv2)
            zp = cache[l - 1][5]
            dz = torch.where(zp > 0, da, da * LRELU_SLOPE) * (1.0 / math.sqrt(thetas[l - 1].shape[-1]))
    return ce, grads
