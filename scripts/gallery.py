"""Copy figures the apps wrote into docs/figures/ for the gallery (docs/figures.md), each PNG kept
under a size limit: a larger one is downscaled in steps of 3/4 (Lanczos) until it fits. Nothing
is drawn here; the pixels are the apps' own.

    .venv/bin/python scripts/gallery.py outputs/train/under_para/<time>/learning_curves.png fig2a.png
    .venv/bin/python scripts/gallery.py SRC DEST [SRC DEST ...] [--max-kb 300] [--dir docs/figures]
"""

from __future__ import annotations

import argparse
import io
import shutil
from pathlib import Path

from PIL import Image


def fit_png(src: Path, dest: Path, max_bytes: int) -> tuple[int, tuple[int, int]]:
    """Write ``src`` to ``dest`` as PNG of at most ``max_bytes``; returns (bytes, (width, height))."""
    if src.stat().st_size <= max_bytes:
        shutil.copyfile(src, dest)
        with Image.open(dest) as im:
            return dest.stat().st_size, im.size
    im = Image.open(src).convert("RGB")
    scale = 1.0
    while True:
        scale *= 0.75
        size = (max(1, int(im.width * scale)), max(1, int(im.height * scale)))
        buf = io.BytesIO()
        im.resize(size, Image.Resampling.LANCZOS).save(buf, "PNG", optimize=True)
        if buf.tell() <= max_bytes or min(size) < 64:
            dest.write_bytes(buf.getvalue())
            return buf.tell(), size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pairs", nargs="+", help="SRC DEST pairs (DEST: a file name inside --dir)")
    ap.add_argument("--dir", default="docs/figures")
    ap.add_argument("--max-kb", type=int, default=300)
    args = ap.parse_args()
    if len(args.pairs) % 2:
        ap.error("give SRC DEST pairs")
    out = Path(args.dir)
    out.mkdir(parents=True, exist_ok=True)
    for src, name in zip(args.pairs[::2], args.pairs[1::2]):
        n, size = fit_png(Path(src), out / name, args.max_kb * 1024)
        print(f"{out / name}: {n / 1024:.0f} kB, {size[0]}x{size[1]} px  <- {src}")


if __name__ == "__main__":
    main()
