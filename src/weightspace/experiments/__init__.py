"""Experiments of the paper beyond the main pipeline (ITR freezing Fig. 11, double descent Fig. 17,
depth Fig. 18, t-SNE Fig. 2b): pure analysis functions, figures, multirun aggregation, task glue."""
