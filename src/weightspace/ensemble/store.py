"""Crash-safe, bit-packed, multi-writer store of weight configurations (docs/design.md §3.2, §4, §5).

A store is a directory::

    store.json                     identity + provenance, written once (atomic create)
    shard-<writer>-p<pid>-<k>-<rand>.wsh   append-only shards, one file per flush
    .tmp-shard-...                 a shard being written (or left by a killed writer)
    damaged/                       shards set aside as damaged on resume (never read)

**Store metadata** (``store.json``): ``arch`` (layer widths), ``n_spins``, ``scenario``,
``dataset``, ``version`` (``weightspace.__version__``), ``stream_version`` (the version of the
random streams the trials were drawn with, :mod:`weightspace.streams`; absent = 1), ``config``
(the run config as a dict), ``created``. It is created once with write-temp + ``os.link`` (atomic, fails if it
exists), so concurrent first writers agree on one file. Every :func:`open_store` and every
shard flush re-checks ``arch``/``scenario``/``dataset`` and raises a one-line
:class:`StoreError` naming the store and the mismatching keys; :func:`open_store` (appending)
also refuses a store of another ``stream_version``, whose seeds would re-derive other
configurations. Reading (:class:`EnsembleStore`) accepts every stream version.

**Shard format** (little-endian, format version 1)::

    header (112 bytes): magic b"WSENSHRD", version u32, n_spins u32, count u64,
        n_rejected u64, store_id u32 (CRC32 of the identity arch/scenario/dataset),
        crc_meta u32, crc_bits u32, writer id (64 bytes, NUL-padded), crc_header u32
    seed     int64[count]        trial seed of each kept configuration
    rejected int64[n_rejected]   seeds of the trials this writer ran and rejected
    acc      float32[count]      test accuracy of each kept configuration
    bits     uint8[count, ceil(n_spins / 8)]   numpy.packbits, +1 -> 1, -1 -> 0

``crc_meta`` covers seed+rejected+acc, ``crc_bits`` the bits; the file size is implied by
the header, so truncation is caught from the header alone. Trials run by a shard's
writer = count + n_rejected. Storage is 1 bit per weight plus 12 bytes per configuration.

**Atomicity**: a writer buffers configurations (already packed) and flushes a shard by
writing ``.tmp-<name>`` in the store directory, ``fsync``, ``os.replace`` to ``<name>``,
then ``fsync`` of the directory. Names carry writer id, pid, a counter and a random
suffix, so DDP ranks, array tasks or two shells never collide. Ctrl-C or ``kill -9``
loses at most the buffered shard; temp files are never read (``check`` reports them).
(SIGTERM, e.g. from SLURM, kills Python without cleanup unless the caller turns it into
an exception; leaving the writer's ``with`` block by any exception flushes the buffer.)
A truncated or foreign shard (bad magic, other N, other store, bad checksum) raises
:class:`StoreError` naming the file; nothing is read silently. Damage (truncation, bad magic or
checksum, unreadable) is a :class:`DamagedShardError`: a resumed collection verifies every shard
and moves damaged ones to ``damaged/`` (:meth:`EnsembleStore.set_aside_damaged`), so their trials
run again; an intact foreign shard is never moved. When no shard matches store.json but the
shards agree with each other, the error names store.json (edited or damaged) instead.

**Seeds and resume**: writer ``rank`` of ``world_size`` draws seeds
``base + rank + k * world_size`` (:func:`seed_sequence`) skipping every seed already
tried (:meth:`EnsembleStore.tried_seeds`: kept *and* rejected ones), and produces its
share :func:`rank_quota` of :meth:`EnsembleStore.remaining`.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import secrets
import struct
import tempfile
import time
import warnings
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from weightspace import __version__
from weightspace.backend import array_module
from weightspace.errors import DamagedShardError, StoreError
from weightspace.nets.spins import n_spins as arch_n_spins

MAGIC = b"WSENSHRD"
FORMAT_VERSION = 1
META_NAME = "store.json"
SHARD_PREFIX = "shard-"
SHARD_SUFFIX = ".wsh"
TMP_PREFIX = ".tmp-"
DAMAGED_DIR = "damaged"
IDENTITY_KEYS = ("arch", "scenario", "dataset")
_HEADER = struct.Struct("<8sIIQQIII64sI")
_WRITER_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_FIX = (
    "delete or move it aside (the other shards are intact; resuming the collection moves it to "
    f"{DAMAGED_DIR}/ and reruns its trials)"
)

def pack(configs: Any) -> Any:
    """Bit-pack ±1 spins along the last axis: +1 -> 1, -1 -> 0 (numpy.packbits, big bit order).

    Shape ``(..., N)`` -> uint8 ``(..., ceil(N/8))``; spin i is bit ``7 - i % 8`` of byte
    ``i // 8``. Works on NumPy and CuPy arrays (rows padded to whole bytes, then the flattened
    ``packbits``, which CuPy has; it lacks ``axis``); entries other than ±1 raise ValueError.
    """
    xp = array_module(configs)
    up = configs == 1
    n_ok = int(xp.count_nonzero(up)) + int(xp.count_nonzero(configs == -1))
    if n_ok != configs.size:
        raise ValueError("pack: configurations must contain only +1 and -1 spins")
    lead, n = up.shape[:-1], up.shape[-1]
    pad = -n % 8
    if pad:
        up = xp.concatenate([up, xp.zeros((*lead, pad), dtype=bool)], axis=-1)
    return xp.packbits(up.reshape(-1)).reshape(*lead, (n + pad) // 8)


def unpack(packed: Any, n_spins: int) -> Any:
    """Inverse of :func:`pack`: uint8 ``(..., ceil(N/8))`` -> int8 ±1 ``(..., N)``."""
    xp = array_module(packed)
    if packed.shape[-1] != -(-n_spins // 8):
        raise ValueError(
            f"unpack: last axis has {packed.shape[-1]} bytes but n_spins={n_spins} "
            f"needs {-(-n_spins // 8)}"
        )
    lead = packed.shape[:-1]
    bits = xp.unpackbits(packed.reshape(-1)).reshape(*lead, 8 * packed.shape[-1])[..., :n_spins]
    return bits.astype(xp.int8) * 2 - 1


def seed_sequence(
    rank: int, world_size: int, *, base: int = 0, skip: Iterable[int] = ()
) -> Iterator[int]:
    """Seeds ``base + rank + k * world_size`` (k = 0, 1, ...) that are not in ``skip``.

    Disjoint across ranks of one run; pass ``skip = store.tried_seeds()`` on resume so
    neither kept nor rejected trials are repeated (also after a change of world size).
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank={rank}, world_size={world_size}: need 0 <= rank < world_size")
    done = {int(s) for s in skip}
    seed = base + rank
    while True:
        if seed not in done:
            yield seed
        seed += world_size


def rank_quota(total: int, rank: int, world_size: int) -> int:
    """Share of ``total`` new configurations for ``rank``: the shares sum to ``total``."""
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank={rank}, world_size={world_size}: need 0 <= rank < world_size")
    total = max(int(total), 0)
    return total // world_size + (rank < total % world_size)


@dataclass(frozen=True)
class ShardInfo:
    """Validated header of one shard file."""

    path: Path
    writer: str
    n_spins: int
    count: int
    n_rejected: int
    crc_meta: int
    crc_bits: int

    @property
    def n_bytes(self) -> int:
        """Bytes per packed configuration."""
        return -(-self.n_spins // 8)

    @property
    def meta_size(self) -> int:
        return 12 * self.count + 8 * self.n_rejected

    @property
    def file_size(self) -> int:
        return _HEADER.size + self.meta_size + self.count * self.n_bytes


class Records(NamedTuple):
    """Per-configuration metadata of a store, in reading order, plus the rejected seeds."""

    seed: np.ndarray  # int64 (M,)
    acc: np.ndarray  # float32 (M,)
    rejected: np.ndarray  # int64 (R,)


class Chunk(NamedTuple):
    """Consecutive configurations: ``spins`` int8 ±1 (B, n) or packed uint8, ``acc``, ``seed``."""

    spins: np.ndarray
    acc: np.ndarray
    seed: np.ndarray


def _join_records(parts: list[Records]) -> Records:
    return Records(
        np.concatenate([np.zeros(0, np.int64), *(p.seed for p in parts)]),
        np.concatenate([np.zeros(0, np.float32), *(p.acc for p in parts)]),
        np.concatenate([np.zeros(0, np.int64), *(p.rejected for p in parts)]),
    )


def _sorted_counts(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values of ``a`` and their multiplicities (np.unique via one sort:
    NumPy 2.4's np.unique takes ~8 s on 2e6 int64, this ~0.3 s)."""
    s = np.sort(a)
    starts = np.flatnonzero(np.concatenate([s[:1] == s[:1], s[1:] != s[:-1]]))
    return s[starts], np.diff(np.append(starts, s.size))


def _identity(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: meta[k] for k in IDENTITY_KEYS}


def _store_id(meta: dict[str, Any]) -> int:
    return zlib.crc32(json.dumps(_identity(meta), sort_keys=True).encode())


def _identity_from_config(meta: dict[str, Any]) -> dict[str, Any] | None:
    """The identity the run config recorded in store.json implies (None if it does not say)."""
    cfg = meta.get("config") or {}
    try:
        dataset = str(cfg["dataset"]["name"]) + ("_parity" if cfg.get("labels") == "parity" else "")
        return {"arch": [int(w) for w in cfg["arch"]["widths"]], "scenario": str(cfg["scenario"]["name"]),
                "dataset": dataset}
    except (KeyError, TypeError, ValueError):
        return None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_advice(err: OSError, where: Path) -> str:
    """What to do about a failed write, by its cause."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return "free disk space"
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"make {where} writable"
    return f"check {where}"


def check_writable(path: Path, option: str) -> None:
    """Raise StoreError unless files can be created in the directory ``path`` (or, if it does not
    exist yet, in its nearest existing parent, where it would be created): a real probe file, so
    read-only mounts and ACLs count too. ``option`` names the setting that chose ``path``."""
    path = Path(path)
    probe_dir = path
    while not probe_dir.exists():
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir():
        raise StoreError(f"{option}={path}: {probe_dir} is a file, not a directory; choose another {option}")
    try:
        fd, name = tempfile.mkstemp(prefix=f"{TMP_PREFIX}probe-", dir=probe_dir)
        os.close(fd)
        os.unlink(name)
    except OSError as e:
        raise StoreError(
            f"{option}={path}: cannot create files in {probe_dir} ({e.strerror}); "
            f"{write_advice(e, probe_dir)} or choose another {option}"
        ) from None


def _read_meta(path: Path) -> dict[str, Any]:
    meta_path = path / META_NAME
    if not meta_path.is_file():
        raise StoreError(
            f"{path}: not an ensemble store (no {META_NAME}); check the path, "
            "or create the store by running the collection (open_store)"
        )
    try:
        meta = json.loads(meta_path.read_text())
        missing = [k for k in (*IDENTITY_KEYS, "n_spins", "format_version") if k not in meta]
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as e:
        raise StoreError(f"{meta_path}: unreadable store metadata ({e}); restore the file") from e
    if missing:
        raise StoreError(f"{meta_path}: store metadata lacks keys {missing}; restore the file")
    if meta["format_version"] != FORMAT_VERSION:
        raise StoreError(
            f"{meta_path}: store format version {meta['format_version']}, this code reads "
            f"{FORMAT_VERSION}; use the matching weightspace version"
        )
    return meta


def _check_identity(path: Path, stored: dict[str, Any], wanted: dict[str, Any]) -> None:
    bad = [k for k in IDENTITY_KEYS if stored[k] != wanted[k]]
    if bad:
        have = ", ".join(f"{k}={stored[k]!r}" for k in bad)
        want = ", ".join(f"{k}={wanted[k]!r}" for k in bad)
        recorded = _identity_from_config(stored)
        if recorded is not None and any(recorded[k] != stored[k] for k in IDENTITY_KEYS):
            own = ", ".join(f"{k}={recorded[k]!r}" for k in IDENTITY_KEYS if recorded[k] != stored[k])
            raise StoreError(
                f"{path / META_NAME}: says {have} but the run config recorded in it says {own}: "
                "store.json was likely edited or damaged; restore it (the shards are not the problem)"
            )
        raise StoreError(
            f"{path}: store holds {have} but this run has {want} (mismatching keys: "
            f"{', '.join(bad)}); use another store path or the store's config"
        )


def open_store(
    path: str | os.PathLike[str],
    *,
    arch: Sequence[int],
    scenario: str,
    dataset: str,
    config: dict[str, Any] | None = None,
    stream_version: int | None = None,
) -> EnsembleStore:
    """Create the store at ``path`` (metadata written once) or open it for appending and check it.

    ``arch`` are the layer widths (N = sum N_l N_{l-1} spins), ``config`` the run config as a
    plain dict (provenance only), ``stream_version`` the random streams the new trials use (default:
    this code's, ``weightspace.streams.VERSION``). A store with another arch/scenario/dataset or
    another stream version raises StoreError.
    """
    if stream_version is None:
        from weightspace.streams import VERSION as stream_version  # torch: writers only
    path = Path(path)
    meta = {
        "format_version": FORMAT_VERSION,
        "arch": [int(w) for w in arch],
        "n_spins": arch_n_spins(arch),
        "scenario": str(scenario),
        "dataset": str(dataset),
        "version": __version__,
        "stream_version": int(stream_version),
        "config": config or {},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    path.mkdir(parents=True, exist_ok=True)
    meta_path = path / META_NAME
    if not meta_path.exists():
        tmp = path / f"{TMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}-{META_NAME}"
        with open(tmp, "x") as f:
            json.dump(meta, f, indent=1, sort_keys=True, default=str)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, meta_path)  # atomic create-if-absent: one concurrent creator wins
            _fsync_dir(path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    store = EnsembleStore(path)
    _check_identity(path, store.meta, meta)
    if store.stream_version != meta["stream_version"]:
        raise StoreError(
            f"{path}: its trials were drawn with random-stream version {store.stream_version}, this code "
            f"draws version {meta['stream_version']} (its seeds would give other configurations); collect "
            "into a new store (collect.store=...); this one stays readable by fit_ising.py and landscape.py"
        )
    if store.meta.get("version") != __version__:
        warnings.warn(
            f"{path}: store written by weightspace {store.meta.get('version')}, "
            f"appending with {__version__}",
            stacklevel=2,
        )
    return store


class EnsembleStore:
    """Read access to a store directory (see the module docstring for the layout).

    Reading order is the sorted shard names; methods accepting ``shards`` take a list from
    :meth:`shard_infos` so that several reads see one snapshot while writers keep adding.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.meta = _read_meta(self.path)
        self.n_spins = int(self.meta["n_spins"])
        self.store_id = _store_id(self.meta)
        self.stream_version = int(self.meta.get("stream_version", 1))

    def __repr__(self) -> str:
        return f"EnsembleStore({str(self.path)!r}, n_spins={self.n_spins})"

    # ---- listing -----------------------------------------------------------------------
    def shard_paths(self) -> list[Path]:
        """Final shard files, sorted by name (the reading order)."""
        return sorted(p for p in self.path.glob(f"{SHARD_PREFIX}*{SHARD_SUFFIX}") if p.is_file())

    def temp_paths(self) -> list[Path]:
        """Temp files: shards in flight, or left by a killed writer (never read)."""
        return sorted(self.path.glob(f"{TMP_PREFIX}*"))

    def shard_info(self, path: Path) -> ShardInfo:
        """Read and validate one shard header (magic, version, N, store, header CRC, size).

        Damage (unreadable, truncated, bad magic or checksum) raises DamagedShardError; an intact
        shard of another store, architecture or format version raises StoreError."""
        try:
            with open(path, "rb") as f:
                raw = f.read(_HEADER.size)
                size = os.fstat(f.fileno()).st_size
        except OSError as e:
            raise DamagedShardError(f"{path}: unreadable shard ({e.strerror}); {_FIX}") from e
        if len(raw) < _HEADER.size:
            raise DamagedShardError(f"{path}: truncated shard ({size} bytes, no full header); {_FIX}")
        magic, version, n, count, n_rej, sid, crc_m, crc_b, writer, crc_h = _HEADER.unpack(raw)
        if magic != MAGIC:
            raise DamagedShardError(f"{path}: not a weightspace shard (bad magic); {_FIX}")
        if zlib.crc32(raw[:-4]) != crc_h:
            raise DamagedShardError(f"{path}: corrupt shard header (bad checksum); {_FIX}")
        if version != FORMAT_VERSION:
            raise StoreError(
                f"{path}: shard format version {version}, this code reads {FORMAT_VERSION}; {_FIX}"
            )
        if n != self.n_spins:
            raise StoreError(
                f"{path}: shard holds N={n} spins but the store has N={self.n_spins} "
                f"(another architecture); {_FIX}"
            )
        if sid != self.store_id:
            raise StoreError(self._foreign_shard(path, sid))
        info = ShardInfo(path, writer.rstrip(b"\0").decode(), n, count, n_rej, crc_m, crc_b)
        if size != info.file_size:
            raise DamagedShardError(
                f"{path}: truncated or damaged shard ({size} bytes, header says "
                f"{info.file_size}); {_FIX}"
            )
        return info

    def _foreign_shard(self, path: Path, sid: int) -> str:
        """Message for a shard whose identity checksum differs from store.json's: which of the two
        files is the odd one out (when every shard agrees with the others, it is store.json)."""
        meta_path = self.path / META_NAME
        ids = []
        for p in self.shard_paths():
            try:
                with open(p, "rb") as f:
                    raw = f.read(_HEADER.size)
                ids.append(_HEADER.unpack(raw)[5] if len(raw) == _HEADER.size else None)
            except OSError:
                ids.append(None)
        n_match = sum(i == self.store_id for i in ids)
        n_same = sum(i == sid for i in ids)
        if n_match == 0 and n_same > 1:
            hint = ""
            recorded = _identity_from_config(self.meta)
            if recorded is not None and _store_id(recorded) == sid:
                fix = ", ".join(f"{k}={recorded[k]!r}" for k in IDENTITY_KEYS if recorded[k] != self.meta[k])
                hint = f" (its own config and every shard say {fix})"
            return (
                f"{meta_path}: none of the {len(ids)} shards matches its arch/scenario/dataset "
                f"({', '.join(f'{k}={self.meta[k]!r}' for k in IDENTITY_KEYS)}), while {n_same} agree "
                f"with each other: store.json was likely edited or damaged{hint}; restore it and keep "
                "the shards"
            )
        return (
            f"{path}: shard belongs to another store (its arch/scenario/dataset differ from "
            f"{meta_path}, which {n_match} of the {len(ids)} shards match); {_FIX}"
        )

    def shard_infos(self) -> list[ShardInfo]:
        """Validated headers of all shards in reading order (raises on the first bad one)."""
        return [self.shard_info(p) for p in self.shard_paths()]

    def digest(self, shards: Sequence[ShardInfo] | None = None) -> str:
        """SHA-256 (hex) of ``store.json`` and of each shard's name and header (all complete shards,
        or the snapshot ``shards``), in reading order: shards are immutable and their headers hold
        counts and CRCs of the contents, so this names the content read (headers only: cheap)."""
        h = hashlib.sha256((self.path / META_NAME).read_bytes())
        for p in self.shard_paths() if shards is None else [s.path for s in shards]:
            with open(p, "rb") as f:
                h.update(p.name.encode() + f.read(_HEADER.size))
        return h.hexdigest()

    # ---- counts and seeds --------------------------------------------------------------
    def count(self, shards: Sequence[ShardInfo] | None = None) -> int:
        """Number of stored configurations (headers only)."""
        return sum(s.count for s in (self.shard_infos() if shards is None else shards))

    def remaining(self, target: int) -> int:
        """Configurations still missing to reach ``target`` (0 when reached)."""
        return max(int(target) - self.count(), 0)

    def _read_records(self, info: ShardInfo) -> Records:
        with open(info.path, "rb") as f:
            f.seek(_HEADER.size)
            raw = f.read(info.meta_size)
        if len(raw) != info.meta_size or zlib.crc32(raw) != info.crc_meta:
            raise DamagedShardError(f"{info.path}: bad checksum in the seed/accuracy section; {_FIX}")
        c, r = info.count, info.n_rejected
        seed = np.frombuffer(raw, "<i8", c, 0)
        rejected = np.frombuffer(raw, "<i8", r, 8 * c)
        acc = np.frombuffer(raw, "<f4", c, 8 * (c + r))
        return Records(seed, acc, rejected)

    def records(self, shards: Sequence[ShardInfo] | None = None) -> Records:
        """Seeds and accuracies of all configurations (reading order) and all rejected seeds.

        Reads headers and the seed/accuracy sections only (12 bytes per configuration).
        """
        infos = self.shard_infos() if shards is None else shards
        return _join_records([self._read_records(s) for s in infos])

    def tried_seeds(self) -> np.ndarray:
        """Sorted seeds of every recorded trial, kept or rejected (skip these on resume)."""
        rec = self.records()
        seeds, _ = _sorted_counts(np.concatenate([rec.seed, rec.rejected]))
        return seeds

    # ---- configurations ----------------------------------------------------------------
    def _read_bits(self, info: ShardInfo) -> np.ndarray:
        with open(info.path, "rb") as f:
            f.seek(_HEADER.size + info.meta_size)
            raw = f.read(info.count * info.n_bytes)
        if len(raw) != info.count * info.n_bytes or zlib.crc32(raw) != info.crc_bits:
            raise DamagedShardError(f"{info.path}: bad checksum in the configuration bits; {_FIX}")
        return np.frombuffer(raw, np.uint8).reshape(info.count, info.n_bytes)

    def iter_chunks(
        self,
        chunk: int = 65536,
        *,
        spins: tuple[int, int] | None = None,
        packed: bool = False,
        shards: Sequence[ShardInfo] | None = None,
    ) -> Iterator[Chunk]:
        """Stream configurations in chunks of at most ``chunk`` rows (chunks never span shards).

        ``spins=(a, b)`` restricts to spin indices a..b-1; ``packed=True`` yields bit-packed
        uint8 rows (re-packed from spin a) instead of int8 ±1. Each shard is verified (both
        checksums) before any of its rows is yielded; memory is one shard plus one chunk.
        """
        if chunk < 1:
            raise ValueError(f"chunk={chunk}: must be a positive number of configurations")
        a, b = (0, self.n_spins) if spins is None else (int(spins[0]), int(spins[1]))
        if not 0 <= a < b <= self.n_spins:
            raise ValueError(f"spins={spins}: need 0 <= a < b <= n_spins={self.n_spins}")
        lo, hi = a // 8, -(-b // 8)
        whole = (a, b) == (0, self.n_spins)
        for info in self.shard_infos() if shards is None else shards:
            rec = self._read_records(info)
            bits = self._read_bits(info)
            for i in range(0, info.count, chunk):
                rows = bits[i : i + chunk]
                if whole:
                    out = rows.copy() if packed else unpack(rows, self.n_spins)
                else:
                    out = unpack(rows[:, lo:hi], 8 * (hi - lo))[:, a - 8 * lo : b - 8 * lo]
                    out = pack(out) if packed else np.ascontiguousarray(out)
                yield Chunk(out, rec.acc[i : i + chunk].copy(), rec.seed[i : i + chunk].copy())

    def load(self, *, spins: tuple[int, int] | None = None, limit: int | None = None) -> Chunk:
        """All configurations (or the first ``limit``) as one int8 ±1 array with acc and seed."""
        width = self.n_spins if spins is None else spins[1] - spins[0]
        empty = Chunk(np.zeros((0, width), np.int8), np.zeros(0, np.float32), np.zeros(0, np.int64))
        parts, n = [empty], 0
        for c in self.iter_chunks(spins=spins):
            if limit is not None and n >= limit:
                break
            parts.append(c)
            n += len(c.seed)
        return Chunk(*(np.concatenate(col)[:limit] for col in zip(*parts, strict=True)))

    # ---- health ------------------------------------------------------------------------
    def _verify(self, path: Path) -> tuple[ShardInfo, Records]:
        """Header, both checksums and records of one shard (raises StoreError / DamagedShardError)."""
        info = self.shard_info(path)
        rec = self._read_records(info)
        self._read_bits(info)
        return info, rec

    def damaged_paths(self) -> list[Path]:
        """Shards set aside by :meth:`set_aside_damaged` (never read)."""
        return sorted(p for p in (self.path / DAMAGED_DIR).glob(f"{SHARD_PREFIX}*") if p.is_file())

    def set_aside_damaged(self) -> tuple[list[ShardInfo], list[str]]:
        """Verify every shard fully and move the damaged ones (truncated, bad checksum, unreadable)
        to ``<store>/damaged/``, where no reader looks: (verified shards, one line per shard set
        aside). Their trials count as never run, so a resumed collection runs them again (same
        seeds, same configurations). An intact shard of another store still raises StoreError:
        moving it would hide a wrong path or a damaged store.json."""
        good, moved = [], []
        for p in self.shard_paths():
            try:
                good.append(self._verify(p)[0])
            except DamagedShardError as e:
                dest = self.path / DAMAGED_DIR / p.name
                dest.parent.mkdir(exist_ok=True)
                try:
                    os.replace(p, dest)
                except FileNotFoundError:  # another process of this run moved it first
                    pass
                moved.append(f"{str(e).split('; ')[0]}; moved to {dest}")
        if moved:
            _fsync_dir(self.path)
        return good, moved

    def check(self) -> tuple[list[ShardInfo], Records, list[str]]:
        """Verify every shard fully, never raising: (good shards, their records, problems).

        Problems: each bad shard's error, leftover temp files, shards set aside as damaged,
        unexpected files, duplicate seeds (a seed kept twice, or both kept and rejected).
        """
        good, parts, problems = [], [], []
        for p in self.shard_paths():
            try:
                info, rec = self._verify(p)
            except StoreError as e:
                problems.append(str(e))
                continue
            good.append(info)
            parts.append(rec)
        temps = self.temp_paths()
        if temps:
            problems.append(
                f"{len(temps)} temp file(s) (e.g. {temps[0].name}): shards in flight or left by "
                "a killed writer, never read; delete them when no writer runs"
            )
        damaged = self.damaged_paths()
        if damaged:
            problems.append(
                f"{len(damaged)} damaged shard(s) set aside in {self.path / DAMAGED_DIR} (never read; "
                "their trials were rerun or will be on resume): inspect or delete them"
            )
        problems += [
            f"{p}: unexpected file in the store (ignored)"
            for p in sorted(self.path.iterdir())
            if p.name not in (META_NAME, DAMAGED_DIR)
            and not p.name.startswith(TMP_PREFIX)
            and not (p.name.startswith(SHARD_PREFIX) and p.name.endswith(SHARD_SUFFIX))
        ]
        rec = _join_records(parts)
        uniq, counts = _sorted_counts(np.concatenate([rec.seed, rec.rejected]))
        if np.any(counts > 1):
            dup = uniq[counts > 1]
            problems.append(f"{dup.size} seed(s) recorded more than once (e.g. {int(dup[0])})")
        return good, rec, problems

    def writer(
        self, writer_id: str, *, shard_size: int = 4096, flush_every_s: float = 600.0
    ) -> ShardWriter:
        """A writer for this process (see :class:`ShardWriter`)."""
        return ShardWriter(self, writer_id, shard_size=shard_size, flush_every_s=flush_every_s)


class ShardWriter:
    """Buffers kept configurations and rejected seeds of one process and flushes shards.

    A shard is written when ``shard_size`` configurations are buffered, when the oldest
    unflushed trial is older than ``flush_every_s`` seconds, on :meth:`flush`, and on
    :meth:`close` / leaving the ``with`` block (also on Ctrl-C). One ``add_batch`` is never
    split, so a shard may exceed ``shard_size``. Seeds are checked unique within the
    writer's session.
    """

    def __init__(
        self,
        store: EnsembleStore,
        writer_id: str,
        *,
        shard_size: int = 4096,
        flush_every_s: float = 600.0,
    ) -> None:
        if not _WRITER_RE.fullmatch(writer_id):
            raise ValueError(
                f"writer_id={writer_id!r}: use 1-64 characters from letters, digits, '_.-'"
            )
        if shard_size < 1:
            raise ValueError(f"shard_size={shard_size}: must be >= 1")
        self.store = store
        self.writer_id = writer_id
        self.shard_size = int(shard_size)
        self.flush_every_s = float(flush_every_s)
        self.n_written = 0
        self.n_rejected_written = 0
        self.shards_written: list[Path] = []
        self._counter = 0
        self._seen: set[int] = set()
        self._reset()

    def _reset(self) -> None:
        self._bits: list[np.ndarray] = []
        self._acc: list[np.ndarray] = []
        self._seed: list[np.ndarray] = []
        self._rejected: list[int] = []
        self._n = 0
        self._since = time.monotonic()

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _claim(self, seeds: Sequence[int]) -> None:
        new = {int(s) for s in seeds}
        if len(new) != len(seeds) or new & self._seen:
            dup = sorted(new & self._seen) or sorted(s for s in new if seeds.count(s) > 1)
            raise ValueError(
                f"writer {self.writer_id}: seed(s) {dup[:5]} recorded twice; "
                "draw seeds with seed_sequence(skip=store.tried_seeds())"
            )
        self._seen |= new

    def add(self, config: Any, acc: float, seed: int) -> None:
        """Record one kept configuration (±1, length N) with its test accuracy and trial seed."""
        self.add_batch(np.asarray(config)[None, :], [acc], [seed])

    def add_batch(self, configs: Any, accs: Sequence[float], seeds: Sequence[int]) -> None:
        """Record kept configurations ``(B, N)`` ±1 with accuracies ``(B,)`` and seeds ``(B,)``."""
        configs = np.asarray(configs)
        accs = np.asarray(accs, np.float32).reshape(-1)
        seeds = np.asarray(seeds, np.int64).reshape(-1)
        if configs.ndim != 2 or configs.shape[1] != self.store.n_spins:
            raise ValueError(
                f"configs shape {configs.shape}: expected (B, {self.store.n_spins}) for "
                f"store {self.store.path}"
            )
        if not len(configs) == len(accs) == len(seeds):
            raise ValueError(
                f"add_batch: {len(configs)} configs, {len(accs)} accs, {len(seeds)} seeds differ"
            )
        bits = pack(configs)
        self._claim(seeds.tolist())
        self._bits.append(bits)
        self._acc.append(accs)
        self._seed.append(seeds)
        self._n += len(seeds)
        self._maybe_flush()

    def reject(self, seed: int) -> None:
        """Record a trial that ran and was rejected (it will not be retried on resume)."""
        self._claim([int(seed)])
        self._rejected.append(int(seed))
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if self._n >= self.shard_size or time.monotonic() - self._since >= self.flush_every_s:
            self.flush()

    def flush(self) -> Path | None:
        """Write the buffer as one shard atomically; returns its path (None if empty).

        The buffer is taken first, so an interrupted or failed flush loses only this shard
        and never writes it twice.
        """
        if self._n == 0 and not self._rejected:
            return None
        n, bits_l, acc_l, seed_l, rej = self._n, self._bits, self._acc, self._seed, self._rejected
        self._reset()
        meta = _read_meta(self.store.path)
        _check_identity(self.store.path, meta, self.store.meta)
        nb = -(-self.store.n_spins // 8)
        bits = np.concatenate(bits_l) if bits_l else np.zeros((0, nb), np.uint8)
        seed = np.concatenate(seed_l) if seed_l else np.zeros(0, np.int64)
        acc = np.concatenate(acc_l) if acc_l else np.zeros(0, np.float32)
        meta_bytes = (
            seed.astype("<i8").tobytes()
            + np.asarray(rej, "<i8").tobytes()
            + acc.astype("<f4").tobytes()
        )
        bits_bytes = np.ascontiguousarray(bits).tobytes()
        head = _HEADER.pack(
            MAGIC,
            FORMAT_VERSION,
            self.store.n_spins,
            n,
            len(rej),
            self.store.store_id,
            zlib.crc32(meta_bytes),
            zlib.crc32(bits_bytes),
            self.writer_id.encode(),
            0,
        )[:-4]
        head += struct.pack("<I", zlib.crc32(head))
        name = (
            f"{SHARD_PREFIX}{self.writer_id}-p{os.getpid()}-{self._counter:06d}-"
            f"{secrets.token_hex(4)}{SHARD_SUFFIX}"
        )
        self._counter += 1
        final, tmp = self.store.path / name, self.store.path / f"{TMP_PREFIX}{name}"
        try:
            with open(tmp, "xb") as f:
                f.write(head)
                f.write(meta_bytes)
                f.write(bits_bytes)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)
            _fsync_dir(self.store.path)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise StoreError(
                f"{tmp}: could not write shard ({e.strerror or e}); {n} configurations and "
                f"{len(rej)} rejections of this shard are lost, earlier shards are intact; "
                f"{write_advice(e, self.store.path)} and resume"
            ) from e
        self.n_written += n
        self.n_rejected_written += len(rej)
        self.shards_written.append(final)
        return final

    def close(self) -> None:
        """Flush what is buffered."""
        self.flush()
