"""Spin ordering of a weight configuration (docs/design.md §2) and its parts.

A configuration is the concatenation of the layer matrices ``W^l`` of shape
``[N_l, N_{l-1}]`` (out x in), each flattened row-major, layers in order.
For 20-15-15-10: LB = W^1 (spins 0-299), ITR = W^2 (300-524), RB = W^3 (525-674).
Deeper nets: LB is the first matrix, RB the last, ITR everything in between;
``layer1 .. layerL`` name single matrices.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

PARTS = ("full", "lb", "itr", "rb")


def layer_shapes(widths: Sequence[int]) -> list[tuple[int, int]]:
    """Shapes ``(N_l, N_{l-1})`` of the weight matrices of a net with these layer widths."""
    widths = [int(w) for w in widths]
    if len(widths) < 2 or min(widths) < 1:
        raise ValueError(f"arch widths {widths}: need at least two positive layer widths")
    return [(widths[l + 1], widths[l]) for l in range(len(widths) - 1)]


def n_spins(widths: Sequence[int]) -> int:
    """Number of weights N = sum_l N_l N_{l-1}."""
    return sum(o * i for o, i in layer_shapes(widths))


def layer_slices(widths: Sequence[int]) -> list[slice]:
    """Spin index range of each weight matrix, in order."""
    out, start = [], 0
    for o, i in layer_shapes(widths):
        out.append(slice(start, start + o * i))
        start += o * i
    return out


def part_slice(widths: Sequence[int], part: str) -> slice:
    """Spin index range of ``part``: full, lb, itr, rb or layer<k> (1-based).

    ``itr`` needs at least one hidden layer between two others (3+ matrices).
    """
    sl = layer_slices(widths)
    if part == "full":
        return slice(0, sl[-1].stop)
    if part == "lb":
        return sl[0]
    if part == "rb":
        return sl[-1]
    if part == "itr":
        if len(sl) < 3:
            raise ValueError(f"part=itr: architecture {list(widths)} has no interior weight matrix")
        return slice(sl[1].start, sl[-2].stop)
    if part.startswith("layer") and part[5:].isdigit() and 1 <= int(part[5:]) <= len(sl):
        return sl[int(part[5:]) - 1]
    raise ValueError(f"part={part!r}: choose one of {list(PARTS) + layer_names(widths)}")


def layer_names(widths: Sequence[int]) -> list[str]:
    """``layer1 .. layerL``: the parts naming single weight matrices."""
    return [f"layer{k + 1}" for k in range(len(widths) - 1)]


def available_parts(widths: Sequence[int]) -> list[str]:
    """Parts that exist for this architecture (``all`` expands to these minus layer<k>): ITR needs
    three weight matrices; a one-layer net has only ``full`` (its LB and RB are the whole net)."""
    n_layers = len(widths) - 1
    return [p for p in PARTS if p == "full" or (n_layers >= 2 and p != "itr") or n_layers >= 3]


def layers_to_config(layers: Sequence[Any]) -> Any:
    """Flatten layer matrices (numpy, cupy or torch; batched ``[..., out, in]`` too) to spins."""
    flat = [W.reshape(*W.shape[:-2], -1) for W in layers]
    first = layers[0]
    if type(first).__module__.startswith("torch"):
        import torch

        return torch.cat(flat, dim=-1)
    from ..backend import array_module

    return array_module(first).concatenate(flat, axis=-1)


def config_to_layers(config: Any, widths: Sequence[int]) -> list[Any]:
    """Split spins ``[..., N]`` back into layer matrices ``[..., N_l, N_{l-1}]`` (views)."""
    shapes = layer_shapes(widths)
    if config.shape[-1] != n_spins(widths):
        raise ValueError(f"configuration has {config.shape[-1]} spins but arch {list(widths)} has {n_spins(widths)}")
    return [
        config[..., s].reshape(*config.shape[:-1], o, i) for s, (o, i) in zip(layer_slices(widths), shapes, strict=True)
    ]
