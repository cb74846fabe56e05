"""Networks: spin ordering, fixed-weight forward pass, mean-field binary module."""
