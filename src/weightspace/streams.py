"""Counter-based random streams that are the same on every device (stream version 3).

Every random number of a trial is a pure function of (trial seed, purpose, counters): the
Philox-4x32-7 block cipher (Salmon, Moraes, Dror & Shaw, SC'11; Random123) keyed by the trial
seed, ``k = (seed mod 2^32, seed div 2^32)``, applied to the counter ``(c0, c1, c2, c3) =
(block index, a, b, purpose)``. Written with torch int64 ops only, so one vectorised call draws
the streams of all E networks at once, on CPU or CUDA, eager or ``torch.compile``-d, and the
integer words are bit-identical everywhere. Philox round (M0 = 0xD2511F53, M1 = 0xCD9E8D57)::

    (hi0, lo0) = M0 c0,  (hi1, lo1) = M1 c2          (64-bit products split in 32-bit halves)
    c <- (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0),   then k <- k + (0x9E3779B9, 0xBB67AE85)

(7 rounds, the key bumped between rounds: the fewest its authors found to pass TestU01's BigCrush
on every tested stream, "Crush-resistant"; Random123's default is 10, ``rounds=10``; 7 make the
collection step ~7% faster, the noise being a quarter of a CPU step). The products of two 32-bit
words wrap in int64 (two's complement, as every torch backend multiplies); only their 64 bits are used.

Streams built on the words (a block = 4 words; ``n`` values use blocks ``0 .. ceil(n/4) - 1``):

- :func:`uniforms`: u = (w >> 8) 2^-24 in [0, 1), exact in float32;
- :func:`normals`: Box-Muller on word pairs (w0, w1), (w2, w3) of each block:
  r = sqrt(-2 ln u1), u1 = ((w0 >> 8) + 1) 2^-24 in (0, 1]; z = (r cos 2 pi u2, r sin 2 pi u2).
  Identical across devices up to the last-bit rounding of the devices' float32 log/sin/cos;
- :func:`permutation`: a keyed bijection of [0, n) per (seed, epoch): a 4-round balanced
  Feistel network pi on 2h bits (2^(2h) >= n), (L, R) <- (R, L ^ (mix32(R ^ K_r) mod 2^h)), with
  round keys K_0..K_3 = the words of block 0 of (a = epoch, b = 0, ORDER) and mix32 the
  ``lowbias32`` integer hash, restricted to [0, n) by cycle walking.

Purposes (counter word c3): ``INIT`` fields, ``ORDER`` data orders, ``NOISE`` training noise,
``SAMPLE`` evaluation samples, ``FROZEN`` frozen signs. Changing anything here changes which
configuration a seed yields: bump ``VERSION`` (stores record it, :mod:`.ensemble.store`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

# 1: per-network torch.Generator streams (differed between CPU and CUDA); 2: Philox-4x32-10
# (on main for an hour on 2026-12-02, no store known); 3: Philox-4x32-7, noise unit-major
VERSION = 3
INIT, ORDER, NOISE, SAMPLE, FROZEN = 1, 2, 3, 4, 5
MASK32 = 0xFFFFFFFF
PHILOX_M = (0xD2511F53, 0xCD9E8D57)
PHILOX_W = (0x9E3779B9, 0xBB67AE85)
PHILOX_ROUNDS = 7
FEISTEL_ROUNDS = 4
_U24 = 2.0**-24

Int = int | Tensor


def seed_keys(seeds: Sequence[int] | Tensor, device: torch.device | str | None = None) -> Tensor:
    """Philox keys ``[E, 2]`` int64 of trial seeds (0 <= seed < 2^63): (seed mod 2^32, seed div 2^32)."""
    s = torch.as_tensor(seeds, dtype=torch.int64, device=device).reshape(-1)
    return torch.stack([s & MASK32, s >> 32], -1)


def philox4x32(c: Sequence[Int], k: Sequence[Int], rounds: int = PHILOX_ROUNDS) -> tuple[Tensor, ...]:
    """Philox-4x32-``rounds`` of counter words ``c`` (4) under key words ``k`` (2), all uint32 values
    held in int64 tensors (or ints) that broadcast together; returns the 4 output words."""
    c0, c1, c2, c3 = c
    k0, k1 = k
    for r in range(rounds):
        if r:
            k0, k1 = (k0 + PHILOX_W[0]) & MASK32, (k1 + PHILOX_W[1]) & MASK32
        p0, p1 = c0 * PHILOX_M[0], c2 * PHILOX_M[1]
        # the low words p & MASK32 are masked only where they are used (after the next xor)
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0) & MASK32, p1, ((p0 >> 32) ^ c3 ^ k1) & MASK32, p0
    return c0, c1 & MASK32, c2, c3 & MASK32


def _blocks(keys: Tensor, purpose: int, a: Int, b: Int, n: int) -> tuple[Tensor, ...]:
    """The 4 words ``[..., E, ceil(n/4)]`` of blocks 0.. of (a, b, purpose) for keys ``[E, 2]``;
    ``a``, ``b`` ints or int64 tensors broadcasting against ``[..., 1, 1]``."""
    q = torch.arange((n + 3) // 4, device=keys.device, dtype=torch.int64)
    return philox4x32((q, a, b, purpose), (keys[:, :1], keys[:, 1:]))


def _interleave(parts: Sequence[Tensor], n: int) -> Tensor:
    return torch.stack(list(parts), -1).flatten(-2)[..., :n]


def words(keys: Tensor, purpose: int, a: Int, b: Int, n: int) -> Tensor:
    """``[..., E, n]`` uint32 words (int64): word j is word j % 4 of block j // 4."""
    return _interleave(_blocks(keys, purpose, a, b, n), n)


def uniforms(keys: Tensor, purpose: int, a: Int, b: Int, n: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """``[..., E, n]`` uniforms in [0, 1): u = (w >> 8) 2^-24."""
    return (words(keys, purpose, a, b, n) >> 8).to(dtype) * _U24


def normals(keys: Tensor, purpose: int, a: Int, b: Int, n: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """``[..., E, n]`` standard normals, Box-Muller on the word pairs of each block (module docstring)."""
    w = _blocks(keys, purpose, a, b, n)
    out = []
    for hi, lo in ((w[0], w[1]), (w[2], w[3])):
        r = torch.sqrt(-2.0 * torch.log(((hi >> 8) + 1).to(dtype) * _U24))
        angle = (lo >> 8).to(dtype) * (_U24 * 2.0 * math.pi)
        out += [r * torch.cos(angle), r * torch.sin(angle)]
    return _interleave(out, n)


def mix32(x: Tensor) -> Tensor:
    """``lowbias32`` integer hash of uint32 values (C. Wellons): xor-shift-multiply, twice."""
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & MASK32
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & MASK32
    return x ^ (x >> 16)


def feistel_half_bits(n: int) -> int:
    """h with 2^(2h) >= n (h >= 1): the Feistel domain of a permutation of n elements."""
    return max(1, (max(1, (int(n) - 1).bit_length()) + 1) // 2)


def round_keys(keys: Tensor, epoch: Int) -> tuple[Tensor, ...]:
    """The 4 Feistel round keys ``[E, 1]`` of ``epoch``: block 0 of (epoch, 0, ORDER)."""
    return _blocks(keys, ORDER, epoch, 0, 1)


def feistel(x: Tensor, rk: Sequence[Tensor], h: int) -> Tensor:
    """pi(x): the 4-round Feistel bijection of [0, 2^(2h)) under round keys ``rk`` (broadcasting with x)."""
    mask = (1 << h) - 1
    left, right = x >> h, x & mask
    for k in rk:
        left, right = right, left ^ (mix32(right ^ k) & mask)
    return (left << h) | right


def walk(x: Tensor, rk: Sequence[Tensor], h: int, n: int, passes: int = 0) -> Tensor:
    """pi(x), then ``passes`` cycle-walking steps v <- pi(v) wherever v >= n (branch-free, so a
    ``torch.compile`` of it is one fused loop)."""
    v = feistel(x, rk, h)
    for _ in range(passes):
        v = torch.where(v >= n, feistel(v, rk, h), v)
    return v


def permutation(keys: Tensor, epoch: int, n: int, first_pass: Callable[..., Tensor] = walk) -> Tensor:
    """``[E, n]`` int64: network e's data order of ``epoch``, a permutation of [0, n) by cycle walking:
    position i holds the first of pi(i), pi(pi(i)), ... inside [0, n) (Black & Rogaway 2002).
    ``first_pass(x, rk, h, n)`` starts every position (:func:`walk`, or a compiled walk with a few
    passes); the walks still outside [0, n) then continue on their own."""
    h = feistel_half_bits(n)
    rk = round_keys(keys, epoch)
    v = first_pass(torch.arange(n, device=keys.device).expand(len(keys), n), rk, h, n).contiguous()
    flat = v.view(-1)
    idx = (flat >= n).nonzero()[:, 0]
    while idx.numel():
        w = feistel(flat[idx], [k[idx // n, 0] for k in rk], h)
        flat[idx] = w
        idx = idx[w >= n]
    return v
