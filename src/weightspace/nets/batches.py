"""Random streams of E networks trained at once: init, data order, noise, samples (stream version 3).

Every random number network e consumes comes from :mod:`weightspace.streams` keyed by its own trial
seed (``keys[e] = seed_keys(seed_e)``), so a network trains identically alone or at any position of
any ensemble, on any device, through ``train.py`` (Lightning) or the collection's fused loop (up to
float rounding). One vectorised call draws a stream for all E networks:

- init: ``normals(INIT, 0, 0)`` over the N spins in configuration order, times ``init_std``;
- data order of epoch t: ``permutation(keys, t, P)``;
- reparametrization noise of step k (0-based, counted over all epochs): ``normals(NOISE, k, 0)``
  of ``sum_l N_l x B`` values, unit-major ``[sum_l N_l, B]`` (the units of layers 1..L in order,
  then the example: the feature-major layout the fused step computes in);
- evaluation sample s: ``uniforms(SAMPLE, s, 0)`` over the N spins, w_i = +1 iff u_i < sigmoid(theta_i);
- frozen signs of weight matrix l at epoch t: ``uniforms(FROZEN, t, l)`` < 1/2 -> +field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import cache, partial

import torch
from torch import Tensor

from ..streams import NOISE, normals, permutation, seed_keys, walk

WALK_PASSES = 2  # fused cycle-walking passes of the compiled data order (P = 60 000: ~6e-4 of the walks left)


@cache
def _compiled_walk() -> Callable[..., Tensor]:
    return torch.compile(partial(walk, passes=WALK_PASSES), dynamic=False)


def epoch_orders(keys: Tensor, n: int, epoch: int, compile: bool = False) -> Tensor:
    """``[E, n]`` data orders of ``epoch`` (:func:`weightspace.streams.permutation`); ``compile``
    walks in one fused loop first (same values)."""
    return permutation(keys, epoch, n, _compiled_walk() if compile else walk)


def step_noise(keys: Tensor, step: int | Tensor, batch: int, sizes: Sequence[int], dtype: torch.dtype) -> list[Tensor]:
    """Standard-normal eps of ``step`` (int or 0-d int64 tensor), feature-major: one ``[E, N_l, batch]``
    per layer (``.transpose(1, 2)`` for the ``[E, batch, N_l]`` of :func:`.meanfield.meanfield_logits`)."""
    total = sum(sizes)
    z = normals(keys, NOISE, step, 0, total * batch, dtype).view(len(keys), total, batch)
    return list(z.split(list(sizes), dim=1))


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

    def indices(self) -> Iterator[Tensor]:
        """The next epoch's batches as example indices ``[E, B]`` (views of the epoch's order)."""
        order = epoch_orders(self.keys, len(self.x), self.epoch, self.compile)
        self.epoch += 1
        b = self.batch_size
        for k in range(len(self)):
            yield order[:, k * b : (k + 1) * b]

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        for idx in self.indices():
            yield self.x[idx], self.y[idx]
