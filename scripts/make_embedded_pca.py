"""Generate the embedded MNIST-PCA20 data shipped in ``src/weightspace/data/embedded/``.

Usage: python scripts/make_embedded_pca.py [--root DIR]

DIR holds the four MNIST IDX files (gzipped or not); without them torchvision downloads MNIST
into DIR. The output is deterministic (PCA via the covariance eigenproblem in float64, fixed
sign convention) and stores float32 projections, uint8 labels and the explained-variance ratio,
with a JSON provenance record next to it (source-file MD5s, command, variance).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np

from weightspace.data.pca import fit_pca, images_to_unit, project
from weightspace.data.raw import FILES, _find, load_raw

OUT = Path(__file__).resolve().parents[1] / "src" / "weightspace" / "data" / "embedded" / "mnist_pca20.npz"


def md5_uncompressed(path: Path) -> str:
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default="../shared/data/mnist", help="folder with the MNIST IDX files")
    ap.add_argument("--k", type=int, default=20)
    args = ap.parse_args()
    root = Path(args.root)
    tr_x, tr_y, te_x, te_y = load_raw("mnist", root)
    pca = fit_pca(images_to_unit(tr_x), args.k)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        OUT,
        x_train=project(pca, images_to_unit(tr_x)).astype(np.float32),
        y_train=tr_y.astype(np.uint8),
        x_test=project(pca, images_to_unit(te_x)).astype(np.float32),
        y_test=te_y.astype(np.uint8),
        explained_variance_ratio=np.float64(pca.explained_variance_ratio),
    )
    sources = {s: md5_uncompressed(_find(root, "mnist", s)) for pair in FILES.values() for s in pair}
    meta = {
        "dataset": "MNIST (Y. LeCun, C. Cortes, C. Burges), CC BY-SA 3.0",
        "transform": f"pixels/255, PCA-{args.k} fitted on the centred 60000 training images, "
        "train and test centred with the training mean and projected; eigenvector sign: largest |entry| > 0",
        "explained_variance_ratio": round(pca.explained_variance_ratio, 6),
        "source_md5_uncompressed": sources,
        "command": f"python scripts/make_embedded_pca.py --root {args.root} --k {args.k}",
    }
    OUT.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.2f} MB), explained variance {pca.explained_variance_ratio:.4f}")


if __name__ == "__main__":
    main()
