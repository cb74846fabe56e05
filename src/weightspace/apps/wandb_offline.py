"""Read an offline W&B run file (``wandb/offline-run-*/run-<id>.wandb``) without W&B's servers.

wandb ships no reader. The file is a LevelDB-style log: a 7-byte W&B header, then 32 KiB blocks
of records, each with a 7-byte header (CRC-32, payload length uint16, type: 1 full, 2 first,
3 middle, 4 last piece of a record); the reassembled payloads are
``wandb.proto.wandb_internal_pb2.Record`` messages (``run``, ``config``, ``history``,
``summary``, ``artifact``, ``use_artifact``, ``exit``, ...).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FILE_HEADER = 7
BLOCK = 32 * 1024
_RECORD_HEADER = struct.Struct("<IHB")
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def payloads(path: str | Path) -> Iterator[bytes]:
    """The reassembled record payloads of a run file, in order."""
    data = Path(path).read_bytes()
    pos, pieces = FILE_HEADER, b""
    while pos + _RECORD_HEADER.size <= len(data):
        left = BLOCK - pos % BLOCK
        if left < _RECORD_HEADER.size:  # block trailer: padding
            pos += left
            continue
        _crc, length, kind = _RECORD_HEADER.unpack_from(data, pos)
        if length == 0 and kind == 0:  # zero padding up to the block end
            pos += left
            continue
        body = data[pos + _RECORD_HEADER.size : pos + _RECORD_HEADER.size + length]
        pos += _RECORD_HEADER.size + length
        if kind == FULL:
            yield body
        elif kind == FIRST:
            pieces = body
        elif kind == MIDDLE:
            pieces += body
        elif kind == LAST:
            yield pieces + body


def records(path: str | Path) -> Iterator[Any]:
    """The run file's ``Record`` messages."""
    from wandb.proto import wandb_internal_pb2 as pb

    for raw in payloads(path):
        rec = pb.Record()
        rec.ParseFromString(raw)
        yield rec


@dataclass
class OfflineRun:
    """What a run file says about its run (config values and summary decoded from JSON)."""

    path: Path
    run_id: str = ""
    project: str = ""
    entity: str = ""
    group: str = ""
    name: str = ""
    job_type: str = ""
    tags: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    artifacts: list[dict[str, Any]] = field(default_factory=list)  # name, type, digest, aliases, metadata
    exit_code: int | None = None

    @property
    def inputs(self) -> dict[str, dict[str, Any]]:
        return dict(self.config.get("inputs") or {})


def _update(target: dict[str, Any], items: Any) -> None:
    for it in items:
        keys = list(it.nested_key) or [it.key]
        node = target
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = json.loads(it.value_json)


def read_run(path: str | Path) -> OfflineRun:
    """Decode one ``run-*.wandb`` file (or the offline run dir holding it)."""
    path = Path(path)
    if path.is_dir():
        path = next(path.glob("run-*.wandb"))
    run = OfflineRun(path=path)
    for rec in records(path):
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            r = rec.run
            run.run_id, run.project, run.entity = r.run_id, r.project, r.entity
            run.group, run.name, run.job_type, run.tags = r.run_group, r.display_name, r.job_type, list(r.tags)
            _update(run.config, r.config.update)
        elif kind == "config":
            _update(run.config, rec.config.update)
        elif kind == "summary":
            _update(run.summary, rec.summary.update)
        elif kind == "artifact":
            a = rec.artifact
            run.artifacts.append({"name": a.name, "type": a.type, "digest": a.digest, "aliases": list(a.aliases),
                                  "metadata": json.loads(a.metadata or "{}")})
        elif kind == "exit":
            run.exit_code = int(rec.exit.exit_code)
    run.config.pop("_wandb", None)
    return run


def find_runs(*roots: str | Path) -> list[Path]:
    """Offline run dirs (``offline-run-*`` holding a ``run-*.wandb``) under ``roots``, sorted."""
    found: set[Path] = set()
    for root in map(Path, roots):
        candidates = [root] if root.name.startswith("offline-run-") else root.rglob("offline-run-*")
        found |= {p for p in candidates if p.is_dir() and any(p.glob("run-*.wandb"))}
    return sorted(found)
