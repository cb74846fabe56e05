"""Analyse weight space: ``python landscape.py analysis=<name> [key=value]`` (see README)."""

import sys

import hydra
from omegaconf import DictConfig

from weightspace.apps.common import check_overrides
from weightspace.apps.landscape import run


@hydra.main(version_base="1.3", config_path="conf", config_name="landscape")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    problem = check_overrides("landscape", [a for a in sys.argv[1:] if not a.startswith("-")])
    if problem:
        sys.exit(f"landscape.py: {problem}")
    main()
