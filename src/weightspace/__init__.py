"""weightspace: statistical mechanics of deep-learning weight space.

Pipeline (see docs/design.md): train binary-weight networks with the mean-field
method and collect an ensemble of solutions (``train.py``), fit an effective
Ising model to its moments (``fit_ising.py``), analyse the model's entropy
landscape (``landscape.py``).
"""

__version__ = "0.1.0"
