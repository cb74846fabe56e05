"""One-line summary of an ensemble store: ``python -m weightspace.ensemble.summary PATH``.

Prints count, N and identity, accuracy min/mean/max, trials and rejection ratio
(rejected / (kept + rejected)), shards, writers and every problem found by a full
verification (bad shards by name, temp files, unexpected files, duplicate seeds).
Exit status 1 when there are problems, 2 when PATH is not a readable store.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from weightspace.ensemble.store import EnsembleStore, StoreError


def summarize(path: str | os.PathLike[str]) -> tuple[str, list[str]]:
    """(one-line summary, problems) of the store at ``path``; bad shards are left out of the
    numbers and listed as problems. Raises StoreError if ``path`` is not a store."""
    store = EnsembleStore(path)
    good, rec, problems = store.check()
    m, r = rec.seed.size, rec.rejected.size
    meta = store.meta
    acc = (
        f"acc min/mean/max {rec.acc.min():.4f}/{np.mean(rec.acc, dtype=np.float64):.4f}/"
        f"{rec.acc.max():.4f}"
        if m
        else "acc -"
    )
    ratio = f"{r / (m + r):.1%}" if m + r else "-"
    writers = len({s.writer for s in good})
    line = (
        f"{store.path}: {m} configs, N={store.n_spins} "
        f"(arch {'-'.join(map(str, meta['arch']))}, scenario {meta['scenario']}, "
        f"dataset {meta['dataset']}) | {acc} | trials {m + r}, rejected {r} ({ratio}) | "
        f"{len(good)} shards, {writers} writers | problems: "
        f"{'; '.join(problems) if problems else 'none'}"
    )
    return line, problems


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m weightspace.ensemble.summary", description=__doc__.splitlines()[0])
    p.add_argument("path", help="store directory")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        line, problems = summarize(args.path)
    except StoreError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
