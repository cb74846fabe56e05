"""Real-valued-weight networks for comparisons with the binary ones (paper App. F, Fig. 17).

Same architecture as the binary nets (docs/design.md §3.1): no biases, hidden layers
a = LReLU(W a_prev)/sqrt(N_{l-1}), the last pre-activation is the output
(:func:`.forward.fixed_forward`), but W is real and trained directly (no reparametrization
noise). E independent networks train at once, each with its own trial seed:
W ~ N(0, init_std^2) from the stream of its seed (:mod:`.batches`; init_std = 1 matches the scale of
±1 weights) and its own data order (:class:`.batches.EnsembleBatches`).
Losses: :mod:`.losses` (softmax cross-entropy or multi-class hinge).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import lightning as L
import torch
from torch import Tensor, nn

from .forward import fixed_forward
from .losses import check_loss, per_network_loss
from .module import init_fields


@torch.no_grad()
def ensemble_accuracy(weights: Sequence[Tensor], x: Tensor, y: Tensor, chunk: int = 8192) -> Tensor:
    """Accuracy ``[E]`` of nets ``weights`` (``[E, N_l, N_{l-1}]``) on ``x [n, N_0]``, ``y [n]``."""
    correct = torch.zeros(weights[0].shape[0], device=weights[0].device)
    for k in range(0, len(x), chunk):
        correct += (fixed_forward(weights, x[k : k + chunk]).argmax(-1) == y[k : k + chunk]).sum(-1)
    return correct / len(x)


class RealNet(L.LightningModule):
    """E real-valued MLPs of the same widths trained with Adam (L2 ``weight_decay`` on W)."""

    def __init__(
        self,
        widths: Sequence[int],
        seeds: Sequence[int] = (0,),
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        init_std: float = 1.0,
        loss: str = "ce",
    ) -> None:
        super().__init__()
        check_loss(loss)
        self.save_hyperparameters()
        self.widths = [int(w) for w in widths]
        self.seeds = [int(s) for s in seeds]
        init = init_fields(self.widths, self.seeds, init_std)  # the binary nets' seeded draw
        self.weights = nn.ParameterList(nn.Parameter(w) for w in init)
        self.eval_sets: dict[str, tuple[Tensor, Tensor]] = {}
        self.history: list[dict[str, Tensor]] = []  # per epoch, per-network values [E]
        self.epoch_seconds: list[float] = []
        self._loss_sum = torch.zeros(len(self.seeds))
        self._steps = 0

    def set_eval_data(self, name: str, x: Tensor, y: Tensor) -> None:
        """Inputs ``[n, N_0]``, labels ``[n]``: accuracy ``<name>_acc`` is recorded per epoch."""
        self.eval_sets[name] = (x, y)

    def forward(self, x: Tensor) -> Tensor:
        return fixed_forward(list(self.weights), x)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch  # [E, B, N_0], [E, B]
        loss = per_network_loss(self(x), y, self.hparams.loss)
        self._loss_sum = self._loss_sum.to(loss.device) + loss.detach()
        self._steps += 1
        return loss.sum()  # independent networks: each one's gradient is its own mean loss's

    def configure_optimizers(self) -> torch.optim.Optimizer:
        hp = self.hparams
        return torch.optim.Adam(self.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)

    def evaluate(self) -> dict[str, Tensor]:
        """``<name>_acc [E]`` for every evaluation set."""
        w = list(self.weights)
        return {
            f"{name}_acc": ensemble_accuracy(w, x.to(self.device), y.to(self.device))
            for name, (x, y) in self.eval_sets.items()
        }

    def on_train_epoch_start(self) -> None:
        self._t0 = time.perf_counter()

    def on_train_epoch_end(self) -> None:
        self.epoch_seconds.append(time.perf_counter() - self._t0)
        row = {"train_loss": (self._loss_sum / max(self._steps, 1)).cpu()}
        self._loss_sum.zero_()
        self._steps = 0
        row |= {k: v.cpu() for k, v in self.evaluate().items()}
        self.history.append(row)
        self.log_dict({k: v.mean().item() for k, v in row.items()}, prog_bar=True, on_epoch=True)
