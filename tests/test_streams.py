"""Counter-based streams (weightspace.streams): Random123 known answers, a NumPy reference of the
same algorithms (uint64 arithmetic, written independently), distributions, and CPU vs CUDA."""

import math

import numpy as np
import pytest
import torch

from weightspace import streams
from weightspace.nets.batches import EnsembleBatches, epoch_orders, step_noise
from weightspace.streams import NOISE, ORDER, SAMPLE, normals, permutation, philox4x32, seed_keys, uniforms, words

M32 = np.uint64(0xFFFFFFFF)

# Random123 tests/kat_vectors, the "philox4x32 7" and "philox4x32 10" lines: counter (4), key (2), expected (4)
KAT = [
    (7, (0, 0, 0, 0), (0, 0), (0x5F6FB709, 0x0D893F64, 0x4F121F81, 0x4F730A48)),
    (7, (0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x5207DDC2, 0x45165E59, 0x4D8EE751, 0x8C52F662)),
    (
        7,
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0x4DFCCABA, 0x190A87F0, 0xC47362BA, 0xB6B5242A),
    ),
    (10, (0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    (10, (0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        10,
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


def np_philox(ctr: np.ndarray, key: np.ndarray, rounds: int = streams.PHILOX_ROUNDS) -> np.ndarray:
    """Reference Philox-4x32-R on uint64 arrays: ``ctr [..., 4]``, ``key [..., 2]`` -> ``[..., 4]``;
    key schedule written as 'bump before rounds 2..R' (Random123's order)."""
    c = [ctr[..., i].astype(np.uint64) for i in range(4)]
    k = [key[..., i].astype(np.uint64) for i in range(2)]
    for r in range(rounds):
        if r > 0:
            k = [(k[0] + np.uint64(0x9E3779B9)) & M32, (k[1] + np.uint64(0xBB67AE85)) & M32]
        prod0 = np.uint64(0xD2511F53) * c[0]  # < 2^64: exact in uint64
        prod1 = np.uint64(0xCD9E8D57) * c[2]
        hi0, lo0 = prod0 >> np.uint64(32), prod0 & M32
        hi1, lo1 = prod1 >> np.uint64(32), prod1 & M32
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0]
    return np.stack(c, -1)


def np_words(seeds, purpose: int, a: int, b: int, n: int) -> np.ndarray:
    s = np.asarray(seeds, np.uint64)
    q = np.arange((n + 3) // 4, dtype=np.uint64)
    ctr = np.stack(np.broadcast_arrays(q, np.uint64(a), np.uint64(b), np.uint64(purpose)), -1)
    key = np.stack([s & M32, s >> np.uint64(32)], -1)
    out = np_philox(ctr[None], key[:, None])  # [E, nq, 4]
    return out.reshape(len(s), -1)[:, :n]


def np_normals(seeds, purpose: int, a: int, b: int, n: int) -> np.ndarray:
    w = np_words(seeds, purpose, a, b, 4 * ((n + 3) // 4)).reshape(len(seeds), -1, 2)
    u1 = ((w[..., 0] >> np.uint64(8)) + np.uint64(1)).astype(np.float64) * 2.0**-24
    u2 = (w[..., 1] >> np.uint64(8)).astype(np.float64) * 2.0**-24
    r = np.sqrt(-2.0 * np.log(u1))
    return np.stack([r * np.cos(2 * np.pi * u2), r * np.sin(2 * np.pi * u2)], -1).reshape(len(seeds), -1)[:, :n]


def np_lowbias32(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> np.uint64(16))
    x = (x * np.uint64(0x7FEB352D)) & M32
    x = x ^ (x >> np.uint64(15))
    x = (x * np.uint64(0x846CA68B)) & M32
    return x ^ (x >> np.uint64(16))


def np_permutation(seed: int, epoch: int, n: int) -> np.ndarray:
    """Cycle-walking 4-round Feistel permutation of [0, n), one element at a time."""
    h = 1
    while 4**h < n:
        h += 1
    rk = np_words([seed], ORDER, epoch, 0, 4)[0]
    mask = np.uint64((1 << h) - 1)

    def pi(x: np.uint64) -> np.uint64:
        left, right = x >> np.uint64(h), x & mask
        for k in rk:
            left, right = right, left ^ (np_lowbias32(right ^ k) & mask)
        return (left << np.uint64(h)) | right

    out = []
    for i in range(n):
        v = pi(np.uint64(i))
        while v >= n:
            v = pi(v)
        out.append(int(v))
    return np.array(out)


@pytest.mark.parametrize("rounds,ctr,key,want", KAT)
def test_philox_known_answers(rounds, ctr, key, want):
    t = [torch.tensor(v, dtype=torch.int64) for v in (*ctr, *key)]
    assert [int(v) for v in philox4x32(t[:4], t[4:], rounds)] == list(want)
    assert np_philox(np.array(ctr, np.uint64), np.array(key, np.uint64), rounds).tolist() == list(want)
    if rounds == streams.PHILOX_ROUNDS:  # the streams' own cipher
        assert [int(v) for v in philox4x32(t[:4], t[4:])] == list(want)


def test_words_uniforms_normals_match_numpy_reference():
    seeds = [0, 1, 7, 2**40 + 3, 2**63 - 1]  # keys use both 32-bit halves of the seed
    keys = seed_keys(seeds)
    for purpose, a, b, n in ((NOISE, 0, 0, 37), (NOISE, 14_999, 0, 400), (SAMPLE, 9, 0, 675), (ORDER, 3, 2, 4)):
        w = np_words(seeds, purpose, a, b, n)
        assert np.array_equal(words(keys, purpose, a, b, n).numpy(), w.astype(np.int64))
        u = uniforms(keys, purpose, a, b, n).numpy()
        assert np.array_equal(u, ((w >> np.uint64(8)).astype(np.float64) * 2.0**-24).astype(np.float32))
        z = normals(keys, purpose, a, b, n).numpy()
        np.testing.assert_allclose(z, np_normals(seeds, purpose, a, b, n), rtol=2e-6, atol=2e-6)
    # a tensor counter (as in the compiled step) gives the same stream as an int
    assert torch.equal(normals(keys, NOISE, torch.tensor(5), 0, 50), normals(keys, NOISE, 5, 0, 50))


def test_permutations_match_numpy_reference_and_are_bijections():
    for n in (1, 2, 3, 5, 200, 500, 1000):
        p = permutation(seed_keys([3, 11]), 4, n)
        assert np.array_equal(p[0].numpy(), np_permutation(3, 4, n))
        assert np.array_equal(p[1].numpy(), np_permutation(11, 4, n))
        assert torch.equal(p.sort(1).values, torch.arange(n).expand(2, n))
    big = epoch_orders(seed_keys([5, 6]), 60_000, 0, compile=False)
    assert torch.equal(big.sort(1).values, torch.arange(60_000).expand(2, 60_000))
    assert not torch.equal(big[0], big[1]) and not torch.equal(big[0], epoch_orders(seed_keys([5]), 60_000, 1)[0])


def test_normal_and_uniform_moments():
    # 400 000 draws: standard errors of mean 0.0016, variance 0.0022, 4th moment 0.011
    z = normals(seed_keys(range(8)), NOISE, 0, 0, 50_000).double().flatten()
    assert abs(z.mean()) < 0.007 and abs(z.var() - 1) < 0.01 and abs((z**4).mean() - 3) < 0.05
    assert abs((z > 1.0).double().mean() - 0.5 * math.erfc(1 / math.sqrt(2))) < 0.003
    u = uniforms(seed_keys(range(8)), SAMPLE, 0, 0, 50_000).double().flatten()
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.002 and abs(u.var() - 1 / 12) < 0.001
    # successive normals of one stream are uncorrelated (also across the Box-Muller pair)
    zz = normals(seed_keys([1]), NOISE, 0, 0, 200_000).double()[0]
    assert abs((zz[1:] * zz[:-1]).mean()) < 0.01


def test_streams_depend_on_own_seed_only():
    a, b = (
        step_noise(seed_keys([7, 8]), 3, 20, [15, 15, 10], torch.float32),
        step_noise(seed_keys([8]), 3, 20, [15, 15, 10], torch.float32),
    )
    assert all(torch.equal(u[1], v[0]) for u, v in zip(a, b, strict=True))
    assert not torch.equal(a[0][0], a[0][1])
    assert not torch.equal(step_noise(seed_keys([8]), 4, 20, [15, 15, 10], torch.float32)[0], b[0])
    x, y = torch.randn(100, 20), torch.randint(0, 10, (100,))
    o1 = next(iter(EnsembleBatches(x, y, [1, 2], 10)))[1]
    o2 = next(iter(EnsembleBatches(x, y, [1, 3], 10)))[1]
    assert torch.equal(o1[0], o2[0]) and not torch.equal(o1[1], o2[1])


@pytest.mark.slow  # torch.compile: ~15-40 s
def test_compiled_full_pass_gives_the_same_orders():
    keys = seed_keys([2, 9])
    assert torch.equal(epoch_orders(keys, 3000, 1, compile=True), epoch_orders(keys, 3000, 1, compile=False))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_streams_equal_cpu_streams():
    seeds = [0, 5, 2**40 + 1]
    cpu, gpu = seed_keys(seeds), seed_keys(seeds, "cuda")
    assert torch.equal(words(gpu, NOISE, 11, 0, 10_001).cpu(), words(cpu, NOISE, 11, 0, 10_001))
    assert torch.equal(uniforms(gpu, SAMPLE, 2, 0, 675).cpu(), uniforms(cpu, SAMPLE, 2, 0, 675))
    assert torch.equal(permutation(gpu, 3, 60_000).cpu(), permutation(cpu, 3, 60_000))
    assert torch.equal(epoch_orders(gpu, 60_000, 3, compile=True).cpu(), permutation(cpu, 3, 60_000))
    zc, zg = normals(cpu, NOISE, 11, 0, 10_001), normals(gpu, NOISE, 11, 0, 10_001).cpu()
    torch.testing.assert_close(zg, zc, rtol=2e-6, atol=2e-6)  # float32 log/sin/cos: last-bit differences at most
    eq = (zg == zc).double().mean().item()
    assert eq > 0.9, f"only {eq:.1%} of the normals are bit-identical"
