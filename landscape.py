"""Analyse weight space: ``python landscape.py analysis=<name> [key=value]``. See README."""

from weightspace.apps.common import launch
from weightspace.apps.landscape import CHOICES, run

if __name__ == "__main__":
    launch("landscape", run, choices=CHOICES)
