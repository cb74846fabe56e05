"""One Fig. 17 from several ``experiment=double_descent`` runs (e.g. h = 1..30 and a wider range,
or real and binary nets run as separate processes): reads each run dir's
``double_descent_history.csv``, puts every net side by side per kind at the snapshot epochs all
runs of that kind reached, and writes to ``--out``:

- ``double_descent_epochs.png``: train error, test loss (the run's cost), test error vs alpha at every
  decade of epochs and the last common snapshot (mean ± std over runs);
- ``double_descent_final.csv``: per kind and h at that snapshot, mean and std over runs;
- ``summary.json``: interpolation alpha, test-loss / test-error peaks and minima per kind.

    PYTHONPATH=src .venv/bin/python scripts/double_descent_merge.py outputs/dd/real3 outputs/dd/real_wide3 \\
        outputs/dd/binary1 --out outputs/dd/merged
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from weightspace.experiments import double_descent as dd

METRICS = ("train_loss", "train_error", "test_loss", "test_error")


def title_of(run: Path) -> str:
    """Figure title from a run's saved Hydra config (widths, data, labels, P, loss), e.g. the parity
    variant's 20-h-h-2 / hinge; a generic one when the run dir has no ``.hydra/config.yaml``."""
    path = run / ".hydra" / "config.yaml"
    if not path.is_file():
        return "20-h-h-K double descent, full-batch GD"
    cfg = OmegaConf.load(path)
    return dd.epochs_title(list(cfg.arch.widths), cfg.dataset.name, cfg.labels, cfg.scenario.n_train, cfg.loss)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="run dirs of python train.py experiment=double_descent")
    ap.add_argument("--out", required=True)
    ap.add_argument("--title", default=None, help="default: from the first run's .hydra/config.yaml")
    args = ap.parse_args(argv)
    tables = []
    for run in args.runs:
        path = Path(run) / "double_descent_history.csv"
        if not path.is_file():
            sys.exit(f"double_descent_merge: {path} not found; give run dirs of train.py experiment=double_descent")
        with path.open() as f:
            tables.append(list(csv.DictReader(f)))
    hidden, alpha, history = dd.history_from_tables(tables)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dd.plot_epochs(history, alpha, out / "double_descent_epochs.png", args.title or title_of(Path(args.runs[0])))
    rows = []
    for kind, snaps in history.items():
        last = snaps[-1]
        for h in np.unique(hidden[kind]):
            sel = hidden[kind] == h
            row = {"kind": kind, "epoch": int(last["epoch"]), "hidden": int(h), "alpha": float(alpha[kind][sel][0]),
                   "runs": int(sel.sum())}
            for m in METRICS:
                row[f"{m}_mean"], row[f"{m}_std"] = float(last[m][sel].mean()), float(last[m][sel].std())
            rows.append(row)
    with (out / "double_descent_final.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    summary = dd.summarize(history, alpha)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    for k, v in summary.items():
        print(f"{k}: {v:.6g}")
    print(f"wrote {out}/double_descent_epochs.png, double_descent_final.csv, summary.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
