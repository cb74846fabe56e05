"""Lightning module training E independent mean-field binary networks at once (E = 1: one network).

Each network e has its own trial seed: its initial fields theta ~ N(0, init_std^2), data order,
reparametrization noise and evaluation samples come from counter-based streams keyed by that seed
only (:mod:`.batches`, :mod:`weightspace.streams`), drawn for all E networks in one call each:
network e of an ensemble trains like a lone network with the same seed, on any device (up to
float rounding).
Evaluation of the *binary* networks: draw ``n_eval_samples`` configurations from sigmoid(theta)
and report each one's test accuracy and the best, plus the noiseless mean-field accuracy.

Two ways to train, same model and optimizer: Lightning's ``Trainer.fit`` (``training_step``,
autograd, ``torch.optim.Adam``) and :meth:`MeanFieldNet.fit_manual`, a lean loop whose whole step
-- hand-written gradient and the same Adam update -- is one function (:func:`.fused_step.train_step_`,
optionally ``torch.compile``-d) for ensemble collection, where the Trainer's per-step overhead,
autograd's extra passes over memory and the optimizer call dominate.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from functools import cache

import lightning as L
import torch
from torch import Tensor, nn

from ..streams import INIT, normals, seed_keys
from .batches import EnsembleBatches, step_noise
from .forward import fixed_forward, lrelu
from .freeze import check_redraw, frozen_fields, frozen_layer_indices
from .fused_step import compiled_train_step, train_step_
from .losses import check_loss, per_network_loss
from .meanfield import meanfield_logits, sample_configs
from .spins import config_to_layers, n_spins


def init_fields(widths: Sequence[int], seeds: Sequence[int], init_std: float) -> list[Tensor]:
    """theta ~ N(0, init_std^2): ``[E, N_l, N_{l-1}]`` per layer, network e's from its own stream
    ``normals(INIT, 0, 0)`` over its N spins in configuration order (one call for all networks)."""
    z = normals(seed_keys(seeds), INIT, 0, 0, n_spins(widths)) * init_std
    return [w.contiguous() for w in config_to_layers(z, widths)]


@torch.no_grad()
def sampled_accuracy(
    thetas: Sequence[Tensor],
    x: Tensor,
    y: Tensor,
    n_samples: int,
    keys: Tensor,
    compile: bool = False,
) -> tuple[Tensor, Tensor]:
    """Test accuracy of ``n_samples`` binary draws per network (:func:`.meanfield.sample_configs`,
    keys ``[E, 2]``): returns ``acc [n, E]`` and configs ``[n, E, N]``.

    ``compile=True`` evaluates with a ``torch.compile``-d fused forward (same predictions)."""
    configs = sample_configs(thetas, n_samples, keys)
    weights = config_to_layers(configs, [thetas[0].shape[-1], *(th.shape[1] for th in thetas)])
    acc_fn = _compiled_accuracy() if compile else _accuracy
    acc = torch.stack([acc_fn([w[k] for w in weights], x, y) for k in range(n_samples)])
    return acc, configs


def _accuracy(weights: Sequence[Tensor], x: Tensor, y: Tensor) -> Tensor:
    return (fixed_forward(weights, x).argmax(-1) == y).float().mean(-1)


def _accuracy_fused(weights: Sequence[Tensor], x: Tensor, y: Tensor) -> Tensor:
    """:func:`_accuracy` feature-major, for ``torch.compile``: the inputs ``x [B, N_0]`` are shared,
    so the first layer of all E networks is one GEMM ``[E N_1, N_0] @ [N_0, B]``; later layers are
    ``bmm`` with the batch as the long side (2.4x the broadcast-sum version at E = 160, B = 10 000)."""
    W0 = weights[0]
    a = (W0.reshape(-1, W0.shape[-1]) @ x.T).view(W0.shape[0], W0.shape[1], -1)  # [E, N_1, B]
    last = len(weights) - 1
    for l, W in enumerate(weights):
        if l:
            a = torch.bmm(W, a)
        if l < last:
            a = lrelu(a) * (1.0 / math.sqrt(W.shape[-1]))
    return (a.argmax(1) == y).float().mean(-1)


@cache
def _compiled_accuracy() -> Callable[..., Tensor]:
    return torch.compile(_accuracy_fused, dynamic=False)


class MeanFieldNet(L.LightningModule):
    """E mean-field binary networks of the same widths trained with Adam on softmax cross-entropy
    (``loss="hinge"``: multi-class hinge, :mod:`.losses`; history key ``train_loss`` holds the loss trained on).

    The L2 term adds ``weight_decay * theta`` to the gradient (Adam's coupled weight decay),
    as in the paper's protocol (App. D). ``frozen`` parts (e.g. ``["itr"]``) are quenched to random
    signs, theta = ±``frozen_field``, and never trained (:mod:`.freeze`; paper Sec. IV F); with
    ``redraw_frozen="every_epoch"`` their signs are redrawn at every epoch start.
    """

    def __init__(
        self,
        widths: Sequence[int],
        seeds: Sequence[int] = (0,),
        lr: float = 0.3,
        weight_decay: float = 1e-5,
        init_std: float = 0.1,
        n_eval_samples: int = 10,
        loss: str = "ce",
        frozen: Sequence[str] = (),
        redraw_frozen: str = "never",
        frozen_field: float = 10.0,
    ) -> None:
        super().__init__()
        check_loss(loss)
        check_redraw(redraw_frozen)
        self.save_hyperparameters()
        self.widths = [int(w) for w in widths]
        self.seeds = [int(s) for s in seeds]
        self.thetas = nn.ParameterList(nn.Parameter(t) for t in init_fields(self.widths, self.seeds, init_std))
        self.register_buffer("keys", seed_keys(self.seeds), persistent=False)  # stream keys [E, 2]
        self.frozen_layers = frozen_layer_indices(self.widths, list(frozen))
        if len(self.frozen_layers) == len(self.thetas):
            raise ValueError(f"freeze.layers={list(frozen)}: freezes every weight matrix; nothing left to train")
        self._set_frozen(0)
        self.eval_data: tuple[Tensor, Tensor] | None = None
        self.history: list[dict[str, Tensor]] = []  # per epoch, per-network values [E]
        self.epoch_seconds: list[float] = []
        self._step = 0  # training steps taken by Trainer.fit (the noise counter)
        self._ce_sum = torch.zeros(len(self.seeds))
        self._ce_count = 0

    @property
    def n_networks(self) -> int:
        return len(self.seeds)

    def set_eval_data(self, x: Tensor, y: Tensor) -> None:
        """Test inputs ``[n, N_0]`` and labels ``[n]`` used for the per-epoch evaluation."""
        self.eval_data = (x, y)

    def forward(self, x: Tensor, eps: Sequence[Tensor] | None = None) -> Tensor:
        return meanfield_logits(list(self.thetas), x, eps)

    @torch.no_grad()
    def _set_frozen(self, epoch: int) -> None:
        """Quench the frozen layers to the signs of ``epoch`` (0 at construction)."""
        for l in self.frozen_layers:
            th = self.thetas[l].requires_grad_(False)
            th.copy_(frozen_fields(tuple(th.shape[1:]), self.seeds, epoch, self.hparams.frozen_field, l))

    def _maybe_redraw(self, epoch: int) -> None:
        if epoch > 0 and self.hparams.redraw_frozen == "every_epoch":
            self._set_frozen(epoch)

    def on_train_epoch_start(self) -> None:
        self._maybe_redraw(self.current_epoch)
        self._t0 = time.perf_counter()

    def on_fit_start(self) -> None:
        self._step = 0

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch  # [E, B, N_0], [E, B]
        eps = step_noise(self.keys, self._step, x.shape[1], self.widths[1:], self.thetas[0].dtype)
        self._step += 1
        logits = self(x, [e.transpose(1, 2) for e in eps])
        ce = per_network_loss(logits, y, self.hparams.loss)
        self._ce_sum = self._ce_sum.to(ce.device) + ce.detach()
        self._ce_count += 1
        return ce.sum()  # networks are independent: each one's gradient is its own mean CE's

    def configure_optimizers(self) -> torch.optim.Optimizer:
        hp = self.hparams
        return torch.optim.Adam(self.parameters(), lr=hp.lr, weight_decay=hp.weight_decay, fused=True)

    @torch.no_grad()
    def evaluate(self, n_samples: int | None = None, compile: bool = False) -> dict[str, Tensor]:
        """Per-network test accuracies: mean-field, and of ``n_samples`` sampled binary nets
        (``compile``: see :func:`sampled_accuracy`)."""
        if self.eval_data is None:
            raise RuntimeError("MeanFieldNet.evaluate: call set_eval_data(x_test, y_test) first")
        x, y = (t.to(self.device) for t in self.eval_data)
        n = n_samples or self.hparams.n_eval_samples
        mf = (self(x).argmax(-1) == y).float().mean(-1)
        acc, configs = sampled_accuracy(list(self.thetas), x, y, n, self.keys, compile)
        return {"acc_meanfield": mf, "acc_sampled": acc, "configs": configs}

    def on_train_epoch_end(self) -> None:
        self.epoch_seconds.append(time.perf_counter() - self._t0)
        row = {"train_loss": (self._ce_sum / max(self._ce_count, 1)).cpu()}
        self._ce_sum.zero_()
        self._ce_count = 0
        if self.eval_data is not None:
            ev = self.evaluate()
            row |= {
                "test_acc_meanfield": ev["acc_meanfield"].cpu(),
                "test_acc_sampled_mean": ev["acc_sampled"].mean(0).cpu(),
                "test_acc_sampled_best": ev["acc_sampled"].max(0).values.cpu(),
            }
        self.history.append(row)
        self.log_dict({k: v.mean().item() for k, v in row.items()}, prog_bar=True, on_epoch=True)

    @torch.no_grad()
    def fit_manual(
        self,
        x: Tensor,
        y: Tensor,
        batch_size: int,
        epochs: int,
        *,
        compile: bool = False,
        on_epoch: Callable[[int], None] | None = None,
    ) -> None:
        """Train all networks ``epochs`` epochs on ``x [P, N_0]``, ``y [P]`` (on this module's device)
        with the fused noise + gradient + Adam step (:mod:`.fused_step`; hyperparameters as
        :meth:`configure_optimizers`; ``compile`` also fuses the data orders' full pass); appends the
        per-network mean training CE of each epoch to ``history``; calls ``on_epoch(epoch)``."""
        if self.hparams.loss != "ce":
            raise ValueError(f"loss={self.hparams.loss}: fit_manual trains cross-entropy only; use Trainer.fit")
        step_fn = compiled_train_step() if compile else train_step_
        batches = EnsembleBatches(x, y, self.seeds, batch_size, compile=compile)
        thetas = [p.data for p in self.thetas]
        ms, vs = [torch.zeros_like(t) for t in thetas], [torch.zeros_like(t) for t in thetas]
        step = torch.zeros((), device=self.device, dtype=torch.int64)
        hp = self.hparams
        for epoch in range(epochs):
            self._maybe_redraw(epoch)
            trainable = tuple(p.requires_grad for p in self.thetas)
            t0 = time.perf_counter()
            ce_sum = torch.zeros(self.n_networks, device=self.device)
            for k, idx in enumerate(batches.indices()):
                # after an epoch's first step every call has the same shapes: skip Dynamo's guards
                with torch.compiler.set_stance(skip_guard_eval_unsafe=compile and k > 0):
                    ce_sum += step_fn(thetas, ms, vs, step, x, y, idx, self.keys, hp.lr, hp.weight_decay, trainable)
                step += 1
            self.epoch_seconds.append(time.perf_counter() - t0)
            self.history.append({"train_loss": (ce_sum / len(batches)).cpu()})
            if on_epoch is not None:
                on_epoch(epoch)
