"""Fit the effective Ising model of an ensemble: ``python fit_ising.py [part=all] [method=bethe]`` (see README)."""

import sys

import hydra
from omegaconf import DictConfig

from weightspace.apps.common import check_overrides
from weightspace.apps.fit_ising import run


@hydra.main(version_base="1.3", config_path="conf", config_name="fit_ising")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    problem = check_overrides("fit_ising", [a for a in sys.argv[1:] if not a.startswith("-")])
    if problem:
        sys.exit(f"fit_ising.py: {problem}")
    main()
