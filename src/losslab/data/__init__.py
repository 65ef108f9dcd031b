"""Data: MNIST with the book's conventions, the IDX reader, and mini-batches.

* :func:`load_embedded_mnist`: 5,000 real MNIST digits shipped in the package
  (4,000 train / 1,000 test, stratified), no download.
* :func:`load_mnist`: the full MNIST from its four IDX files in a directory,
  or fetched with ``download=True`` (optional dependency pooch).
* :func:`read_idx`: the IDX reader, plain or gzipped, with checks that name the file.
* :func:`iterate_minibatches`, :func:`sample_minibatch`, :func:`iterations_per_epoch`:
  epochs without replacement, the textbook's sampling with replacement.
"""

from .batches import iterate_minibatches, iterations_per_epoch, sample_minibatch
from .idx import read_idx
from .mnist import (
    MNIST_FILES,
    MNIST_MIRRORS,
    MNIST_SHA256,
    DownloadError,
    load_embedded_mnist,
    load_mnist,
    verify_sha256,
)

__all__ = [
    "DownloadError",
    "MNIST_FILES",
    "MNIST_MIRRORS",
    "MNIST_SHA256",
    "iterate_minibatches",
    "iterations_per_epoch",
    "load_embedded_mnist",
    "load_mnist",
    "read_idx",
    "sample_minibatch",
    "verify_sha256",
]
