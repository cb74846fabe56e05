"""Thin application layers behind the top-level Hydra entry points: each exposes ``run(cfg)``."""
