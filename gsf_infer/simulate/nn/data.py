"""The data set of ``simulate nn``: scikit-learn's handwritten digits, split and standardised.

Responsible for loading the 1797 8x8 images that ship inside scikit-learn (no download), the
train/test split, the input scaling and the one-hot targets. Imports NumPy (scikit-learn
lazily); no JAX.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["CLASSES", "Digits", "load_split"]

#: Number of classes (outputs of the network).
CLASSES = 10


@dataclass(frozen=True)
class Digits:
    """A train/test split of the digits, inputs standardised, targets one-hot.

    Attributes
    ----------
    x_train, x_test : numpy.ndarray, shape (n, 64)
        Pixels divided by 16, centred by the training mean of each pixel, and divided by one
        common scale so that the training inputs have mean squared norm 64 (unit variance per
        coordinate on average). A common scale rather than one per pixel: border pixels that
        are almost always blank would otherwise be blown up to unit variance.
    y_train, y_test : numpy.ndarray, shape (n, 10)
        One-hot targets.
    labels_test : numpy.ndarray of int, shape (n_test,)
        Test labels (for the accuracy in the truth file).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    labels_test: np.ndarray


@lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    """Pixels in [0, 1], shape (1797, 64), and labels (read-only, loaded once per process)."""
    # deferred: imports scikit-learn, needed only when the digits are first read
    from sklearn.datasets import load_digits

    bunch = load_digits()
    pixels = np.asarray(bunch.data, dtype=float) / 16.0
    labels = np.asarray(bunch.target, dtype=int)
    pixels.setflags(write=False)
    labels.setflags(write=False)
    return pixels, labels


def load_split(test_fraction: float, split_seed: int) -> Digits:
    """Load the digits and split them at random into training and test sets.

    Parameters
    ----------
    test_fraction : float
        Fraction of the images held out for testing (rounded to a whole number of images).
    split_seed : int
        Seed of the permutation (``numpy.random.default_rng``).

    Returns
    -------
    Digits
    """
    pixels, labels = _digits()
    order = np.random.default_rng(int(split_seed)).permutation(len(labels))
    n_test = int(round(test_fraction * len(labels)))
    test, train = order[:n_test], order[n_test:]
    mean = pixels[train].mean(axis=0)
    centred = pixels - mean
    scale = float(np.sqrt(np.mean(np.sum(centred[train] ** 2, axis=1)) / pixels.shape[1]))
    x = centred / scale
    y = np.eye(CLASSES)[labels]
    return Digits(
        x_train=x[train], y_train=y[train], x_test=x[test], y_test=y[test],
        labels_test=labels[test],
    )  # fmt: skip
