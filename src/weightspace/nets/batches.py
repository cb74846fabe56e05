"""Random streams of E networks trained at once: init, data order, noise, samples (stream version 2).

Every random number network e consumes comes from :mod:`weightspace.streams` keyed by its own trial
seed (``keys[e] = seed_keys(seed_e)``), so a network trains identically alone or at any position of
any ensemble, on any device, through ``train.py`` (Lightning) or the collection's fused loop (up to
float rounding). One vectorised call draws a stream for all E networks:

- init: ``normals(INIT, 0, 0)`` over the N spins in configuration order, times ``init_std``;
- data order of epoch t: ``permutation(keys, t, P)``;
- reparametrization noise of step k (0-based, counted over all epochs): ``normals(NOISE, k, 0)``
  of ``B x sum_l N_l`` values, row-major ``[B, sum_l N_l]`` (example, then the units of layers
  1..L in order);
- evaluation sample s: ``uniforms(SAMPLE, s, 0)`` over the N spins, w_i = +1 iff u_i < sigmoid(theta_i);
- frozen signs of weight matrix l at epoch t: ``uniforms(FROZEN, t, l)`` < 1/2 -> +field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import cache

import torch
from torch import Tensor

from ..streams import NOISE, feistel, normals, permutation, seed_keys


@cache
def _compiled_feistel() -> Callable[..., Tensor]:
    return torch.compile(feistel, dynamic=False)


def epoch_orders(keys: Tensor, n: int, epoch: int, compile: bool = False) -> Tensor:
    """``[E, n]`` data orders of ``epoch`` (:func:`weightspace.streams.permutation`); ``compile``
    runs its full pass as one fused loop (same values)."""
    return permutation(keys, epoch, n, _compiled_feistel() if compile else feistel)


def step_noise(keys: Tensor, step: int | Tensor, batch: int, sizes: Sequence[int], dtype: torch.dtype) -> list[Tensor]:
    """Standard-normal eps of ``step`` (int or 0-d int64 tensor): one ``[E, batch, N_l]`` per layer."""
    total = sum(sizes)
    z = normals(keys, NOISE, step, 0, batch * total, dtype).view(len(keys), batch, total)
    return list(z.split(list(sizes), dim=-1))


class EnsembleBatches:
    """Iterable of ``(x [E, B, D], y [E, B])`` batches over one epoch; ``len`` = batches per epoch.

    The last incomplete batch is dropped when P is not a multiple of B (the paper's P/B are integers).
    """

    def __init__(self, x: Tensor, y: Tensor, seeds: Sequence[int], batch_size: int, compile: bool = False) -> None:
        if batch_size > len(x):
            raise ValueError(f"scenario.batch_size={batch_size} exceeds the {len(x)} training examples")
        self.x, self.y, self.batch_size, self.compile = x, y, int(batch_size), compile
        self.keys = seed_keys(seeds, x.device)
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.x) // self.batch_size

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        order = epoch_orders(self.keys, len(self.x), self.epoch, self.compile)
        self.epoch += 1
        e, b = len(self.keys), self.batch_size
        for k in range(len(self)):
            idx = order[:, k * b : (k + 1) * b].reshape(-1)
            yield self.x.index_select(0, idx).view(e, b, -1), self.y.index_select(0, idx).view(e, b)
