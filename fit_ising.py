"""Fit the effective Ising model of an ensemble: ``python fit_ising.py [part=all] [method=bethe]``. See README."""

from weightspace.apps.common import launch
from weightspace.apps.fit_ising import CHOICES, run

if __name__ == "__main__":
    launch("fit_ising", run, choices=CHOICES)
