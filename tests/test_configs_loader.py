import numpy as np
import pytest

from weightspace.ensemble.configs import load_configs
from weightspace.ensemble.store import open_store


def test_store_and_npy_give_the_same_configs(tmp_path):
    widths = [3, 2, 2]
    rng = np.random.default_rng(0)
    configs = rng.choice([-1, 1], size=(50, 10)).astype(np.int8)
    store = open_store(tmp_path / "s", arch=widths, scenario="over_para", dataset="mnist_pca20")
    with store.writer("w") as w:
        w.add_batch(configs, np.full(50, 0.8, np.float32), np.arange(50))
    np.save(tmp_path / "c.npy", configs)
    a, wa = load_configs(tmp_path / "s", limit=20)
    b, wb = load_configs(tmp_path / "c.npy", widths, limit=20)
    assert wa == wb == widths and np.array_equal(a, b) and a.shape == (20, 10)
    with pytest.raises(ValueError, match="requested widths"):
        load_configs(tmp_path / "s", [3, 3, 2])
    with pytest.raises(ValueError, match="layer widths"):
        load_configs(tmp_path / "c.npy")
    with pytest.raises(ValueError, match="does not match widths"):
        load_configs(tmp_path / "c.npy", [3, 3, 2])
    with pytest.raises(ValueError, match="not found"):
        load_configs(tmp_path / "nope.npy", widths)
