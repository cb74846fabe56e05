"""Per-network random streams for E networks trained at once: data order and noise.

Every random number a network consumes comes from generators seeded by its own trial seed
only, so a network trains identically alone or at any position of any ensemble (up to float
rounding), on the same device type:

- init: ``torch.Generator().manual_seed(seed)`` (``module.init_fields``);
- data order of epoch t: ``randperm(P)`` from a generator seeded ``stream_seed(seed, ORDER, t)``;
- reparametrization noise: one generator seeded ``stream_seed(seed, NOISE)``, drawn in blocks of
  ``NOISE_BLOCK`` steps of shape ``[NOISE_BLOCK, B, sum_l N_l]`` (step k uses row k mod NOISE_BLOCK);
- evaluation samples: a generator seeded ``stream_seed(seed, SAMPLE)``.

Generators live on the training device (CPU and CUDA streams differ). Data live there too.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

ORDER, NOISE, SAMPLE = 1, 2, 3
NOISE_BLOCK = 25  # steps of noise drawn per generator call (a constant: part of the stream's definition)
_MASK = (1 << 63) - 1


def stream_seed(seed: int, *keys: int) -> int:
    """A 63-bit seed for stream ``keys`` of trial ``seed`` (splitmix64 mixing; distinct inputs give
    unrelated seeds, so streams of one trial and of different trials do not overlap)."""
    x = int(seed) & ((1 << 64) - 1)
    for k in (*keys, 0):
        x = (x + 0x9E3779B97F4A7C15 + int(k)) & ((1 << 64) - 1)
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & ((1 << 64) - 1)
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & ((1 << 64) - 1)
        x ^= x >> 31
    return x & _MASK


def _generator(seed: int, device: torch.device | str) -> torch.Generator:
    return torch.Generator(device=torch.device(device)).manual_seed(seed)


def epoch_orders(seeds: Sequence[int], n: int, epoch: int, device: torch.device | str = "cpu") -> Tensor:
    """``[E, n]`` permutations, row e from a generator (on ``device``) seeded ``stream_seed(seed_e, ORDER, epoch)``."""
    rows = [torch.randperm(n, generator=_generator(stream_seed(s, ORDER, epoch), device), device=device) for s in seeds]
    return torch.stack(rows)


class EnsembleBatches:
    """Iterable of ``(x [E, B, D], y [E, B])`` batches over one epoch; ``len`` = batches per epoch.

    The last incomplete batch is dropped when P is not a multiple of B (the paper's P/B are integers).
    """

    def __init__(self, x: Tensor, y: Tensor, seeds: Sequence[int], batch_size: int) -> None:
        if batch_size > len(x):
            raise ValueError(f"scenario.batch_size={batch_size} exceeds the {len(x)} training examples")
        self.x, self.y, self.seeds, self.batch_size = x, y, list(seeds), int(batch_size)
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.x) // self.batch_size

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        order = epoch_orders(self.seeds, len(self.x), self.epoch, self.x.device)
        self.epoch += 1
        e, b = len(self.seeds), self.batch_size
        for k in range(len(self)):
            idx = order[:, k * b : (k + 1) * b].reshape(-1)
            yield self.x.index_select(0, idx).view(e, b, -1), self.y.index_select(0, idx).view(e, b)


class NoiseStream:
    """Standard-normal eps for every step: ``next()`` gives one ``[E, B, N_l]`` tensor per layer.

    Network e's values come from its own generator (seeded ``stream_seed(seed_e, NOISE)``), drawn
    ``NOISE_BLOCK`` steps at a time into a buffer ``[E, NOISE_BLOCK, B, sum_l N_l]``.
    """

    def __init__(
        self,
        seeds: Sequence[int],
        widths: Sequence[int],
        batch_size: int,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.sizes = [int(w) for w in widths[1:]]
        self.gens = [_generator(stream_seed(s, NOISE), device) for s in seeds]
        shape = (len(self.gens), NOISE_BLOCK, int(batch_size), sum(self.sizes))
        self.buf = torch.empty(shape, device=device, dtype=dtype)
        self.k = NOISE_BLOCK

    def next(self) -> list[Tensor]:
        if self.k == NOISE_BLOCK:
            for e, g in enumerate(self.gens):
                torch.randn(self.buf.shape[1:], generator=g, out=self.buf[e])
            self.k = 0
        step = self.buf[:, self.k]
        self.k += 1
        return list(step.split(self.sizes, dim=-1))
