"""Figures (matplotlib, Agg backend): every function writes one PNG and returns its path."""

import matplotlib

matplotlib.use("Agg")
