"""Ensemble of collected weight configurations (docs/design.md §3.2, §4, §5).

``store``: the crash-safe, bit-packed, multi-writer on-disk store (shards,
seeds, trial accounting, streaming reader, ``pack``/``unpack``).
``summary``: one-line summary of a store, also as
``python -m weightspace.ensemble.summary PATH``.
"""
