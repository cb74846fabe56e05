"""Effective pairwise Ising model of the weight ensemble (docs/design.md §3.3; Zou & Huang Sec. III, App. C).

``moments`` data statistics, ``exact`` enumeration reference, ``bp`` dense belief propagation,
``inverse`` closed-form inversions, ``boltzmann`` Boltzmann learning.
"""
