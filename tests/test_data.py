"""Data: IDX reading, offline loading, PCA, embedded MNIST-PCA20, teacher-student."""


import numpy as np
import pytest
from conftest import SHARED_DATA
from omegaconf import OmegaConf

from weightspace.data import DataNotFoundError, load_dataset
from weightspace.data.datasets import load_embedded, teacher_student
from weightspace.data.idx import read_idx, write_idx
from weightspace.data.pca import fit_pca, images_to_unit, project
from weightspace.data.raw import FILES, load_raw


def _write_tiny_mnist(folder, n_train=50, n_test=20, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    sfx = ".gz" if gz else ""
    arrays = {
        FILES["train"][0]: rng.integers(0, 256, (n_train, 28, 28)),
        FILES["train"][1]: rng.integers(0, 10, n_train),
        FILES["test"][0]: rng.integers(0, 256, (n_test, 28, 28)),
        FILES["test"][1]: rng.integers(0, 10, n_test),
    }
    for stem, a in arrays.items():
        write_idx(folder / f"{stem}{sfx}", a)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_offline_loading_from_idx_files(tmp_path, gz):
    arrays = _write_tiny_mnist(tmp_path / "MNIST" / "raw", gz=gz)
    tr_x, tr_y, te_x, te_y = load_raw("mnist", tmp_path, download=False)
    assert tr_x.shape == (50, 28, 28) and te_y.shape == (20,)
    assert (tr_x == arrays[FILES["train"][0]]).all() and (te_y == arrays[FILES["test"][1]]).all()


def test_missing_files_give_one_clear_error(tmp_path):
    with pytest.raises(DataNotFoundError) as err:
        load_raw("fashion", tmp_path / "nowhere", download=False)
    msg = str(err.value)
    assert "\n" not in msg
    assert "train-images-idx3-ubyte" in msg and "nowhere" in msg and "dataset.root" in msg


def test_truncated_idx_file_is_reported(tmp_path):
    _write_tiny_mnist(tmp_path, gz=False)
    p = tmp_path / FILES["train"][0]
    p.write_bytes(p.read_bytes()[:-10])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(p)


def test_pca_is_reproducible_and_matches_svd():
    rng = np.random.default_rng(1)
    x = rng.random((300, 40)) @ rng.random((40, 40))
    a, b = fit_pca(x, 5), fit_pca(x.copy(), 5)
    assert np.array_equal(a.components, b.components)
    # independent method: SVD of the centred data gives the same subspace and variance ratio
    xc = x - x.mean(0)
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
    assert np.isclose(a.explained_variance_ratio, (s[:5] ** 2).sum() / (s**2).sum())
    assert np.allclose(np.abs(a.components @ vt[:5].T), np.eye(5), atol=1e-8)
    # sign convention: largest-magnitude entry of each component is positive
    idx = np.abs(a.components).argmax(1)
    assert (a.components[np.arange(5), idx] > 0).all()
    # projections of the training set are centred and uncorrelated
    z = project(a, x)
    assert np.allclose(z.mean(0), 0, atol=1e-9)
    cov = np.cov(z.T)
    assert np.allclose(cov - np.diag(np.diag(cov)), 0, atol=1e-8)


def test_pca_on_idx_files_is_cached(tmp_path):
    _write_tiny_mnist(tmp_path / "raw")
    d = OmegaConf.create({"name": "t", "source": "idx", "images": "mnist", "pca": 3, "root": str(tmp_path / "raw"),
                          "download": False})
    a = load_dataset(d, cache_dir=str(tmp_path / "cache"))
    assert (tmp_path / "cache" / "mnist_pca3.npz").is_file()
    b = load_dataset(d, n_train=10, subset="random", subset_seed=3, cache_dir=str(tmp_path / "cache"))
    assert a.x_train.shape == (50, 3) and b.x_train.shape == (10, 3)
    assert all(any(np.array_equal(r, s) for s in a.x_train) for r in b.x_train)
    c = load_dataset(d, n_train=10, cache_dir=str(tmp_path / "cache"))
    assert np.array_equal(c.x_train, a.x_train[:10])


def test_embedded_mnist_pca20():
    arrays, meta = load_embedded()
    assert arrays["x_train"].shape == (60000, 20) and arrays["x_test"].shape == (10000, 20)
    assert np.bincount(arrays["y_train"]).tolist()[:2] == [5923, 6742]  # MNIST class counts
    assert np.bincount(arrays["y_test"], minlength=10).sum() == 10000
    assert abs(meta["explained_variance_ratio"] - 0.644) < 0.002
    assert abs(float(arrays["explained_variance_ratio"]) - meta["explained_variance_ratio"]) < 1e-6
    var = arrays["x_train"].astype(np.float64).var(0)
    assert (np.diff(var) < 0).all()  # principal components come in order of variance
    assert abs(np.corrcoef(arrays["x_train"][:, :5].T)[0, 1]) < 1e-3


@pytest.mark.skipif(not (SHARED_DATA / "mnist").is_dir(), reason="../shared/data/mnist not present")
def test_embedded_matches_raw_mnist(tmp_path):
    tr_x, _, te_x, _ = load_raw("mnist", SHARED_DATA / "mnist", download=False)
    pca = fit_pca(images_to_unit(tr_x), 20)
    assert abs(pca.explained_variance_ratio - 0.644) < 0.002
    arrays, _ = load_embedded()
    assert np.allclose(project(pca, images_to_unit(te_x[:100])), arrays["x_test"][:100], atol=1e-4)


def test_teacher_student_labels_come_from_teacher():
    d = teacher_student(8, [8, 6, 4], 200, 50, seed=3)
    assert d["x_train"].shape == (200, 8) and set(np.unique(d["y_train"])) <= set(range(4))
    again = teacher_student(8, [8, 6, 4], 200, 50, seed=3)
    assert np.array_equal(d["y_test"], again["y_test"])
    with pytest.raises(ValueError, match="teacher_widths"):
        teacher_student(8, [9, 4], 10, 10, seed=0)
