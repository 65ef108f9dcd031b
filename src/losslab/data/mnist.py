"""MNIST loaders with the book's conventions (``load_mnist`` of 深度学习入门).

Both loaders return ``(x_train, t_train), (x_test, t_test)`` and take the
book's three switches:

* ``normalize``: pixels ``/ 255`` as ``dtype`` in ``[0, 1]``; else the
  ``uint8`` values 0-255 are kept.
* ``flatten``: images as rows of ``rows * cols`` (784) pixels; else
  ``(N, 1, rows, cols)``, one channel, as the book's CNN chapters expect.
* ``one_hot_label``: labels as ``(N, 10)`` rows of ``dtype``; else ``int64``.

:func:`load_embedded_mnist` reads the 5,000-digit subset that ships inside the
package (no download, see ``MNIST_PROVENANCE.md``); :func:`load_mnist` reads
the full MNIST (60,000 + 10,000) from the four standard IDX files, and can
fetch them (``download=True``, with the optional dependency pooch).
"""

from __future__ import annotations

import hashlib
import io
import os
from importlib import resources
from pathlib import Path
from typing import Union

import numpy as np

from .._validation import FLOAT_DTYPES, check_bool
from .idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx

__all__ = [
    "MNIST_FILES",
    "MNIST_MIRRORS",
    "MNIST_SHA256",
    "DownloadError",
    "load_embedded_mnist",
    "load_mnist",
    "verify_sha256",
]

StrPath = Union[str, "os.PathLike[str]"]
Split = tuple[np.ndarray, np.ndarray]

NUM_CLASSES = 10
EMBEDDED_FILE = "mnist_5k.npz"

MNIST_FILES: tuple[str, ...] = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
"""The four standard MNIST files, without the ``.gz`` suffix."""

MNIST_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
"""SHA-256 of the four gzipped files (9,912,422 / 28,881 / 1,648,877 / 4,542 bytes),
as pinned in torchvision (``torchvision/prototype/datasets/_builtin/mnist.py``;
its stable ``datasets/mnist.py`` pins MD5s of the same files) and, identically,
in many other public projects. A download that does not match is refused."""

MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
"""Mirrors serving the same four ``.gz`` files, tried in this order."""


# ----------------------------------------------------------------- the book's format


def _check_dtype(dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be np.float32 or np.float64, got {dtype!r}") from exc
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be np.float32 or np.float64, got {dt}")
    return dt


def _book_format(
    x: np.ndarray, t: np.ndarray, *, normalize: bool, flatten: bool, one_hot_label: bool, dtype: np.dtype
) -> Split:
    """``x``: uint8 ``(N, rows, cols)`` or ``(N, 784)``; ``t``: integer labels. Returns fresh arrays."""
    n = len(x)
    x = x.reshape(n, -1) if flatten else x.reshape(n, 1, 28, 28) if x.ndim == 2 else x[:, None]
    x = (x / np.asarray(255, dtype=dtype)).astype(dtype, copy=False) if normalize else x.copy()
    labels = t.astype(np.int64)
    if one_hot_label:
        one_hot = np.zeros((n, NUM_CLASSES), dtype=dtype)
        one_hot[np.arange(n), labels] = 1
        return x, one_hot
    return x, labels


def _check_options(normalize, flatten, one_hot_label, dtype) -> dict:
    return dict(
        normalize=check_bool(normalize, "normalize"),
        flatten=check_bool(flatten, "flatten"),
        one_hot_label=check_bool(one_hot_label, "one_hot_label"),
        dtype=_check_dtype(dtype),
    )


# ----------------------------------------------------------------- the embedded subset


def load_embedded_mnist(
    normalize: bool = True, flatten: bool = True, one_hot_label: bool = False, *, dtype=np.float32
) -> tuple[Split, Split]:
    """The 5,000 real MNIST digits shipped with losslab: 4,000 to train, 1,000 to test.

    A stratified split, 400 training and 100 test digits per class (fixed by
    ``tools/convert_mnist.py``; see ``MNIST_PROVENANCE.md`` for the source,
    the licence and the seed). The training set is shuffled; no download.

    Args:
        normalize: pixels ``/ 255`` as ``dtype`` in ``[0, 1]``; else ``uint8`` 0-255.
        flatten: images ``(N, 784)``; else ``(N, 1, 28, 28)``.
        one_hot_label: labels ``(N, 10)`` of ``dtype``; else ``int64`` in ``[0, 9]``.
        dtype: ``np.float32`` (default) or ``np.float64``.

    Returns:
        ``((x_train, t_train), (x_test, t_test))``, fresh arrays the caller may modify.

    Example:
        >>> (x_train, t_train), (x_test, t_test) = load_embedded_mnist(one_hot_label=True)
        >>> x_train.shape, t_train.shape, x_test.shape, x_train.dtype
        ((4000, 784), (4000, 10), (1000, 784), dtype('float32'))
    """
    opts = _check_options(normalize, flatten, one_hot_label, dtype)
    raw = resources.files(__package__).joinpath(EMBEDDED_FILE).read_bytes()
    with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
        train = _book_format(npz["x_train"], npz["t_train"], **opts)
        test = _book_format(npz["x_test"], npz["t_test"], **opts)
    return train, test


# ----------------------------------------------------------------- checksums


def _sha256(path: StrPath) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(path: StrPath, sha256: str) -> None:
    """Raise ``ValueError`` (naming the file and both digests) unless ``path`` has this SHA-256.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     p = os.path.join(d, "empty")
        ...     open(p, "wb").close()
        ...     verify_sha256(p, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    """
    found = _sha256(path)
    if found != sha256.lower():
        raise ValueError(
            f"{os.fspath(path)}: checksum mismatch: expected SHA-256 {sha256.lower()}, found {found}; "
            "the file is damaged or not the expected one: delete it and fetch it again"
        )


# ----------------------------------------------------------------- the full MNIST


def _find(directory: Path, base: str) -> Path | None:
    for name in (base, base + ".gz"):
        if (directory / name).is_file():
            return directory / name
    return None


def _not_found(missing: list[str], where: Path | None) -> FileNotFoundError:
    names = ", ".join(MNIST_FILES)
    if where is None:
        place = "no path was given"
    elif not where.is_dir():
        place = f"path={os.fspath(where)!r} is not a directory"
    else:
        place = f"missing from path={os.fspath(where)!r}: {', '.join(missing)}"
    return FileNotFoundError(
        f"load_mnist needs the four MNIST IDX files {names} (plain or .gz); {place}. "
        "Put the four files in one directory and pass path='that/directory', "
        "or pass download=True to fetch them from the public mirrors (SHA-256 checked) "
        'into cache_dir; this needs pooch: pip install ".[download]" (from the losslab checkout). '
        "load_embedded_mnist() needs no file: it reads the 5,000-digit subset shipped with losslab."
    )


def _import_pooch():
    try:
        import pooch
    except ImportError as exc:
        raise ImportError(
            "load_mnist(download=True) needs the optional dependency pooch: "
            'pip install ".[download]" from the losslab checkout, or pip install pooch; '
            "or put the four MNIST files in a directory and pass path=..."
        ) from exc
    return pooch


def _fetch(cache_dir: Path | None) -> dict[str, Path]:
    """The four ``.gz`` files in ``cache_dir``: cached ones verified, missing ones downloaded."""
    if cache_dir is None:
        cache_dir = Path(_import_pooch().os_cache("losslab")) / "mnist"
    if cache_dir.exists() and not cache_dir.is_dir():
        raise ValueError(f"cache_dir={os.fspath(cache_dir)!r} is a file, not a directory")
    created = [p for p in (cache_dir, *cache_dir.parents) if not p.exists()]
    found = {}
    try:
        for base in MNIST_FILES:
            name = base + ".gz"
            target = cache_dir / name
            if target.is_file():
                verify_sha256(target, MNIST_SHA256[name])
            else:
                _download(name, cache_dir)
            found[base] = target
    except BaseException:
        _remove_empty(created)
        raise
    return found


def _remove_empty(created: list[Path]) -> None:
    """Remove the directories a failed download created, innermost first, if they stayed empty."""
    for directory in created:
        try:
            directory.rmdir()
        except OSError:  # not empty (a file was fetched), or already gone
            return


class DownloadError(OSError):
    """No mirror served a file: ``name`` the file, ``errors`` one line per mirror tried."""

    def __init__(self, name: str, errors: list[str]) -> None:
        super().__init__(f"could not download {name} from any mirror (is the network reachable?): " + "; ".join(errors))
        self.name, self.errors = name, errors


def _download(name: str, cache_dir: Path) -> None:
    # pooch writes to a temporary file and moves it into place only once its
    # SHA-256 matches: an interrupted download never leaves a file that looks complete.
    pooch = _import_pooch()
    if hasattr(pooch, "get_logger"):
        pooch.get_logger().setLevel("WARNING")  # no "Downloading data from ..." line per attempt
    errors = []
    for mirror in MNIST_MIRRORS:
        try:
            pooch.retrieve(
                mirror + name, known_hash=f"sha256:{MNIST_SHA256[name]}", fname=name, path=cache_dir, progressbar=False
            )
            return
        except (OSError, ValueError) as exc:  # network errors (requests' are OSErrors), hash mismatch
            errors.append(f"{mirror + name}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
    raise DownloadError(name, errors)


def _read_split(images_path: Path, labels_path: Path) -> Split:
    x, t = read_idx(images_path), read_idx(labels_path)
    if x.ndim != 3:
        raise ValueError(
            f"{images_path}: expected an image file (magic 0x{IMAGES_MAGIC:08x}), found a label file of shape {x.shape}"
        )
    if t.ndim != 1:
        raise ValueError(
            f"{labels_path}: expected a label file (magic 0x{LABELS_MAGIC:08x}), found an image file of shape {t.shape}"
        )
    if len(x) != len(t):
        raise ValueError(
            f"{labels_path}: expected one label per image of {images_path} ({len(x)} images), found {len(t)} labels"
        )
    if t.size and t.max() >= NUM_CLASSES:
        raise ValueError(f"{labels_path}: expected labels 0-9, found the label {int(t.max())}")
    return x, t


def load_mnist(
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    *,
    path: StrPath | None = None,
    download: bool = False,
    cache_dir: StrPath | None = None,
    dtype=np.float32,
) -> tuple[Split, Split]:
    """The full MNIST, 60,000 training and 10,000 test digits, from its four IDX files.

    Where the files come from:

    1. ``path``: a directory holding ``train-images-idx3-ubyte``,
       ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and
       ``t10k-labels-idx1-ubyte``, each plain or with ``.gz``. They are read
       as they are, with no checksum (any IDX files of MNIST's layout work,
       Fashion-MNIST's too), but with every structural check of :func:`read_idx`.
    2. Else, with ``download=True``: the four ``.gz`` files in ``cache_dir``
       (default: pooch's cache folder for "losslab", subfolder ``mnist``). A
       cached file is checked against its SHA-256 in :data:`MNIST_SHA256`
       (see its comment for the source; a mismatch raises ``ValueError``); a
       missing one is fetched from :data:`MNIST_MIRRORS` with pooch, which
       verifies the SHA-256 before it moves the file into place. pooch is an
       optional dependency: ``pip install ".[download]"`` from the checkout.
    3. Else ``FileNotFoundError``, saying which files are missing and how to
       supply them.

    Args:
        normalize, flatten, one_hot_label, dtype: as in :func:`load_embedded_mnist`
            (``flatten=False`` gives ``(N, 1, rows, cols)``).
        path: a directory holding the four files.
        download: fetch the files when ``path`` does not provide them.
        cache_dir: where ``download=True`` keeps the ``.gz`` files.

    Returns:
        ``((x_train, t_train), (x_test, t_test))``, fresh arrays.

    Raises:
        FileNotFoundError: no complete set of files and no ``download``.
        ValueError: a damaged file (see :func:`read_idx`), a label count that
            is not the image count, a checksum mismatch, ``cache_dir`` without
            ``download=True``.
        ImportError: ``download=True`` without pooch installed.

    Example:
        >>> load_mnist()  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        FileNotFoundError: load_mnist needs the four MNIST IDX files train-images-idx3-ubyte, ...
    """
    opts = _check_options(normalize, flatten, one_hot_label, dtype)
    download = check_bool(download, "download")
    if cache_dir is not None and not download:
        raise ValueError(
            "cache_dir is where download=True keeps the files: pass download=True with it, "
            "or pass path=... to read files you placed yourself"
        )
    files: dict[str, Path] | None = None
    missing = list(MNIST_FILES)
    directory = None
    if path is not None:
        directory = Path(path)
        if not directory.is_dir():
            raise _not_found(missing, directory)
        located = {base: _find(directory, base) for base in MNIST_FILES}
        missing = [base for base, p in located.items() if p is None]
        if not missing:
            files = located  # type: ignore[assignment]
    if files is None:
        if not download:
            raise _not_found(missing, directory)
        files = _fetch(None if cache_dir is None else Path(cache_dir))
    train = _read_split(files["train-images-idx3-ubyte"], files["train-labels-idx1-ubyte"])
    test = _read_split(files["t10k-images-idx3-ubyte"], files["t10k-labels-idx1-ubyte"])
    return _book_format(*train, **opts), _book_format(*test, **opts)
