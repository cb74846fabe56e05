"""Per-network training losses of ensembles of E networks (binary mean-field and real-valued).

``ce``: softmax cross-entropy. ``hinge``: multi-class hinge sum_{j != y} max(0, 1 - z_y + z_j) / C
(the parity task of paper App. F; for C = 2 it is max(0, 1 - (z_y - z_other)) / 2).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

LOSSES = ("ce", "hinge")


def check_loss(kind: str) -> str:
    """``kind`` if it names a loss, else a ValueError naming the ``loss`` option."""
    if kind not in LOSSES:
        raise ValueError(f"loss={kind!r}: choose one of {list(LOSSES)}")
    return kind


def per_network_loss(logits: Tensor, y: Tensor, kind: str) -> Tensor:
    """Mean loss over the batch of each network: ``logits [E, B, C]``, ``y [E, B]`` -> ``[E]``."""
    flat, target = logits.flatten(0, 1), y.flatten()
    if check_loss(kind) == "ce":
        per_example = F.cross_entropy(flat, target, reduction="none")
    else:
        per_example = F.multi_margin_loss(flat, target, reduction="none")
    return per_example.view(y.shape).mean(1)
