"""Data: MNIST / Fashion-MNIST (IDX, offline-capable), PCA-K projection, embedded MNIST-PCA20, teacher-student."""

from .datasets import Dataset, load_dataset
from .raw import DataNotFoundError

__all__ = ["Dataset", "DataNotFoundError", "load_dataset"]
