"""Backend selection logs its choice and reason; GPU batches respect free device memory (via the stand-in)."""

from __future__ import annotations

import logging
import sys

import numpy as np

from weightspace import backend
from weightspace.landscape import entropy


def test_auto_without_cupy_logs_numpy(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy -> ImportError
    with caplog.at_level(logging.INFO, logger="weightspace.backend"):
        assert backend.get_xp("auto") is np
    assert "backend=auto: CuPy not installed: NumPy" in caplog.text
    assert backend.free_device_bytes(np) is None


def test_standin_auto_logs_cupy_and_reason(standin, caplog):
    with caplog.at_level(logging.INFO, logger="weightspace.backend"):
        assert backend.get_xp("auto") is standin
    assert "CuPy 13.6.0 with 1 CUDA device(s): CuPy" in caplog.text


def test_standin_broken_cuda_is_reported(standin, monkeypatch, caplog):
    def broken():
        raise RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient")

    monkeypatch.setattr(standin.cuda.runtime, "getDeviceCount", broken)
    with caplog.at_level(logging.INFO, logger="weightspace.backend"):
        assert backend.get_xp("auto") is np
    assert "CUDA unusable (RuntimeError: cudaErrorInsufficientDriver" in caplog.text
    try:
        backend.get_xp("cupy")
    except RuntimeError as err:
        assert "backend=cupy: CuPy installed but CUDA unusable" in str(err)
    else:
        raise AssertionError("backend=cupy without a usable device must raise")


def test_standin_entropy_batches_fit_free_device_memory(standin, monkeypatch):
    """8 (N,N) float32 buffers per system in half the free memory: 4 systems of N = 64 per chunk
    when 1 MiB is free; the chunked landscape equals the one-chunk landscape."""
    n = 64
    rng = np.random.default_rng(0)
    J = np.triu(rng.normal(0, 0.05, (n, n)), 1)
    J, h = standin.asarray(J + J.T), standin.asarray(rng.normal(0, 0.2, n))
    refs = standin.asarray(np.where(rng.random((5, n)) < 0.5, 1.0, -1.0))
    x = np.array([0.5, 0.0, -0.5])
    whole = entropy.entropy_landscape(J, h, refs, x)
    monkeypatch.setitem(standin.mem_info, "free", 1 << 20)
    assert entropy.default_batch_size(n, standin, "float32") == (1 << 19) // (8 * n * n * 4) == 4
    calls = []
    real = entropy.sweep_paths
    monkeypatch.setattr(entropy, "sweep_paths", lambda *a, **k: calls.append(a[2].shape[0]) or real(*a, **k))
    chunked = entropy.entropy_landscape(J, h, refs, x)
    assert calls == [4, 4, 2]  # 10 systems (5 references x 2 directions)
    np.testing.assert_allclose(chunked.s, whole.s, atol=1e-6)
