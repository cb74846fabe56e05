"""Layers frozen at random signs (paper Sec. IV F, Fig. 11; docs/design.md §3.5).

A frozen weight matrix has its fields quenched to theta = ±field (default 10, so
P(w = +1) = sigmoid(10) = 1 - 4.5e-5: practically fixed binary weights), the signs drawn with equal
probability and never trained. Network e's signs for epoch t come from a generator seeded
``stream_seed(seed_e, FROZEN, t)``: with ``redraw="never"`` only t = 0 is used (the paper's
text: drawn once at the start); ``redraw="every_epoch"`` draws new signs at every epoch start
(what the authors' public code does).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .batches import stream_seed
from .spins import layer_slices, part_slice

FROZEN = 4  # stream key of the frozen signs (batches uses ORDER = 1, NOISE = 2, SAMPLE = 3)
REDRAW = ("never", "every_epoch")


def frozen_layer_indices(widths: Sequence[int], parts: Sequence[str]) -> list[int]:
    """0-based indices of the weight matrices inside any of ``parts`` (lb, itr, rb, layer<k>)."""
    chosen: set[int] = set()
    for part in parts:
        sl = part_slice(widths, str(part))
        chosen |= {l for l, s in enumerate(layer_slices(widths)) if sl.start <= s.start and s.stop <= sl.stop}
    return sorted(chosen)


def check_redraw(redraw: str) -> str:
    if redraw not in REDRAW:
        raise ValueError(f"freeze.redraw={redraw!r}: choose one of {list(REDRAW)}")
    return redraw


def frozen_fields(shape: tuple[int, int], seeds: Sequence[int], epoch: int, field: float, layer: int) -> Tensor:
    """``[E, N_l, N_{l-1}]`` fields ±``field`` with independent fair signs, network e's from its own
    generator seeded ``stream_seed(seed_e, FROZEN, epoch, layer)``."""
    out = []
    for s in seeds:
        g = torch.Generator().manual_seed(stream_seed(int(s), FROZEN, int(epoch), int(layer)))
        out.append(torch.where(torch.rand(shape, generator=g) < 0.5, field, -field))
    return torch.stack(out)
