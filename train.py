"""Train mean-field binary networks or collect an ensemble: ``python train.py [key=value]`` (see README)."""

from weightspace.apps.common import launch
from weightspace.apps.train import CHOICES, run

if __name__ == "__main__":
    launch("train", run, objective="test_acc_sampled_best", choices=CHOICES)
