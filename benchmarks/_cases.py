"""The benchmark grid: what is timed, and how each library runs it.

A case is a plain dict (it travels to the worker processes as JSON):
``{"kind": ..., "shape": [...], "dtype": "float32"}``. Kinds:

* ``ce``: softmax cross-entropy, logits ``(B, C)``, class-index targets;
* ``mse``, ``l1``, ``smooth_l1``, ``huber``, ``bce_logits``: a flat input of ``shape[0]`` elements;
* ``mlp_epoch``: one training epoch of a 784-100-10 ReLU MLP (batch 100, SGD lr 0.1,
  60,000 samples: the embedded MNIST training digits repeated 15 times);
* ``stream1`` / ``stream2``: the bandwidth floor, NumPy reading one (two) arrays of the
  case's size and writing one fresh array of that size, on the worker's threads
  (``*_pre``: into a preallocated array, for reference).

Each call timed is forward + backward with mean reduction: losslab's loss object
``L(x, t); L.backward()`` (its training-loop API), PyTorch's functional loss and
``loss.backward()`` on a leaf tensor whose ``.grad`` is reset to ``None``.
"""

from __future__ import annotations

POINTWISE = ("mse", "l1", "smooth_l1", "huber", "bce_logits")
LOSS_KINDS = ("ce",) + POINTWISE
CE_GRID = [(1, 10), (32, 10), (256, 10), (4096, 10), (65536, 10), (256, 1000), (4096, 1000), (16384, 1000)]
POINTWISE_SIZES = [1_000, 1_000_000, 10_000_000]
DTYPES = ("float32", "float64")
MLP_SAMPLES = 60_000
MLP_EPOCHS_FOR_ACCURACY = 10


def loss_cases(kinds=LOSS_KINDS, dtypes=DTYPES, quick: bool = False) -> list[dict]:
    cases = []
    for dtype in dtypes:
        if "ce" in kinds:
            grid = [s for s in CE_GRID if not quick or s[0] * s[1] <= 4096 * 1000]
            cases += [{"kind": "ce", "shape": list(s), "dtype": dtype} for s in grid]
        for kind in POINTWISE:
            if kind in kinds:
                sizes = [n for n in POINTWISE_SIZES if not quick or n <= 1_000_000]
                cases += [{"kind": kind, "shape": [n], "dtype": dtype} for n in sizes]
    return cases


def floor_cases(case: dict) -> list[tuple[str, dict]]:
    """The streams that bound a large loss case: ``[("floor", fresh output), ("floor_pre", preallocated)]``.

    Cross-entropy reads one array (the logits), the pointwise losses two (input and
    target); each writes one array of the input's size (the gradient).
    """
    reads = 1 if case["kind"] == "ce" else 2
    size = size_of(case)
    return [
        ("floor", {"kind": f"stream{reads}", "shape": [size], "dtype": case["dtype"]}),
        ("floor_pre", {"kind": f"stream{reads}_pre", "shape": [size], "dtype": case["dtype"]}),
    ]


def size_of(case: dict) -> int:
    n = 1
    for s in case["shape"]:
        n *= s
    return n


def is_large(case: dict) -> bool:
    """Past the last-level cache (32 MiB here): the sizes where memory bandwidth bounds the time."""
    return case["kind"] in LOSS_KINDS and size_of(case) >= 10_000_000


def label(case: dict) -> str:
    kind, shape = case["kind"], case["shape"]
    if kind == "ce":
        return f"cross_entropy {shape[0]}x{shape[1]}"
    if kind == "mlp_epoch":
        return "MLP epoch 784-100-10"
    n = shape[0]
    size = f"{n // 1_000_000}e6" if n >= 1_000_000 else f"{n}"
    if n == 10_000_000:
        size = "1e7"
    elif n == 1_000_000:
        size = "1e6"
    elif n == 1_000:
        size = "1e3"
    return f"{kind} {size}"


def key(case: dict) -> str:
    return f"{case['kind']}:{'x'.join(map(str, case['shape']))}:{case['dtype']}"
