"""Store bit-packing on the CuPy stand-in (CuPy's packbits/unpackbits lack ``axis``; the stand-in enforces it)."""

from __future__ import annotations

import numpy as np

from weightspace.backend import array_module, to_numpy
from weightspace.ensemble.store import pack, unpack


def test_pack_unpack_round_trip(xp):
    spins = np.where(np.random.default_rng(0).random((3, 5, 21)) < 0.5, 1, -1).astype(np.int8)
    packed = pack(xp.asarray(spins))
    assert array_module(packed) is xp
    np.testing.assert_array_equal(to_numpy(packed), pack(spins))
    np.testing.assert_array_equal(to_numpy(unpack(packed, 21)), spins)
