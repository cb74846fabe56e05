"""``landscape.py analysis=<name>`` modules, each exposing ``run(acfg, out_dir, loggers)``:
entropy, iso_energy, tap, mc_dynamics, heat_capacity, permutation (DESIGN 3.4)."""
