"""Layer-wise order of deep networks (Yoshino 2019, docs/design.md §3.8): solution-space Monte Carlo of
sign-perceptron networks, replica / teacher overlaps per layer with hidden-unit matching or bond
masking, and the same layer-wise overlap on collected ensembles."""
