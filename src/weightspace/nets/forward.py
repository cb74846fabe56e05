"""Forward pass of a network with fixed (e.g. binary) weights (docs/design.md §3.1).

Hidden layers: a = LReLU(W a_prev) / sqrt(N_{l-1}), LReLU(z) = max(z,0) + 0.1 min(z,0);
the last layer's pre-activation is returned (argmax = predicted class).
Works unchanged on NumPy, CuPy and torch arrays, batched over leading dims of W.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

LRELU_SLOPE = 0.1


def lrelu(z: Any) -> Any:
    """Leaky ReLU with slope 0.1 on the negative side."""
    return z * (LRELU_SLOPE + (1.0 - LRELU_SLOPE) * (z > 0))


def fixed_forward(weights: Sequence[Any], x: Any) -> Any:
    """Logits of the net with weight matrices ``weights`` (``[..., out, in]``) on inputs ``x`` ``[..., B, in]``."""
    a = x
    last = len(weights) - 1
    for l, W in enumerate(weights):
        z = a @ W.swapaxes(-1, -2)
        a = z if l == last else lrelu(z) / math.sqrt(W.shape[-1])
    return a


def accuracy(weights: Sequence[Any], x: Any, y: Any) -> Any:
    """Fraction of inputs classified correctly (argmax of the logits), per leading batch index."""
    correct = fixed_forward(weights, x).argmax(-1) == y
    return (correct * 1.0).mean(-1)
