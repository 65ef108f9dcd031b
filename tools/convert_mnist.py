"""Convert the 5,000-digit MNIST CSV into the package's embedded data set.

    python tools/convert_mnist.py [--source CSV.GZ] [--out NPZ] [--seed N]

Defaults: ``../shared/data/mnist_5k.csv.gz`` (relative to the repository root)
into ``src/losslab/data/mnist_5k.npz``, seed 1998.

The CSV holds one digit per row: 784 pixels 0-255 (28x28, row-major) then the
label. The split is stratified: for each class, a permutation of its rows
drawn from ``np.random.default_rng(seed)`` (classes 0 to 9 in turn) gives 100
test rows (its first 100) and 400 training rows (the rest); then the same
generator shuffles the training rows, then the test rows (the CSV is sorted by
class: a prefix of either set holds every class).

The .npz holds uint8 arrays x_train (4000, 784), t_train (4000,), x_test
(1000, 784), t_test (1000,), plus train_rows / test_rows (the 0-based CSV row
of each digit, uint16). The zip entries carry a fixed timestamp, so the same
input and seed give the same bytes.
"""

from __future__ import annotations

import argparse
import gzip
import io
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT.parent / "shared" / "data" / "mnist_5k.csv.gz"
DEFAULT_OUT = ROOT / "src" / "losslab" / "data" / "mnist_5k.npz"
SEED = 1998
TEST_PER_CLASS = 100
NUM_CLASSES = 10
PIXELS = 28 * 28


def read_csv(source: Path) -> tuple[np.ndarray, np.ndarray]:
    """Pixels ``(N, 784)`` and labels ``(N,)``, both uint8, checked."""
    with gzip.open(source, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)
    if table.shape[1] != PIXELS + 1:
        raise ValueError(f"{source}: expected {PIXELS + 1} columns (784 pixels, label), found {table.shape[1]}")
    x, t = table[:, :PIXELS], table[:, PIXELS]
    if x.min() < 0 or x.max() > 255:
        raise ValueError(f"{source}: expected pixels 0-255, found {x.min()} to {x.max()}")
    if t.min() < 0 or t.max() >= NUM_CLASSES:
        raise ValueError(f"{source}: expected labels 0-9, found {t.min()} to {t.max()}")
    return x.astype(np.uint8), t.astype(np.uint8)


def stratified_split(labels: np.ndarray, test_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(train_rows, test_rows)``: ``test_per_class`` test rows per class, the rest train."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in range(NUM_CLASSES):
        rows = rng.permutation(np.flatnonzero(labels == c))
        if len(rows) <= test_per_class:
            raise ValueError(f"class {c} has {len(rows)} rows, not more than test_per_class={test_per_class}")
        test.append(rows[:test_per_class])
        train.append(rows[test_per_class:])
    train_rows = rng.permutation(np.concatenate(train))
    test_rows = rng.permutation(np.concatenate(test))
    return train_rows, test_rows


def write_npz(out: Path, arrays: dict[str, np.ndarray]) -> None:
    """A compressed .npz with a fixed timestamp in each entry (byte-reproducible), written atomically."""
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue(), compresslevel=9)
    tmp.replace(out)


def convert(source: Path, out: Path, seed: int = SEED) -> dict[str, np.ndarray]:
    x, t = read_csv(source)
    train_rows, test_rows = stratified_split(t, TEST_PER_CLASS, seed)
    arrays = {
        "x_train": x[train_rows],
        "t_train": t[train_rows],
        "x_test": x[test_rows],
        "t_test": t[test_rows],
        "train_rows": train_rows.astype(np.uint16),
        "test_rows": test_rows.astype(np.uint16),
    }
    write_npz(out, arrays)
    return arrays


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="the mnist_5k.csv.gz file")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the .npz to write")
    parser.add_argument("--seed", type=int, default=SEED, help=f"the split's seed (default {SEED})")
    args = parser.parse_args(argv)
    arrays = convert(args.source, args.out, args.seed)
    counts = [np.bincount(arrays[k], minlength=NUM_CLASSES) for k in ("t_train", "t_test")]
    print(
        f"wrote {args.out} ({args.out.stat().st_size:,} bytes): "
        f"train {arrays['x_train'].shape} per class {counts[0].tolist()}, "
        f"test {arrays['x_test'].shape} per class {counts[1].tolist()}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
