"""One training step of E networks as a single function (noise + gradient + Adam), so
``torch.compile`` fuses the noise generation and the optimizer's elementwise work into the
gradient's loops instead of paying separate calls per step (the collection hot loop,
:meth:`.module.MeanFieldNet.fit_manual`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache

import torch
from torch import Tensor

from .batches import step_noise
from .meanfield import meanfield_grads

BETAS, ADAM_EPS = (0.9, 0.999), 1e-8  # torch.optim.Adam defaults
# inductor's runtime checks of a step whose shapes and indices are fixed by construction (~8% of a CPU step)
_OPTIONS = {k: False for k in ("size_asserts", "alignment_asserts", "scalar_asserts", "assert_indirect_indexing")}


def adam_(theta: Tensor, grad: Tensor, m: Tensor, v: Tensor, t: Tensor, lr: float, weight_decay: float) -> None:
    """In place, ``torch.optim.Adam`` with coupled L2 at step ``t`` (1-based, 0-d tensor):
    g = grad + wd theta; m <- b1 m + (1-b1) g; v <- b2 v + (1-b2) g^2;
    theta <- theta - lr/(1-b1^t) m / (sqrt(v/(1-b2^t)) + eps)."""
    b1, b2 = BETAS
    g = grad + weight_decay * theta
    m.mul_(b1).add_((1.0 - b1) * g)
    v.mul_(b2).add_((1.0 - b2) * g * g)
    denom = v.sqrt() / torch.sqrt(1.0 - b2**t) + ADAM_EPS
    theta.sub_(lr / (1.0 - b1**t) * m / denom)


def train_step_(
    thetas: Sequence[Tensor],
    ms: Sequence[Tensor],
    vs: Sequence[Tensor],
    step: Tensor,
    x: Tensor,
    y: Tensor,
    idx: Tensor,
    keys: Tensor,
    lr: float,
    weight_decay: float,
    trainable: tuple[bool, ...],
) -> Tensor:
    """Step ``step`` (0-d int64, 0-based) on the examples ``idx [E, B]`` of ``x [P, N_0]``, ``y [P]``:
    the networks' noise of that step (:func:`.batches.step_noise`, keys ``[E, 2]``), one noisy
    mean-field pass (:func:`.meanfield.meanfield_grads`) and an Adam step (t = step + 1) of every
    trainable layer, in place; returns the per-network CE ``[E]`` before the step."""
    eps = step_noise(keys, step, idx.shape[1], [th.shape[1] for th in thetas], x.dtype)
    ce, grads = meanfield_grads(thetas, x[idx], y[idx], eps)
    t = (step + 1).to(x.dtype)
    for th, g, m, v, train in zip(thetas, grads, ms, vs, trainable):
        if train:
            adam_(th, g, m, v, t, lr, weight_decay)
    return ce


@cache
def compiled_train_step() -> Callable[..., Tensor]:
    """``torch.compile`` of :func:`train_step_` (static shapes: one compile per E and batch size)."""
    return torch.compile(train_step_, dynamic=False, options=_OPTIONS)
