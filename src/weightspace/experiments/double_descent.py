"""Double descent (paper App. F, Fig. 17): train/test error of K-h-h-x nets vs alpha = N/P.

The interpolation point is the smallest alpha from which the training error stays at or below
``tol``; a double-descent peak is an interior local maximum of the test error that stands
above the lowest test error on *both* sides (its prominence is the smaller of the two rises).

The authors' protocol (Fig. 17 caption, App. F) runs as one batched model
(:class:`BatchedDoubleDescent`): 20-h-h-10 nets, h = 1..30, P = 2 000, cross-entropy,
full-batch gradient descent, lr 0.01 x 0.1 every 25 000 epochs, 10^6 epochs (real-valued
weights) and 10^5 (binary weights, mean-field training; Adam on the same schedule, since the paper
does not give their optimizer and plain GD leaves them at chance); the test error they plot is the
test cross-entropy.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from weightspace.nets.forward import LRELU_SLOPE
from weightspace.nets.fused_step import adam_
from weightspace.nets.losses import per_network_loss
from weightspace.plots import save_figure

MODEL_NAMES = {"train": "binary (mean-field)", "train_real": "real-valued"}


def interpolation_alpha(alpha: np.ndarray, train_error: np.ndarray, tol: float = 1e-3) -> float:
    """Smallest alpha with train_error <= tol there and at every larger alpha (nan: never)."""
    order = np.argsort(alpha)
    a, e = np.asarray(alpha, float)[order], np.asarray(train_error, float)[order]
    above = np.flatnonzero(e > tol)
    k = 0 if len(above) == 0 else above[-1] + 1
    return float(a[k]) if k < len(a) else float("nan")


def find_error_peak(alpha: np.ndarray, test_error: np.ndarray) -> tuple[float, float]:
    """``(alpha_peak, prominence)`` of the most prominent interior maximum of the test error,
    prominence = min(peak - min(left of it), peak - min(right of it)); ``(nan, 0)`` if none."""
    order = np.argsort(alpha)
    a, e = np.asarray(alpha, float)[order], np.asarray(test_error, float)[order]
    best, where = 0.0, float("nan")
    for k in range(1, len(e) - 1):
        prom = min(e[k] - e[:k].min(), e[k] - e[k + 1 :].min())
        if prom > best:
            best, where = float(prom), float(a[k])
    return where, best


def plot_double_descent(curves: dict[str, dict[str, dict[str, np.ndarray]]], path: str | Path, title: str = "") -> Path:
    """Train (left) and test (right) error vs alpha, one line per model; ``curves[model][split]``
    holds ``x`` (alpha), ``y`` (mean error), ``std``. Dashed: each model's interpolation point."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharex=True)
    for k, (model, c) in enumerate(curves.items()):
        color = f"C{k}"
        for ax, split in zip(axes, ("train", "test")):
            d = c[split]
            ax.errorbar(
                d["x"],
                d["y"],
                yerr=d["std"],
                color=color,
                marker="o",
                ms=3,
                capsize=2,
                label=MODEL_NAMES.get(model, model),
            )
        a_star = interpolation_alpha(c["train"]["x"], c["train"]["y"])
        if np.isfinite(a_star):
            for ax in axes:
                ax.axvline(a_star, color=color, ls="--", lw=0.8)
    for ax, split in zip(axes, ("training", "test")):
        ax.set(xscale="log", xlabel=r"$\alpha = N/P$", ylabel=f"{split} error", title=f"{split} error")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


# ---- the authors' protocol as one batched model (Fig. 17 caption, App. F) ----------------------
# E nets K-h_e-h_e-C (every h and every run) live in one padded model of width H = max h_e:
# weight entries that do not exist in net e are masked to zero, so its padded units have z = 0,
# a = LReLU(0) = 0, no gradient, and net e computes exactly its own K-h_e-h_e-C function.

KINDS = ("real", "binary")
MODEL_NAMES_KIND = {"real": "real-valued", "binary": "binary (mean-field)"}


def n_weights(hidden: int, inputs: int, classes: int) -> int:
    """N = K h + h^2 + h C: the weights of a K-h-h-C net (no biases)."""
    return inputs * hidden + hidden * hidden + hidden * classes


def padded_masks(hidden: Sequence[int], inputs: int, classes: int) -> tuple[list[Tensor], list[float | Tensor]]:
    """``(masks, scales)`` of nets ``K-h_e-h_e-C`` padded to ``H = max h_e``: masks ``[E, out, in]``
    (1 where net e has that weight), and per layer the factor 1/sqrt(N_{l-1}) of the hidden
    activation a = LReLU(z)/sqrt(N_{l-1}) (a float for the input layer, ``[E, 1, 1]`` after it)."""
    h = torch.as_tensor(list(hidden), dtype=torch.long)
    units = torch.arange(int(h.max()))
    live = (units[None, :] < h[:, None]).float()  # [E, H]
    ones_in = torch.ones(len(h), inputs)
    ones_out = torch.ones(len(h), classes)
    masks = [
        live[:, :, None] * ones_in[:, None, :],
        live[:, :, None] * live[:, None, :],
        ones_out[:, :, None] * live[:, None, :],
    ]
    scales = [1.0 / math.sqrt(inputs), (1.0 / h.float().sqrt())[:, None, None]]
    return masks, scales


def padded_logits(weights: Sequence[Tensor], masks: Sequence[Tensor], scales: Sequence, x: Tensor) -> Tensor:
    """Logits ``[E, B, C]`` of real-valued nets: z^l = a^{l-1} (M^l * W^l)^T,
    a^l = LReLU(z^l) scale^l for the hidden layers (inputs ``x [B, K]`` shared by all nets).
    The scale is folded into the next layer's weights (one pass less over the activations)."""
    z = x @ (weights[0] * masks[0]).transpose(-1, -2)
    for l in range(1, len(weights)):
        w = weights[l] * masks[l] * scales[l - 1]
        z = F.leaky_relu(z, LRELU_SLOPE) @ w.transpose(-1, -2)
    return z


def padded_meanfield_logits(
    thetas: Sequence[Tensor], masks: Sequence[Tensor], scales: Sequence, x: Tensor, generator: torch.Generator
) -> Tensor:
    """Noisy mean-field logits of binary nets (paper Eq. A2): mu = M tanh(theta/2),
    z = a mu^T + sqrt(a^2 (M (1 - mu^2))^T) eps, eps ~ N(0, 1) per example and unit,
    a = LReLU(z) scale (the scale folded into mu and the variance)."""
    a = x
    for l, (th, m) in enumerate(zip(thetas, masks)):
        s = 1.0 if l == 0 else scales[l - 1]
        mu = torch.tanh(0.5 * th) * m
        mean = a @ (mu * s).transpose(-1, -2)
        v2 = (a * a) @ ((m - mu * mu) * (s * s)).transpose(-1, -2)
        eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
        z = torch.addcmul(mean, torch.sqrt(v2.clamp_min(1e-12)), eps)
        a = z if l == len(thetas) - 1 else F.leaky_relu(z, LRELU_SLOPE)
    return a


def lr_multipliers(hidden: Sequence[int], inputs: int, parametrization: str) -> list[float | Tensor]:
    """Per-layer factors on the learning rate. ``ntk``: plain gradient descent on the weights as
    written (a = LReLU(W a_prev)/sqrt(N_{l-1})). ``standard``: gradient descent on W' = W/sqrt(N_{l-1})
    (the usual parametrization, W' ~ N(0, 1/N_{l-1}) at init, no activation scale); the same
    function, and since LReLU is homogeneous, GD on W' is GD on W with lr x N_{l-1} in the two
    scaled layers (the last layer is unscaled)."""
    if parametrization == "ntk":
        return [1.0, 1.0, 1.0]
    if parametrization != "standard":
        raise ValueError(f"double_descent.parametrization={parametrization!r}: choose ntk or standard")
    return [float(inputs), torch.as_tensor(list(hidden), dtype=torch.float32)[:, None, None], 1.0]


def sample_binary(thetas: Sequence[Tensor], generator: torch.Generator) -> list[Tensor]:
    """One binary draw per net: w = +1 with probability sigmoid(theta), else -1."""
    return [
        torch.where(torch.rand(th.shape, generator=generator, device=th.device) < torch.sigmoid(th), 1.0, -1.0)
        for th in thetas
    ]


def loss_and_error(logits: Tensor, y: Tensor, loss: str) -> tuple[Tensor, Tensor]:
    """Per-net mean loss and classification error ``[E]`` of ``logits [E, B, C]``, ``y [B]``."""
    target = y.expand(logits.shape[0], -1)
    return per_network_loss(logits, target, loss), (logits.argmax(-1) != target).float().mean(-1)


def learning_rate(epoch: int, lr: float, decay: float, every: int) -> float:
    """lr * decay^floor(epoch / every): the authors' step schedule (0.01, x 0.1 every 25 000)."""
    return lr * decay ** (epoch // every)


def snapshot_epochs(max_epochs: int, per_decade: int = 4) -> list[int]:
    """Epochs 1, then ``per_decade`` log-spaced epochs per decade (always 10^k), and the last."""
    grid = {1, max_epochs}
    k = 0
    while 10 ** (k / per_decade) <= max_epochs:
        grid.add(int(round(10 ** (k / per_decade))))
        k += 1
    return sorted(e for e in grid if e <= max_epochs)


@dataclass
class Protocol:
    """Options of :class:`BatchedDoubleDescent` (config node ``double_descent``)."""

    hidden: list[int]
    runs: int
    epochs: dict[str, int]  # per kind: real 10^6, binary 10^5 (paper)
    lr: float = 0.01
    lr_decay: float = 0.1
    lr_every: int = 25_000
    init_std: dict[str, float] = field(default_factory=lambda: {"real": 1.0, "binary": 0.1})
    eval_samples: int = 4  # binary draws per net per evaluation
    parametrization: dict[str, str] = field(default_factory=lambda: {"real": "standard", "binary": "ntk"})
    # per kind: "gd" (plain full-batch gradient descent) or "adam" (torch.optim.Adam's update, coupled
    # L2 weight_decay, as in the binary nets' own training, paper App. D), both on the lr schedule;
    # binary nets under gd at lr 0.01 stay at chance for thousands of epochs (conf/experiment/double_descent.yaml)
    optimizer: dict[str, str] = field(default_factory=lambda: {"real": "gd", "binary": "adam"})
    weight_decay: dict[str, float] = field(default_factory=lambda: {"real": 0.0, "binary": 1e-5})
    loss: str = "ce"
    seed: int = 0


class BatchedDoubleDescent:
    """Every (kind, h, run) net of the protocol, trained by full-batch gradient descent, one
    batched model per kind; ``history[kind]`` holds per-net train/test loss and error at the
    :func:`snapshot_epochs`; :meth:`save` / :meth:`load` make it resumable."""

    def __init__(self, p: Protocol, inputs: int, classes: int, device: str = "cpu") -> None:
        self.p, self.inputs, self.classes, self.device = p, inputs, classes, torch.device(device)
        self.hidden = [h for h in p.hidden for _ in range(p.runs)]
        self.seeds = [p.seed + k for k in range(len(self.hidden))]
        masks, scales = padded_masks(self.hidden, inputs, classes)
        self.masks = [m.to(self.device) for m in masks]
        self.scales = [s if isinstance(s, float) else s.to(self.device) for s in scales]
        H = max(self.hidden)
        shapes = [(H, inputs), (H, H), (classes, H)]
        self.params = {kind: self._init(shapes, p.init_std[kind], offset) for offset, kind in enumerate(KINDS)}
        self.lr_scale = {
            kind: [m if isinstance(m, float) else m.to(self.device) for m in lr_multipliers(self.hidden, inputs, par)]
            for kind, par in p.parametrization.items()
        }
        for kind, opt in p.optimizer.items():
            if opt not in ("gd", "adam"):
                raise ValueError(f"double_descent.optimizer.{kind}={opt!r}: choose gd or adam")
            if opt == "adam" and p.parametrization[kind] != "ntk":
                raise ValueError(
                    f"double_descent.optimizer.{kind}=adam needs parametrization.{kind}=ntk "
                    "(the standard parametrization's lr factors are those of plain gradient descent)"
                )
        self.moments = {  # Adam's first and second moments per kind (zeros; unused by gd)
            kind: ([torch.zeros_like(w) for w in ws], [torch.zeros_like(w) for w in ws])
            for kind, ws in self.params.items()
        }
        self.generator = torch.Generator(self.device).manual_seed(p.seed)
        self.n_train = 0
        self.epoch = 0
        self.history: dict[str, list[dict[str, np.ndarray]]] = {kind: [] for kind in KINDS}
        self.seconds = {kind: 0.0 for kind in KINDS}

    def _init(self, shapes: list[tuple[int, int]], std: float, offset: int) -> list[Tensor]:
        per_net = []
        for s in self.seeds:
            g = torch.Generator().manual_seed(int(s) * len(KINDS) + offset)
            per_net.append([torch.randn(shape, generator=g) * std for shape in shapes])
        stacked = [torch.stack([w[l] for w in per_net]).to(self.device) for l in range(len(shapes))]
        return [(w * m).requires_grad_(True) for w, m in zip(stacked, self.masks)]  # padding = 0

    @property
    def alpha(self) -> np.ndarray:
        """alpha = N / P per net (P set by :meth:`train`)."""
        return np.array([n_weights(h, self.inputs, self.classes) for h in self.hidden]) / self.n_train

    def _logits(self, kind: str, x: Tensor) -> Tensor:
        w = self.params[kind]
        if kind == "real":
            return padded_logits(w, self.masks, self.scales, x)
        return padded_meanfield_logits(w, self.masks, self.scales, x, self.generator)

    def step(self, kind: str, x: Tensor, y: Tensor) -> Tensor:
        """One full-batch gradient-descent step of every net of ``kind``; returns the loss [E]."""
        loss, _ = loss_and_error(self._logits(kind, x), y, self.p.loss)
        grads = torch.autograd.grad(loss.sum(), self.params[kind])
        lr = learning_rate(self.epoch, self.p.lr, self.p.lr_decay, self.p.lr_every)
        with torch.no_grad():
            if self.p.optimizer[kind] == "adam":
                t = torch.tensor(float(self.epoch))  # one step per epoch, 1-based
                for w, g, m, v in zip(self.params[kind], grads, *self.moments[kind]):
                    adam_(w, g, m, v, t, lr, self.p.weight_decay[kind])
            else:
                for w, g, f in zip(self.params[kind], grads, self.lr_scale[kind]):
                    w -= (lr * f) * g
        return loss.detach()

    @torch.no_grad()
    def evaluate(self, kind: str, data: dict[str, tuple[Tensor, Tensor]]) -> dict[str, np.ndarray]:
        """``<split>_loss``, ``<split>_error`` per net: real nets as they are, binary nets averaged
        over ``eval_samples`` draws of w ~ sigmoid(theta) (the binary network the paper tests),
        drawn from a generator of their own (evaluating never changes the training noise)."""
        draws = 1 if kind == "real" else self.p.eval_samples
        g = torch.Generator(self.device).manual_seed(self.p.seed + 7919 * self.epoch)  # not the training noise
        row: dict[str, np.ndarray] = {}
        for split, (x, y) in data.items():
            loss = err = 0.0
            for _ in range(draws):
                w = self.params[kind] if kind == "real" else sample_binary(self.params[kind], g)
                l_, e_ = loss_and_error(padded_logits(w, self.masks, self.scales, x), y, self.p.loss)
                loss, err = loss + l_ / draws, err + e_ / draws
            row[f"{split}_loss"], row[f"{split}_error"] = loss.cpu().numpy(), err.cpu().numpy()
        return row

    def train(
        self,
        data: dict[str, tuple[Tensor, Tensor]],
        until: int,
        on_snapshot=None,
        checkpoint: Path | None = None,
        checkpoint_every_s: float = 300.0,
    ) -> None:
        """Train every kind up to ``min(until, epochs[kind])`` epochs, full batch on
        ``data["train"]``; evaluate at the snapshot epochs and at the last epoch reached, call
        ``on_snapshot(self)`` after each snapshot and write ``checkpoint`` every
        ``checkpoint_every_s`` seconds and at the end."""
        x, y = data["train"]
        self.n_train = len(x)
        grid = {kind: set(snapshot_epochs(self.p.epochs[kind])) for kind in KINDS}
        last_save = time.perf_counter()
        stop = min(until, max(self.p.epochs.values()))
        # rate and ETA between the log-spaced snapshots (late ones are 10^4+ epochs apart)
        bar = tqdm(total=stop, initial=self.epoch, desc="double descent", unit="epoch", mininterval=10.0)
        while self.epoch < stop:
            self.epoch += 1
            bar.update(1)
            snap = False
            for kind in KINDS:
                if self.epoch > self.p.epochs[kind]:
                    continue
                t0 = time.perf_counter()
                self.step(kind, x, y)
                self.seconds[kind] += time.perf_counter() - t0
                if self.epoch in grid[kind]:
                    self.history[kind].append({"epoch": np.array(self.epoch), **self.evaluate(kind, data)})
                    snap = True
            if snap and on_snapshot is not None:
                on_snapshot(self)
            if checkpoint is not None and time.perf_counter() - last_save > checkpoint_every_s:
                self.save(checkpoint)
                last_save = time.perf_counter()
        bar.close()
        for kind in KINDS:  # a run stopped between snapshot epochs ends on a snapshot too
            done = min(self.epoch, self.p.epochs[kind])
            if done > 0 and (not self.history[kind] or int(self.history[kind][-1]["epoch"]) < done):
                self.history[kind].append({"epoch": np.array(done), **self.evaluate(kind, data)})
        if checkpoint is not None:
            self.save(checkpoint)

    def save(self, path: Path) -> None:
        """Atomic checkpoint: weights, Adam moments, epoch, generator state, history, seconds."""
        state = {
            "params": {k: [w.detach() for w in v] for k, v in self.params.items()},
            "moments": self.moments,
            "optimizer": dict(self.p.optimizer),
            "epoch": self.epoch,
            "generator": self.generator.get_state(),
            "history": self.history,
            "seconds": self.seconds,
            "hidden": self.hidden,
        }
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(path)

    def load(self, path: Path) -> None:
        """Resume from :meth:`save` of the same protocol (a ValueError when the nets differ)."""
        state = torch.load(path, weights_only=False, map_location=self.device)
        if state["hidden"] != self.hidden:
            raise ValueError(
                f"{path}: checkpoint of hidden widths {sorted(set(state['hidden']))} x runs differs "
                "from this config; use a fresh run dir or the same double_descent options"
            )
        saved = state.get("optimizer", {kind: "gd" for kind in KINDS})  # checkpoints from before Adam: gd only
        if saved != dict(self.p.optimizer):
            raise ValueError(
                f"{path}: checkpoint trained with optimizer {saved}, this config has {dict(self.p.optimizer)}; "
                "resume with the same double_descent.optimizer or use a fresh run dir"
            )
        self.params = {k: [w.clone().requires_grad_(True) for w in v] for k, v in state["params"].items()}
        self.moments = state.get("moments", self.moments)
        self.epoch, self.history, self.seconds = state["epoch"], state["history"], state["seconds"]
        self.generator.set_state(state["generator"].cpu())


def curves_at(history: list[dict[str, np.ndarray]], alpha: np.ndarray, epoch: int) -> dict[str, dict[str, np.ndarray]]:
    """Mean and std over runs vs alpha of each metric at ``epoch`` (the last snapshot <= it):
    ``{metric: {"x", "y", "std"}}``."""
    rows = [r for r in history if int(r["epoch"]) <= epoch]
    row = rows[-1]
    xs = np.unique(alpha)
    out = {}
    for key, v in row.items():
        if key == "epoch":
            continue
        out[key] = {
            "x": xs,
            "y": np.array([v[alpha == a].mean() for a in xs]),
            "std": np.array([v[alpha == a].std() for a in xs]),
        }
    return out


def _alpha_of(alpha: np.ndarray | dict[str, np.ndarray], kind: str) -> np.ndarray:
    """alpha per net of ``kind``: ``alpha`` itself, or its entry when given per kind."""
    return alpha[kind] if isinstance(alpha, dict) else alpha


def epochs_title(widths: Sequence[int], data: str, labels: str, n_train: int, loss: str) -> str:
    """Title of the :func:`plot_epochs` figure: architecture, data, labels, P and cost."""
    return f"{widths[0]}-h-h-{widths[-1]}, {data}, {labels} labels, P = {n_train}, full-batch GD, loss {loss}"


def plot_epochs(
    history: dict[str, list[dict[str, np.ndarray]]],
    alpha: np.ndarray | dict[str, np.ndarray],
    path: str | Path,
    title: str = "",
) -> Path:
    """How the curves evolve with training: rows = kinds, columns = train error, test loss
    (cross-entropy), test error vs alpha, one line per decade of epochs (10, 100, ...) and
    the last snapshot; mean +- std over runs. A fourth column zooms on the last snapshot's test
    loss, with its interpolation point (dashed) and most prominent peak (triangle).
    ``alpha``: per net, or per kind ``{kind: alpha}``."""
    kinds = [k for k in KINDS if history.get(k)]
    fig, axes = plt.subplots(len(kinds), 4, figsize=(17, 3.6 * len(kinds)), squeeze=False, sharex=True)
    for row, kind in zip(axes, kinds):
        a = _alpha_of(alpha, kind)
        done = [int(r["epoch"]) for r in history[kind]]
        shown = sorted({e for e in done if math.log10(e).is_integer() and e >= 10} | {done[-1]})
        cmap = plt.get_cmap("viridis")
        for k, e in enumerate(shown):
            c = curves_at(history[kind], a, e)
            for ax, key in zip(row, ("train_error", "test_loss", "test_error")):
                d = c[key]
                ax.errorbar(
                    d["x"],
                    d["y"],
                    yerr=d["std"],
                    color=cmap(k / max(len(shown) - 1, 1)),
                    marker="o",
                    ms=2,
                    lw=1,
                    capsize=1,
                    label=f"epoch {e:,}",
                )
        last = curves_at(history[kind], a, done[-1])
        d = last["test_loss"]
        row[3].errorbar(d["x"], d["y"], yerr=d["std"], color=cmap(1.0), marker="o", ms=3, lw=1, capsize=2)
        a_star = interpolation_alpha(last["train_error"]["x"], last["train_error"]["y"])
        if np.isfinite(a_star):
            row[3].axvline(a_star, color="k", ls="--", lw=0.8, label=f"interpolation alpha = {a_star:.2f}")
        peak, prominence = find_error_peak(d["x"], d["y"])
        if prominence > 0:
            row[3].plot([peak], [d["y"][d["x"] == peak][0]], "v", color="C3", ms=8,
                        label=f"peak alpha = {peak:.2f} (prominence {prominence:.3f})")
        tail = d["y"][d["x"] >= 0.1 * d["x"].max()]  # zoom past the steep small-alpha start
        if tail.size:
            lo, hi = float(d["y"].min()), float(tail.max())
            row[3].set_ylim(lo - 0.5 * (hi - lo) - 1e-3, hi + 1.5 * (hi - lo) + 1e-3)
        if row[3].get_legend_handles_labels()[0]:  # nothing to label without interpolation or peak
            row[3].legend(fontsize=7)
        for ax, key in zip(row, ("training error", "test loss", "test error", f"test loss, epoch {done[-1]:,}")):
            ax.set(xlabel=r"$\alpha = N/P$", ylabel=key.split(",")[0], title=f"{MODEL_NAMES_KIND[kind]}: {key}")
            ax.grid(alpha=0.3)
        row[0].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def history_rows(model: BatchedDoubleDescent) -> list[dict[str, float]]:
    """One row per (kind, snapshot epoch, net): hidden width, run, alpha and the four metrics."""
    runs = [k % model.p.runs for k in range(len(model.hidden))]
    rows = []
    for kind, snaps in model.history.items():
        for snap in snaps:
            for e, (h, r, a) in enumerate(zip(model.hidden, runs, model.alpha)):
                rows.append(
                    {"kind": kind, "epoch": int(snap["epoch"]), "hidden": h, "run": r, "alpha": float(a)}
                    | {k: float(v[e]) for k, v in snap.items() if k != "epoch"}
                )
    return rows


def history_from_tables(
    tables: Sequence[Sequence[dict[str, str]]],
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, list[dict[str, np.ndarray]]]]:
    """Inverse of :func:`history_rows` over the ``double_descent_history.csv`` rows of one or
    more runs (e.g. h = 1..30 and a wider range run separately): per kind, every net of every
    table that holds that kind side by side, at the snapshot epochs all those tables reached.
    Returns ``(hidden, alpha, history)``, the first two per kind and per net."""
    hidden: dict[str, np.ndarray] = {}
    alpha: dict[str, np.ndarray] = {}
    history: dict[str, list[dict[str, np.ndarray]]] = {}
    for kind in KINDS:
        parts = [[r for r in rows if r["kind"] == kind] for rows in tables]
        parts = [rows for rows in parts if rows]
        if not parts:
            continue
        epochs = sorted(set.intersection(*({int(r["epoch"]) for r in rows} for rows in parts)))
        per_epoch = [[[r for r in rows if int(r["epoch"]) == e] for rows in parts] for e in epochs]
        first = [r for table in per_epoch[0] for r in table]
        hidden[kind] = np.array([int(r["hidden"]) for r in first])
        alpha[kind] = np.array([float(r["alpha"]) for r in first])
        keys = [k for k in first[0] if k not in ("kind", "epoch", "hidden", "run", "alpha")]
        history[kind] = []
        for e, tabs in zip(epochs, per_epoch):
            rows = [r for table in tabs for r in table]
            if [int(r["hidden"]) for r in rows] != hidden[kind].tolist():
                raise ValueError(f"double-descent history: the nets at epoch {e} differ from epoch {epochs[0]}'s")
            history[kind].append({"epoch": np.array(e)} | {k: np.array([float(r[k]) for r in rows]) for k in keys})
    return hidden, alpha, history


def summarize(
    history: dict[str, list[dict[str, np.ndarray]]], alpha: np.ndarray | dict[str, np.ndarray], tol: float = 1e-3
) -> dict[str, float]:
    """Per kind at its last snapshot: epoch, interpolation alpha (mean train error <= ``tol``),
    alpha and prominence of the test-loss and test-error peaks, minimum train error, test loss
    and test error (means over runs)."""
    out: dict[str, float] = {}
    for kind, snaps in history.items():
        if not snaps:
            continue
        epoch = int(snaps[-1]["epoch"])
        c = curves_at(snaps, _alpha_of(alpha, kind), epoch)
        out[f"{kind}/epoch"] = float(epoch)
        out[f"{kind}/interpolation_alpha"] = interpolation_alpha(c["train_error"]["x"], c["train_error"]["y"], tol)
        for key in ("test_loss", "test_error"):
            where, prom = find_error_peak(c[key]["x"], c[key]["y"])
            out[f"{kind}/{key}_peak_alpha"], out[f"{kind}/{key}_peak_prominence"] = where, prom
        out[f"{kind}/min_train_error"] = float(c["train_error"]["y"].min())
        out[f"{kind}/min_test_loss"] = float(c["test_loss"]["y"].min())
        out[f"{kind}/min_test_error"] = float(c["test_error"]["y"].min())
    return out


def summary(model: BatchedDoubleDescent, tol: float = 1e-3) -> dict[str, float]:
    """:func:`summarize` of the model's history, plus the measured seconds per epoch per kind."""
    out = summarize(model.history, model.alpha, tol)
    for kind, snaps in model.history.items():
        if snaps:
            out[f"{kind}/seconds_per_epoch"] = model.seconds[kind] / max(min(model.epoch, model.p.epochs[kind]), 1)
    return out
