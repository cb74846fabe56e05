"""Train mean-field binary networks: ``python train.py [group=option] [key=value]`` (see README)."""

import sys

import hydra
from omegaconf import DictConfig

from weightspace.apps.common import check_overrides
from weightspace.apps.train import run


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float:
    return run(cfg)["test_acc_sampled_best"]


if __name__ == "__main__":
    problem = check_overrides("train", [a for a in sys.argv[1:] if not a.startswith("-")])
    if problem:
        sys.exit(f"train.py: {problem}")
    main()
