"""Training labels of a task: the ten digits, or their parity (paper App. F, binary task)."""

from __future__ import annotations

from dataclasses import replace

from omegaconf import DictConfig

from ..apps.common import load_data
from ..data import Dataset, load_dataset

LABELS = ("digits", "parity")


def to_parity(data: Dataset) -> Dataset:
    """Two classes: y mod 2 (even digits -> 0, odd -> 1)."""
    return replace(
        data,
        name=f"{data.name}_parity",
        y_train=data.y_train % 2,
        y_test=data.y_test % 2,
        n_classes=2,
    )


def load_task_data(cfg: DictConfig) -> Dataset:
    """:func:`weightspace.apps.common.load_data`, relabelled by ``cfg.labels``."""
    labels = cfg.get("labels", "digits")
    if labels == "digits":
        return load_data(cfg)
    if labels != "parity":
        raise ValueError(f"labels={labels!r}: choose one of {list(LABELS)}")
    d = cfg.dataset
    data = to_parity(
        load_dataset(d, cfg.scenario.n_train, d.subset, d.subset_seed, cfg.paths.cache_dir)
    )
    widths = list(cfg.arch.widths)
    if widths[0] != data.n_inputs or widths[-1] != 2:
        raise ValueError(
            f"labels=parity: arch widths {widths} need {data.n_inputs} inputs and 2 outputs "
            "(e.g. arch=deep_k_h_h arch.classes=2)"
        )
    return data
