"""Function-space landscape of deep nets around a reference function (Li & Saad, PRL 120, 248301, 2018).

Modules: ``recursions`` (overlap recursions, Eqs. 6-8, 10-11, 13-14), ``maxent`` (max-entropy
perturbation profiles and annealed generalisation, Fig. 2a-c), ``majk`` (sparse MAJ-k transition,
Fig. 2d-f), ``simulate`` (finite-N checks), ``trained`` (flip sensitivity of trained binary nets),
``plots`` and ``app`` (``run(acfg, out_dir, loggers)``).
"""
