"""Layers frozen at random signs (paper Sec. IV F, Fig. 11; docs/design.md §3.5).

A frozen weight matrix has its fields quenched to theta = ±field (default 10, so
P(w = +1) = sigmoid(10) = 1 - 4.5e-5: practically fixed binary weights), the signs drawn with equal
probability and never trained. Network e's signs for epoch t come from its own stream
(:mod:`.batches`: ``uniforms(FROZEN, t, l)`` < 1/2 -> +field): with ``redraw="never"`` only t = 0 is used (the paper's
text: drawn once at the start); ``redraw="every_epoch"`` draws new signs at every epoch start
(what the authors' public code does).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..streams import FROZEN, seed_keys, uniforms
from .spins import layer_slices, part_slice

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
    stream ``uniforms(FROZEN, epoch, layer)`` (< 1/2 -> +field), all networks in one call."""
    u = uniforms(seed_keys(seeds), FROZEN, int(epoch), int(layer), shape[0] * shape[1])
    return torch.where(u < 0.5, field, -field).view(len(seeds), *shape)
