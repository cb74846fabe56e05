"""The CuPy stand-in is as strict as CuPy 13.6 where it matters (tests/cupy_standin)."""

from __future__ import annotations

import numpy as np
import pytest

from weightspace.backend import array_module, get_xp, to_numpy


def test_standin_refuses_implicit_conversion_and_numpy_operands(standin):
    a = standin.arange(4.0)
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(a)
    for mixed in (lambda: a + np.ones(4), lambda: np.ones(4) * a, lambda: standin.dot(a, np.ones(4)),
                  lambda: np.exp(a) + np.zeros(4)):
        with pytest.raises(TypeError):
            mixed()
    assert isinstance(np.exp(a), standin.ndarray)  # NumPy ufuncs dispatch to the device, like CuPy
    assert isinstance(a.sum(), standin.ndarray) and a.sum().ndim == 0  # reductions stay on the device


def test_standin_counts_syncs_launches_and_transfers(standin):
    a = standin.asarray(np.arange(6.0))  # one host -> device copy
    assert standin.counters.h2d == 1
    standin.counters.reset()
    b = (a * 2.0 + 1.0).reshape(2, 3)  # two kernels; the reshape is a view
    assert standin.counters.snapshot() == {"launches": 2, "syncs": 0, "h2d": 0}
    assert float(b.sum()) == 36.0 and bool(b.max() > 10) and int(b[1, 2]) == 11
    assert standin.counters.syncs == 3
    np.testing.assert_array_equal(standin.asnumpy(b), to_numpy(b))
    assert standin.counters.syncs == 5


def test_standin_namespace_is_cupy_13_6(standin):
    assert standin.__version__ == "13.6.0"
    assert hasattr(standin, "take_along_axis") and hasattr(standin, "asnumpy")
    for missing in ("put_along_axis", "errstate", "seterr"):  # NumPy has them, CuPy 13.6 does not
        with pytest.raises(AttributeError):
            getattr(standin, missing)
    with pytest.raises(NotImplementedError, match="axis"):
        standin.packbits(standin.zeros((2, 8), dtype=standin.uint8), axis=-1)
    with pytest.raises(NotImplementedError, match="axis"):
        standin.unpackbits(standin.zeros((2, 1), dtype=standin.uint8), axis=-1)
    with pytest.raises(TypeError):
        range(standin.asarray(np.array(3)))  # no __index__
    with pytest.raises(TypeError, match="dtype"):
        standin.asarray(np.array(["a"]))
    assert f"{standin.asarray(np.array(0.25)):.2f}" == "0.25"  # format syncs, like CuPy
    with pytest.raises(TypeError, match="unexpected keyword"):
        standin.take_along_axis(standin.zeros(3), standin.zeros(3, dtype=int), axis=0, mode="clip")


def test_standin_random_streams_differ_from_numpy(standin):
    u = standin.random.RandomState(3).random_sample(5)
    g = standin.random.default_rng(3).random(5)
    assert not np.allclose(u.get(), np.random.RandomState(3).random_sample(5))
    assert not np.allclose(g.get(), np.random.default_rng(3).random(5))
    np.testing.assert_array_equal(g.get(), standin.random.default_rng(3).random(5).get())  # but seeded
    assert not hasattr(standin.random.default_rng(0), "permutation")  # CuPy's Generator lacks it


def test_standin_is_what_backend_selects(standin):
    assert get_xp("cupy") is standin and get_xp("auto") is standin
    assert array_module(standin.zeros(2)) is standin
    assert get_xp("numpy") is np
