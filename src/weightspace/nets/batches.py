"""Mini-batches for E networks at once: each network its own data order every epoch.

Network e's order in epoch t is ``randperm(P)`` from a generator seeded with (seed_e, t), so a
network's data order depends only on its own trial seed. Data live on the training device.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch import Tensor


def epoch_orders(seeds: Sequence[int], n: int, epoch: int, device: torch.device | str = "cpu") -> Tensor:
    """``[E, n]`` permutations, row e from a generator seeded with ``seed_e * 100003 + epoch``."""
    rows = []
    for s in seeds:
        g = torch.Generator().manual_seed(int(s) * 100003 + int(epoch))
        rows.append(torch.randperm(n, generator=g))
    return torch.stack(rows).to(device)


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
        for b in range(len(self)):
            idx = order[:, b * self.batch_size : (b + 1) * self.batch_size]
            yield self.x[idx], self.y[idx]
