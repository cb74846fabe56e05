"""``landscape.py analysis=<name>``: one module per analysis, each exposing ``run(acfg, out_dir, loggers)``:
entropy, iso_energy, tap, mc_dynamics, heat_capacity, mc_sweep, permutation (docs/design.md §3.4),
function_space (§3.7), layer_overlap (§3.8)."""
