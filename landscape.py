"""Analyse weight space: ``python landscape.py analysis=<name> [key=value]``. See README."""

from weightspace.apps.common import launch
from weightspace.apps.landscape import run

if __name__ == "__main__":
    launch("landscape", run)
