"""Lightning module training E independent mean-field binary networks at once (E = 1: one network).

Each network e has its own trial seed: its fields start from theta ~ N(0, init_std^2) drawn from
a generator seeded with that seed, and it sees its own data order (see :mod:`.batches`). The
reparametrization noise is drawn from one generator seeded with the first seed of the ensemble.
Evaluation of the *binary* networks: draw ``n_eval_samples`` configurations from sigmoid(theta)
and report each one's test accuracy and the best, plus the noiseless mean-field accuracy.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .forward import fixed_forward
from .meanfield import draw_noise, meanfield_logits, sample_weights
from .spins import layer_shapes, layers_to_config


def init_fields(widths: Sequence[int], seeds: Sequence[int], init_std: float) -> list[Tensor]:
    """theta ~ N(0, init_std^2) per network, from a generator seeded by that network's trial seed."""
    shapes = layer_shapes(widths)
    per_net = []
    for s in seeds:
        g = torch.Generator().manual_seed(int(s))
        per_net.append([torch.randn(shape, generator=g) * init_std for shape in shapes])
    return [torch.stack([net[l] for net in per_net]) for l in range(len(shapes))]


@torch.no_grad()
def sampled_accuracy(
    thetas: Sequence[Tensor], x: Tensor, y: Tensor, n_samples: int, generator: torch.Generator | None
) -> tuple[Tensor, Tensor]:
    """Test accuracy of ``n_samples`` binary draws per network: returns ``acc [n, E]`` and configs ``[n, E, N]``."""
    weights = sample_weights(thetas, n_samples, generator)
    acc = torch.stack([_accuracy([w[k] for w in weights], x, y) for k in range(n_samples)])
    return acc, layers_to_config(weights)


def _accuracy(weights: Sequence[Tensor], x: Tensor, y: Tensor) -> Tensor:
    return (fixed_forward(weights, x).argmax(-1) == y).float().mean(-1)


class MeanFieldNet(L.LightningModule):
    """E mean-field binary networks of the same widths trained with Adam on softmax cross-entropy.

    The L2 term adds ``weight_decay * theta`` to the gradient (Adam's coupled weight decay),
    as in the paper's protocol (App. D).
    """

    def __init__(
        self,
        widths: Sequence[int],
        seeds: Sequence[int] = (0,),
        lr: float = 0.3,
        weight_decay: float = 1e-5,
        init_std: float = 0.1,
        n_eval_samples: int = 10,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.widths = [int(w) for w in widths]
        self.seeds = [int(s) for s in seeds]
        self.thetas = nn.ParameterList(nn.Parameter(t) for t in init_fields(self.widths, self.seeds, init_std))
        self.eval_data: tuple[Tensor, Tensor] | None = None
        self.history: list[dict[str, Tensor]] = []  # per epoch, per-network values [E]
        self.epoch_seconds: list[float] = []
        self._noise: torch.Generator | None = None
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

    def on_train_epoch_start(self) -> None:
        self._t0 = time.perf_counter()

    def on_fit_start(self) -> None:
        self._noise = torch.Generator(device=self.device).manual_seed(self.seeds[0])
        self._eval_gen = torch.Generator(device=self.device).manual_seed(self.seeds[0] + 0x5EED)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch  # [E, B, N_0], [E, B]
        eps = draw_noise(list(self.thetas), x.shape[1], self._noise)
        logits = self(x, eps)
        ce = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(y.shape).mean(1)
        self._ce_sum = self._ce_sum.to(ce.device) + ce.detach()
        self._ce_count += 1
        return ce.sum()  # networks are independent: each one's gradient is its own mean CE's

    def configure_optimizers(self) -> torch.optim.Optimizer:
        hp = self.hparams
        return torch.optim.Adam(self.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)

    @torch.no_grad()
    def evaluate(self, n_samples: int | None = None) -> dict[str, Tensor]:
        """Per-network test accuracies: mean-field, and of ``n_samples`` sampled binary nets."""
        if self.eval_data is None:
            raise RuntimeError("MeanFieldNet.evaluate: call set_eval_data(x_test, y_test) first")
        x, y = (t.to(self.device) for t in self.eval_data)
        n = n_samples or self.hparams.n_eval_samples
        mf = (self(x).argmax(-1) == y).float().mean(-1)
        gen = getattr(self, "_eval_gen", None)
        acc, configs = sampled_accuracy(list(self.thetas), x, y, n, gen)
        return {"acc_meanfield": mf, "acc_sampled": acc, "configs": configs}

    def on_train_epoch_end(self) -> None:
        self.epoch_seconds.append(time.perf_counter() - self._t0)
        row = {"train_ce": (self._ce_sum / max(self._ce_count, 1)).cpu()}
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
