"""Ensemble store: bit packing, shard format, resume, concurrency, crash safety, errors."""

from __future__ import annotations

import errno
import json
import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from weightspace.ensemble import store as st
from weightspace.ensemble.store import (
    EnsembleStore,
    StoreError,
    open_store,
    pack,
    rank_quota,
    seed_sequence,
    unpack,
)
from weightspace.ensemble.summary import main as summary_main
from weightspace.ensemble.summary import summarize

ARCH = [5, 3, 2]  # N = 15 + 6 = 21 spins: not a multiple of 8
N = 21
IDENT = {"arch": ARCH, "scenario": "under", "dataset": "mnist"}


def spins_of(seed: int, n: int = N) -> np.ndarray:
    """The configuration a trial with this seed 'finds' (deterministic in the seed)."""
    return (np.random.default_rng(seed).integers(0, 2, n) * 2 - 1).astype(np.int8)


def acc_of(seed: int) -> float:
    return 0.8 + (seed % 31) / 1000


def collect(path: Path, kept: int, *, rank: int = 0, world: int = 1, writer: str = "w",
            shard_size: int = 16, reject_every: int = 4, arch=ARCH) -> None:
    """Run 'trials' until ``kept`` are kept: seeds divisible by ``reject_every`` are rejected."""
    store = open_store(path, arch=arch, scenario="under", dataset="mnist", config={"rank": rank})
    n = store.n_spins
    with store.writer(writer, shard_size=shard_size) as w:
        for seed in seed_sequence(rank, world, skip=store.tried_seeds()):
            if kept == 0:
                break
            if seed % reject_every == 0:
                w.reject(seed)
            else:
                w.add(spins_of(seed, n), acc_of(seed), seed)
                kept -= 1


def assert_consistent(store: EnsembleStore) -> None:
    """Every stored configuration is the one its seed produced, with its accuracy."""
    data = store.load()
    expect = np.stack([spins_of(int(s), store.n_spins) for s in data.seed])
    np.testing.assert_array_equal(data.spins, expect)
    np.testing.assert_allclose(data.acc, [acc_of(int(s)) for s in data.seed], rtol=1e-6)


# ---- bit packing -------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 7, 8, 9, 21, 675])
def test_pack_roundtrip_and_bit_layout(n):
    rng = np.random.default_rng(n)
    x = (rng.integers(0, 2, (13, n)) * 2 - 1).astype(np.int8)
    p = pack(x)
    assert p.dtype == np.uint8 and p.shape == (13, -(-n // 8))
    u = unpack(p, n)
    assert u.dtype == np.int8
    np.testing.assert_array_equal(u, x)
    # independent byte-by-byte construction: spin i is bit 7 - i % 8 of byte i // 8
    for row in range(3):
        bytes_ = [0] * (-(-n // 8))
        for i in range(n):
            if x[row, i] == 1:
                bytes_[i // 8] |= 1 << (7 - i % 8)
        assert p[row].tolist() == bytes_


@pytest.mark.parametrize("shape", [(21,), (0, 21), (4, 3, 9), (5, 675), (2, 16)])
def test_pack_without_axis_gives_the_bytes_of_numpy_packbits_axis(shape):
    # pack/unpack avoid packbits(axis=...) (CuPy lacks it): the bytes of shards written with
    # np.packbits(..., axis=-1) (every shard before) unpack to the same spins and are re-packed identically
    rng = np.random.default_rng(len(shape))
    x = (rng.integers(0, 2, shape) * 2 - 1).astype(np.int8)
    old = np.packbits(x == 1, axis=-1)
    assert pack(x).shape == old.shape and np.array_equal(pack(x), old)
    assert np.array_equal(unpack(old, shape[-1]), x)


def test_pack_rejects_non_spins_and_unpack_wrong_width():
    with pytest.raises(ValueError, match="only \\+1 and -1"):
        pack(np.array([[1, 0, -1]], np.int8))
    with pytest.raises(ValueError, match="n_spins=9 needs 2"):
        unpack(np.zeros((2, 1), np.uint8), 9)


def test_shard_is_one_bit_per_weight_plus_metadata(tmp_path):
    store = open_store(tmp_path / "s", **IDENT)
    with store.writer("w", shard_size=1000) as w:
        for s in range(100):
            w.add(spins_of(s), acc_of(s), s)
        for s in range(100, 107):
            w.reject(s)
    (shard,) = store.shard_paths()
    # 112-byte header + (8 seed + 4 acc) per config + 8 per rejected seed + ceil(21/8) = 3 bytes
    assert shard.stat().st_size == 112 + 12 * 100 + 8 * 7 + 100 * 3
    info = store.shard_info(shard)
    assert (info.count, info.n_rejected, info.writer, info.n_spins) == (100, 7, "w", N)


# ---- seeds, resume ------------------------------------------------------------------------
def test_seed_sequence_and_quota():
    for r in range(3):
        gen = seed_sequence(r, 3, base=10, skip={13, 20})
        drawn = [next(gen) for _ in range(50)]
        assert drawn == [s for s in range(10 + r, 1000, 3) if s not in (13, 20)][:50]
    for total in (0, 1, 7, 600, 601):
        q = [rank_quota(total, r, 4) for r in range(4)]
        assert sum(q) == total and max(q) - min(q) <= 1
    with pytest.raises(ValueError, match="rank=3, world_size=3"):
        next(seed_sequence(3, 3))


def test_append_and_resume_to_target(tmp_path):
    path, target = tmp_path / "ens", 500
    # session 1: interrupted by Ctrl-C after 200 kept; the buffered shard is saved on exit
    store = open_store(path, **IDENT)
    kept = 0
    with pytest.raises(KeyboardInterrupt), store.writer("w", shard_size=64) as w:
        for seed in seed_sequence(0, 1):
            if seed % 4 == 0:
                w.reject(seed)
            else:
                w.add(spins_of(seed), acc_of(seed), seed)
                kept += 1
                if kept == 200:
                    raise KeyboardInterrupt
    assert EnsembleStore(path).count() == 200
    # session 2: resume to the target
    collect(path, EnsembleStore(path).remaining(target))
    store = EnsembleStore(path)
    assert store.count() == target and store.remaining(target) == 0
    rec = store.records()
    kept_expect = [s for s in range(10 * target) if s % 4][:target]
    assert sorted(rec.seed.tolist()) == kept_expect
    assert sorted(rec.rejected.tolist()) == list(range(0, kept_expect[-1], 4))
    assert_consistent(store)
    _, _, problems = store.check()
    assert problems == []


# ---- concurrency --------------------------------------------------------------------------
def _rank_main(path, rank, world, barrier):
    barrier.wait()
    collect(Path(path), rank_quota(600, rank, world), rank=rank, world=world, writer="shell",
            shard_size=25, reject_every=7)


def test_concurrent_writers_never_collide(tmp_path):
    path, world = tmp_path / "ens", 3
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(world)
    procs = [ctx.Process(target=_rank_main, args=(str(path), r, world, barrier))
             for r in range(world)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * world
    store = EnsembleStore(path)
    good, rec, problems = store.check()
    assert problems == [] and store.temp_paths() == []
    assert store.count() == 600 and len(good) == 3 * 8  # 200 kept per rank in shards of 25
    kept = sorted(rec.seed.tolist())
    assert len(set(kept)) == 600
    expect = sorted(s for r in range(world)
                    for s in [t for t in range(r, 10_000, world) if t % 7][:200])
    assert kept == expect
    assert len(set(rec.rejected.tolist()) | set(kept)) == 600 + rec.rejected.size
    assert_consistent(store)


# ---- crash safety -------------------------------------------------------------------------
CHILD = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    from weightspace.ensemble.store import open_store
    path, mode = sys.argv[1], sys.argv[2]
    store = open_store(path, arch=[20, 15, 15, 10], scenario="under", dataset="mnist")
    w = store.writer("kid", shard_size=3000)
    for k in range(40):
        if mode == "hang" and k == 3:
            def hang(*a):
                print("IN_FLIGHT", flush=True)
                time.sleep(60)
            os.replace = hang
        x = np.random.default_rng(k).integers(0, 2, (3000, 675), dtype=np.int8) * 2 - 1
        w.add_batch(x, np.full(3000, 0.8), np.arange(3000 * k, 3000 * (k + 1)))
        print("FLUSHED", k, flush=True)
""")


def _run_child(path: Path, mode: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, str(path), mode],
                            stdout=subprocess.PIPE, text=True)


def _expected_rows(m: int) -> np.ndarray:
    """The first ``m`` rows the child writes (3000 per batch k, drawn from seed k)."""
    return np.concatenate([np.random.default_rng(k).integers(0, 2, (3000, 675), dtype=np.int8)
                           * 2 - 1 for k in range(m // 3000)])


def test_kill9_while_writing_keeps_everything_earlier(tmp_path):
    path = tmp_path / "ens"
    child = _run_child(path, "hang")
    lines = []
    for line in child.stdout:
        lines.append(line.strip())
        if line.startswith("IN_FLIGHT"):
            child.send_signal(signal.SIGKILL)
            break
    child.wait(30)
    child.stdout.close()
    assert child.returncode == -signal.SIGKILL and lines[-1] == "IN_FLIGHT"
    store = EnsembleStore(path)
    (tmp,) = store.temp_paths()  # the complete-but-uncommitted shard in flight
    assert tmp.stat().st_size == 112 + 3000 * (12 + 85)
    assert store.count() == 9000
    data = store.load()
    order = np.argsort(data.seed)
    np.testing.assert_array_equal(data.seed[order], np.arange(9000))
    np.testing.assert_array_equal(data.spins[order], _expected_rows(9000))
    line, problems = summarize(path)
    assert len(problems) == 1 and "1 temp file" in problems[0] and "9000 configs" in line


def test_kill9_at_random_time_leaves_store_readable(tmp_path):
    path = tmp_path / "ens"
    child = _run_child(path, "run")
    assert child.stdout.readline().startswith("FLUSHED 0")
    time.sleep(0.05 + 0.2 * np.random.default_rng().random())
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    child.stdout.close()
    store = EnsembleStore(path)
    good, rec, problems = store.check()  # at most a temp file, never a bad shard
    assert all("temp file" in p for p in problems)
    m = store.count()
    assert m >= 3000 and m % 3000 == 0
    data = store.load()
    np.testing.assert_array_equal(np.sort(data.seed), np.arange(m))
    np.testing.assert_array_equal(data.spins[np.argsort(data.seed)], _expected_rows(m))


def test_full_disk_loses_only_the_shard_in_flight(tmp_path, monkeypatch):
    store = open_store(tmp_path / "s", **IDENT)
    w = store.writer("w", shard_size=10)
    for s in range(10):
        w.add(spins_of(s), acc_of(s), s)
    real_fsync = os.fsync

    def full(fd):
        monkeypatch.setattr(st.os, "fsync", real_fsync)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(st.os, "fsync", full)
    with pytest.raises(StoreError, match="No space left.*free disk space") as err:
        for s in range(10, 20):
            w.add(spins_of(s), acc_of(s), s)
    assert str(tmp_path / "s" / ".tmp-shard-w-") in str(err.value)
    for s in range(20, 25):
        w.add(spins_of(s), acc_of(s), s)
    w.close()
    assert store.temp_paths() == []
    assert sorted(store.records().seed.tolist()) == list(range(10)) + list(range(20, 25))
    assert_consistent(store)


# ---- damaged and foreign files -----------------------------------------------------------
def _three_shards(path: Path) -> EnsembleStore:
    collect(path, 30, shard_size=10, reject_every=1000)
    store = EnsembleStore(path)
    assert len(store.shard_paths()) == 3
    return store


def _assert_named(err: pytest.ExceptionInfo, shard: Path, what: str) -> None:
    msg = str(err.value)
    assert str(shard) in msg and what in msg and "delete or move it aside" in msg
    assert "\n" not in msg


def test_truncated_shard_is_named(tmp_path):
    store = _three_shards(tmp_path / "s")
    bad = store.shard_paths()[1]
    os.truncate(bad, bad.stat().st_size - 5)
    for call in (store.count, store.records, store.load, store.tried_seeds):
        with pytest.raises(StoreError) as err:
            call()
        _assert_named(err, bad, "truncated")
    os.truncate(bad, 50)  # not even a header
    with pytest.raises(StoreError) as err:
        store.count()
    _assert_named(err, bad, "no full header")
    line, problems = summarize(store.path)
    assert "20 configs" in line and len(problems) == 1 and str(bad) in problems[0]
    assert summary_main([str(store.path)]) == 1


def test_corrupted_bits_and_seeds_are_named(tmp_path):
    store = _three_shards(tmp_path / "s")
    bad = store.shard_paths()[2]
    raw = bytearray(bad.read_bytes())
    raw[-1] ^= 0x01  # one flipped weight bit
    bad.write_bytes(bytes(raw))
    assert store.count() == 30  # headers are intact
    with pytest.raises(StoreError) as err:
        list(store.iter_chunks())
    _assert_named(err, bad, "bad checksum in the configuration bits")
    raw[-1] ^= 0x01
    raw[112] ^= 0x01  # first seed
    bad.write_bytes(bytes(raw))
    with pytest.raises(StoreError) as err:
        store.records()
    _assert_named(err, bad, "bad checksum in the seed/accuracy section")
    raw[5] ^= 0x01  # magic
    bad.write_bytes(bytes(raw))
    with pytest.raises(StoreError) as err:
        store.count()
    _assert_named(err, bad, "bad magic")


def test_shard_from_another_architecture_or_store_is_named(tmp_path):
    store = _three_shards(tmp_path / "a")
    collect(tmp_path / "b", 5, arch=[4, 4, 2])  # N = 24
    foreign = tmp_path / "a" / EnsembleStore(tmp_path / "b").shard_paths()[0].name
    shutil.copy(EnsembleStore(tmp_path / "b").shard_paths()[0], foreign)
    with pytest.raises(StoreError) as err:
        store.count()
    _assert_named(err, foreign, "N=24 spins but the store has N=21 (another architecture)")
    foreign.unlink()
    other = open_store(tmp_path / "c", arch=ARCH, scenario="under", dataset="fashion")
    with other.writer("x") as w:
        w.add(spins_of(1), 0.9, 1)
    foreign = tmp_path / "a" / other.shard_paths()[0].name
    shutil.copy(other.shard_paths()[0], foreign)
    with pytest.raises(StoreError) as err:
        store.count()
    _assert_named(err, foreign, "another store")


def test_metadata_written_once_and_checked(tmp_path):
    path = tmp_path / "s"
    store = open_store(path, **IDENT, config={"lr": 0.3})
    assert store.meta["version"] == st.__version__ and store.meta["config"] == {"lr": 0.3}
    assert store.meta["n_spins"] == N
    open_store(path, **IDENT, config={"lr": 0.1})  # same identity, other config: fine
    assert EnsembleStore(path).meta["config"] == {"lr": 0.3}  # written once
    with pytest.raises(StoreError) as err:
        open_store(path, arch=[5, 4, 2], scenario="under", dataset="mnist")
    msg = str(err.value)
    assert str(path) in msg and "mismatching keys: arch)" in msg and "\n" not in msg
    with pytest.raises(StoreError, match="mismatching keys: scenario, dataset"):
        open_store(path, arch=ARCH, scenario="over", dataset="fashion")
    # the store's identity changed under a running writer: the next flush refuses
    w = store.writer("w")
    w.add(spins_of(0), 0.8, 0)
    (path / "store.json").unlink()
    open_store(path, arch=ARCH, scenario="shallow", dataset="mnist")
    with pytest.raises(StoreError, match="mismatching keys: scenario"):
        w.flush()
    (path / "store.json").write_text("{not json")
    with pytest.raises(StoreError, match="unreadable store metadata"):
        EnsembleStore(path)
    with pytest.raises(StoreError, match="not an ensemble store"):
        EnsembleStore(tmp_path)


def test_stream_version_recorded_other_versions_refused_for_appending_but_readable(tmp_path):
    from weightspace.streams import VERSION

    path = tmp_path / "s"
    collect(path, 5)
    assert EnsembleStore(path).meta["stream_version"] == VERSION == EnsembleStore(path).stream_version
    # a store written before stream versions were recorded (version 1): readable, not appendable
    meta = json.loads((path / "store.json").read_text())
    del meta["stream_version"]
    (path / "store.json").write_text(json.dumps(meta))
    old = EnsembleStore(path)
    assert old.stream_version == 1 and old.load().spins.shape == (5, N)
    with pytest.raises(StoreError) as err:
        open_store(path, **IDENT)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and "random-stream version 1" in msg and f"version {VERSION}" in msg
    assert "collect.store=" in msg and "stays readable" in msg
    open_store(tmp_path / "later", **IDENT, stream_version=VERSION + 1)  # e.g. written by a later version
    with pytest.raises(StoreError, match=f"random-stream version {VERSION + 1}"):
        open_store(tmp_path / "later", **IDENT)


def test_writer_rejects_bad_input(tmp_path):
    store = open_store(tmp_path / "s", **IDENT)
    w = store.writer("w")
    with pytest.raises(ValueError, match="writer_id='a b'"):
        store.writer("a b")
    with pytest.raises(ValueError, match=r"expected \(B, 21\)"):
        w.add(np.ones(20, np.int8), 0.8, 0)
    w.add(spins_of(3), 0.8, 3)
    with pytest.raises(ValueError, match=r"seed\(s\) \[3\] recorded twice"):
        w.reject(3)
    with pytest.raises(ValueError, match=r"seed\(s\) \[5\] recorded twice"):
        w.add_batch(np.stack([spins_of(5)] * 2), [0.8, 0.8], [5, 5])


def test_writer_flushes_by_size_and_age(tmp_path):
    store = open_store(tmp_path / "s", **IDENT)
    with store.writer("size", shard_size=4) as w:
        for s in range(10):
            w.add(spins_of(s), acc_of(s), s)
        assert w.n_written == 8 and len(w.shards_written) == 2  # 2 left in the buffer
    assert [store.shard_info(p).count for p in w.shards_written] == [4, 4, 2]
    with store.writer("age", shard_size=1000, flush_every_s=0.0) as v:
        v.add(spins_of(10), 0.8, 10)
        v.reject(11)
        assert len(v.shards_written) == 2  # an old buffer is flushed at once
    assert store.count() == 11 and store.records().rejected.tolist() == [11]


# ---- reading -----------------------------------------------------------------------------
def test_streaming_reader_chunks_ranges_and_order(tmp_path):
    path = tmp_path / "s"
    collect(path, 60, writer="b", shard_size=17)
    collect(path, 45, rank=1, world=2, writer="a", shard_size=20)
    store = EnsembleStore(path)
    shards = store.shard_infos()
    assert [s.path for s in shards] == sorted(s.path for s in shards)
    assert [s.writer for s in shards][0] == "a"  # sorted names: writer a first
    full = store.load()
    assert full.spins.shape == (105, N)
    assert_consistent(store)
    np.testing.assert_array_equal(full.seed, store.records(shards).seed)
    a, b = 11, 20  # starts inside the second byte
    chunks = list(store.iter_chunks(7, spins=(a, b), shards=shards))
    assert max(len(c.seed) for c in chunks) == 7
    np.testing.assert_array_equal(np.concatenate([c.spins for c in chunks]), full.spins[:, a:b])
    np.testing.assert_array_equal(np.concatenate([c.seed for c in chunks]), full.seed)
    packed = np.concatenate([c.spins for c in store.iter_chunks(7, spins=(a, b), packed=True)])
    np.testing.assert_array_equal(unpack(packed, b - a), full.spins[:, a:b])
    whole = np.concatenate([c.spins for c in store.iter_chunks(packed=True)])
    np.testing.assert_array_equal(unpack(whole, N), full.spins)
    head = store.load(spins=(a, b), limit=50)
    np.testing.assert_array_equal(head.spins, full.spins[:50, a:b])
    np.testing.assert_array_equal(head.seed, full.seed[:50])
    with pytest.raises(ValueError, match="spins=\\(5, 22\\)"):
        next(store.iter_chunks(spins=(5, 22)))


def test_summary_cli(tmp_path):
    path = tmp_path / "s"
    collect(path, 40, shard_size=16, reject_every=4)
    rec = EnsembleStore(path).records()
    out = subprocess.run([sys.executable, "-m", "weightspace.ensemble.summary", str(path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    line = out.stdout.strip()
    assert "\n" not in line and "40 configs, N=21 (arch 5-3-2" in line
    acc = rec.acc.astype(float)
    assert f"acc min/mean/max {acc.min():.4f}/{acc.mean():.4f}/{acc.max():.4f}" in line
    r = len(range(0, 53, 4))  # 40 kept seeds are the non-multiples of 4 below 54
    assert rec.rejected.size == r
    assert f"trials {40 + r}, rejected {r} ({r / (40 + r):.1%})" in line
    assert "3 shards, 1 writers | problems: none" in line
    assert summary_main([str(tmp_path / "nothing")]) == 2


@pytest.mark.slow
def test_speed_100k_by_675(tmp_path):
    rng = np.random.default_rng(0)
    x = (rng.integers(0, 2, (100_000, 675), dtype=np.int8) * 2 - 1).astype(np.int8)
    store = open_store(tmp_path / "s", arch=[20, 15, 15, 10], scenario="under", dataset="mnist")
    t0 = time.perf_counter()
    with store.writer("w", shard_size=10_000) as w:
        for k in range(0, 100_000, 10_000):
            w.add_batch(x[k : k + 10_000], np.full(10_000, 0.81), np.arange(k, k + 10_000))
    t_write = time.perf_counter() - t0
    t0 = time.perf_counter()
    data = store.load()
    t_read = time.perf_counter() - t0
    np.testing.assert_array_equal(data.spins, x)
    assert t_write < 2.0 and t_read < 2.0, (t_write, t_read)
