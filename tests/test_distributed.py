"""The out-of-core example (examples/out_of_core.py) on a LocalCluster of processes, against NumPy.

Skips without dask.distributed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
pytest.importorskip("dask.array")
pytest.importorskip("array_api_compat")

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "out_of_core.py"


def _example():
    spec = importlib.util.spec_from_file_location("out_of_core", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


def test_example_on_a_local_cluster_matches_numpy(client):
    from losslab.functional import contrastive_loss, contrastive_loss_backward

    example = _example()
    rows, features, chunk_rows, seed = 24_000, 6, 3_000, 11
    x1, x2, y = example.inputs(rows, features, chunk_rows, seed)
    lazy = example.lazy_results(x1, x2, y)
    assert x1.numblocks == (8, 1) and lazy["loss"].ndim == 0  # 8 chunks, only scalars come back
    stats = example.evaluate(client, rows, features, chunk_rows, seed)

    a1, a2, labels = (np.asarray(a) for a in client.compute([x1, x2, y], sync=True))  # small enough here
    g1, _ = contrastive_loss_backward(1.0, a1, a2, labels, margin=2.0)
    expected = {
        "loss": contrastive_loss(a1, a2, labels, margin=2.0),
        "grad_sum": g1.sum(),
        "grad_norm": np.sqrt((g1 * g1).sum()),
        "grad_max_abs": np.abs(g1).max(),
        "grad_nonzero": (g1 != 0).sum(),
    }
    assert stats.keys() == expected.keys()
    for name, value in expected.items():
        np.testing.assert_allclose(stats[name], value, rtol=1e-10, atol=1e-18, err_msg=name)


def test_example_main_on_a_cluster_by_address(client, capsys):
    example = _example()
    address = client.scheduler.address
    assert example.main(["--scheduler", address, "--rows", "5000", "--features", "4", "--chunk-rows", "1000"]) == 0
    out = capsys.readouterr().out
    assert "5 chunks of 1,000 rows" in out and "loss = " in out and "grad_norm = " in out
