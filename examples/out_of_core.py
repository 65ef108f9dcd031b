"""A loss and its gradients over data larger than memory, on a Dask cluster.

Two (rows, features) float64 arrays of embeddings and a 0/1 label per row are
generated lazily from a seed, chunk by chunk, on the workers; the contrastive loss
and the statistics of its gradients are computed in one pass over the chunks. No
array is ever whole: each worker holds a few chunks at a time, and only scalars
come back.

    python examples/out_of_core.py                                 # a LocalCluster of processes here
    python examples/out_of_core.py --scheduler tcp://10.0.0.5:8786 # a running cluster (`dask scheduler`)
    python examples/out_of_core.py --gib 64 --chunk-rows 500000    # choose the size

Without ``--gib``, the inputs add up to 1.5 times this machine's memory (a while to run).
Needs ``pip install "losslab[distributed]"`` (dask[array], distributed, array-api-compat);
on a real cluster, every worker needs losslab installed.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

FEATURES = 16


def inputs(rows: int, features: int, chunk_rows: int, seed: int):
    """The lazy inputs: two embedding batches and one 0/1 label per row, chunked along the rows."""
    import dask.array as da

    rng = da.random.default_rng(seed)
    x1 = rng.normal(0.0, 1.0, size=(rows, features), chunks=(chunk_rows, features))
    x2 = x1 + rng.normal(0.0, 0.5, size=(rows, features), chunks=(chunk_rows, features))
    y = rng.integers(0, 2, size=rows, chunks=chunk_rows)
    return x1, x2, y


def lazy_results(x1, x2, y, margin: float = 2.0) -> dict:
    """The loss and its gradient statistics as lazy 0-d Dask arrays (nothing computed yet)."""
    import dask.array as da

    from losslab.functional import contrastive_loss, contrastive_loss_backward

    loss = contrastive_loss(x1, x2, y, margin=margin)
    g1, _ = contrastive_loss_backward(1.0, x1, x2, y, margin=margin)  # the other is -g1
    return {"loss": loss, "grad_sum": da.sum(g1), "grad_norm": da.sqrt(da.sum(g1 * g1)),
            "grad_max_abs": da.max(da.abs(g1)), "grad_nonzero": da.sum(g1 != 0)}


def evaluate(client, rows: int, features: int, chunk_rows: int, seed: int, margin: float = 2.0) -> dict:
    """Compute the loss and gradient statistics on ``client``'s cluster: a dict of Python numbers."""
    x1, x2, y = inputs(rows, features, chunk_rows, seed)
    lazy = lazy_results(x1, x2, y, margin)
    values = client.compute(list(lazy.values()), sync=True)
    return {name: np.asarray(value).item() for name, value in zip(lazy, values)}


def _default_rows(features: int) -> int:
    import psutil

    return int(1.5 * psutil.virtual_memory().total / (2 * features * 8))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scheduler", metavar="ADDRESS", help="a running Dask scheduler (default: a LocalCluster)")
    parser.add_argument("--workers", type=int, default=None, help="LocalCluster worker processes (default: CPUs)")
    parser.add_argument("--gib", type=float, help="size of the inputs in GiB (default: 1.5 x this machine's memory)")
    parser.add_argument("--rows", type=int, help="rows of each input (overrides --gib)")
    parser.add_argument("--features", type=int, default=FEATURES)
    parser.add_argument("--chunk-rows", type=int, default=250_000, help="rows per chunk (default 250000: 32 MiB)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from distributed import Client, LocalCluster

    rows = args.rows or (int(args.gib * 2**30 / (2 * args.features * 8)) if args.gib else _default_rows(args.features))
    size = 2 * rows * args.features * 8 / 2**30
    print(f"inputs: 2 x ({rows:,}, {args.features}) float64 = {size:.2f} GiB, "
          f"{-(-rows // args.chunk_rows)} chunks of {args.chunk_rows:,} rows")
    start = time.perf_counter()
    if args.scheduler:
        with Client(args.scheduler) as client:
            stats = evaluate(client, rows, args.features, args.chunk_rows, args.seed)
    else:
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            stats = evaluate(client, rows, args.features, args.chunk_rows, args.seed)
    for name, value in stats.items():
        print(f"{name:>13} = {value:.10g}")
    print(f"({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
