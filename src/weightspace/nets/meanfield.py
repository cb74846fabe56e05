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

from .forward import lrelu

_VAR_FLOOR = 1e-12  # keeps d sqrt(v^2)/d theta finite when a layer's variance vanishes


def weight_means(theta: Tensor) -> Tensor:
    """mu = 2 sigmoid(theta) - 1 = tanh(theta / 2)."""
    return torch.tanh(0.5 * theta)


def draw_noise(thetas: Sequence[Tensor], batch: int, generator: torch.Generator | None) -> list[Tensor]:
    """One standard-normal eps per layer, shape ``[E, batch, N_l]`` (quenched for a step)."""
    return [
        torch.randn(th.shape[0], batch, th.shape[1], generator=generator, device=th.device, dtype=th.dtype)
        for th in thetas
    ]


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
    """Draw ``n`` binary configurations per network: ``[n, E, N_l, N_{l-1}]`` in {-1, +1}."""
    out = []
    for th in thetas:
        u = torch.rand((n, *th.shape), generator=generator, device=th.device, dtype=th.dtype)
        out.append(torch.where(u < torch.sigmoid(th), 1.0, -1.0).to(th.dtype))
    return out
