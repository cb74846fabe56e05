"""Analyses of the fitted Ising model's landscape (docs/design.md §3.4; Zou & Huang Sec. IV, App. C, H, I).

``thermo`` entropy by thermodynamic (heat-capacity) integration of Monte-Carlo energies,
for models where belief propagation fails (sparse pseudolikelihood models).
"""
