"""A benchmark worker: one library at one thread count, driven by ``run.py`` over stdin/stdout.

Started as ``python benchmarks/_worker.py LIB THREADS`` with LIB ``losslab``,
``losslab-numpy`` (the fused paths on NumPy kernels only) or ``torch``, and the
thread variables already set in its environment. Reads one JSON request per line:

* ``{"op": "info"}`` -> library versions, BLAS and threads as threadpoolctl sees them;
* ``{"op": "prepare", "case": ..., "target": s, "slot": name, "clear": bool}`` -> builds
  the inputs (in a named slot; ``clear`` drops the other slots first), runs the call
  twice (warm-up: numba loads or compiles here), and picks how many calls make one
  sample of about ``target`` seconds;
* ``{"op": "sample", "slot": name, "warm": s}`` -> seconds per call over that many calls (garbage collector
  off), after as many untimed calls as fit in ``warm`` seconds (none for a call longer than that), so that a
  sample measures the steady state of back-to-back calls, not the wake-up of idle cores;
* ``{"op": "value", "slot": name}`` -> the loss value of that slot's registry call (a float; None if missing);
* ``{"op": "accuracy", "dtype": ..., "epochs": E}`` -> test accuracy of the MLP after E epochs;
* ``{"op": "quit"}``.

A losslab worker never imports torch, and the torch worker uses losslab only to load
the embedded MNIST digits and draw the initial weights, so that both networks start
from the same weights and see the batches in the same order.
"""

from __future__ import annotations

import gc
import json
import math
import os
import sys
import time

import numpy as np

LIB, THREADS = sys.argv[1], int(sys.argv[2])
SEED = 0


# --------------------------------------------------------------------------- threads


def _split(fn, n: int) -> None:
    """``fn(lo, hi)`` over ``0:n`` on THREADS threads (NumPy releases the GIL in its loops)."""
    if THREADS == 1:
        fn(0, n)
        return
    from concurrent.futures import ThreadPoolExecutor

    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(THREADS - 1)
    bounds = [n * k // THREADS for k in range(THREADS + 1)]
    futures = [_pool.submit(fn, bounds[k], bounds[k + 1]) for k in range(1, THREADS)]
    fn(bounds[0], bounds[1])
    for f in futures:
        f.result()


_pool = None


# --------------------------------------------------------------------------- inputs


def _inputs(case):
    rng = np.random.default_rng(SEED)
    dtype = np.dtype(case["dtype"])
    kind, shape = case["kind"], case["shape"]
    if kind == "ce":
        x = (rng.standard_normal(shape, dtype=np.float64) * 2).astype(dtype)
        return x, rng.integers(0, shape[1], shape[0])
    x = (rng.standard_normal(shape[0], dtype=np.float64) * 2).astype(dtype)
    t = rng.random(shape[0]) if kind == "bce_logits" else rng.standard_normal(shape[0])
    return x, t.astype(dtype)


def _stream(case):
    """The floor: read one or two arrays, write one (fresh, or preallocated with ``_pre``)."""
    dtype = np.dtype(case["dtype"])
    n = case["shape"][0]
    reads = int(case["kind"][6])
    pre = case["kind"].endswith("_pre")
    x = np.full(n, 1.5, dtype)
    t = np.full(n, 0.5, dtype)
    held = np.empty(n, dtype) if pre else None

    def call():
        out = held if pre else np.empty(n, dtype)
        if reads == 1:
            _split(lambda lo, hi: np.negative(x[lo:hi], out=out[lo:hi]), n)
        else:
            _split(lambda lo, hi: np.subtract(x[lo:hi], t[lo:hi], out=out[lo:hi]), n)
        return out

    return call


def _mlp_data(dtype, repeat):
    from losslab.data import load_embedded_mnist

    (x_train, t_train), (x_test, t_test) = load_embedded_mnist(dtype=dtype)
    if repeat > 1:
        x_train, t_train = np.tile(x_train, (repeat, 1)), np.tile(t_train, repeat)
    return x_train, t_train, x_test, t_test


def _initial_weights(dtype):
    """The losslab network's initial parameters (He init from seed 0): shared by both libraries."""
    from losslab.layers import MultiLayerNet

    net = MultiLayerNet(784, [100], 10, rng=SEED, dtype=dtype)
    return [p.data.copy() for p in net.parameters()]


# --------------------------------------------------------------------------- losslab


def _losslab_loss(case):
    from losslab import nn

    kind = case["kind"]
    loss = {
        "ce": nn.CrossEntropyLoss,
        "mse": nn.MSELoss,
        "l1": nn.L1Loss,
        "smooth_l1": nn.SmoothL1Loss,
        "huber": nn.HuberLoss,
        "bce_logits": nn.BCEWithLogitsLoss,
    }[kind]()
    x, t = _inputs(case)

    def call():
        loss(x, t)
        return loss.backward()

    return call


class _LosslabMLP:
    def __init__(self, dtype, repeat):
        from losslab.layers import MultiLayerNet
        from losslab.optim import SGD

        self.net = MultiLayerNet(784, [100], 10, rng=SEED, dtype=dtype)
        self.opt = SGD(self.net.parameters(), lr=0.1)
        self.x, self.t, self.x_test, self.t_test = _mlp_data(dtype, repeat)
        self.rng = np.random.default_rng(SEED + 1)

    def epoch(self) -> float:
        from losslab.train.trainer import fit

        history = fit(self.net, self.opt, (self.x, self.t), epochs=1, batch_size=100, rng=self.rng)
        return history.epoch_seconds[0]  # the training loop only, not fit's accuracy pass after it

    def accuracy(self) -> float:
        return self.net.accuracy(self.x_test, self.t_test)


# --------------------------------------------------------------------------- torch


def _torch_loss(case):
    import torch
    import torch.nn.functional as F

    kind = case["kind"]
    fn = {
        "ce": F.cross_entropy,
        "mse": F.mse_loss,
        "l1": F.l1_loss,
        "smooth_l1": F.smooth_l1_loss,
        "huber": F.huber_loss,
        "bce_logits": F.binary_cross_entropy_with_logits,
    }[kind]
    x, t = _inputs(case)
    xt = torch.from_numpy(x).requires_grad_(True)
    tt = torch.from_numpy(t)

    def call():
        xt.grad = None
        fn(xt, tt).backward()
        return xt.grad

    return call


class _TorchMLP:
    def __init__(self, dtype, repeat):
        import torch

        tdtype = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[np.dtype(dtype)]
        w1, b1, w2, b2 = _initial_weights(dtype)
        self.model = torch.nn.Sequential(torch.nn.Linear(784, 100), torch.nn.ReLU(), torch.nn.Linear(100, 10))
        self.model.to(tdtype)
        with torch.no_grad():
            for p, a in zip(self.model.parameters(), (w1.T, b1, w2.T, b2), strict=True):
                p.copy_(torch.from_numpy(np.ascontiguousarray(a)))
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.1)
        x, t, x_test, t_test = _mlp_data(dtype, repeat)
        self.x, self.t = torch.from_numpy(x), torch.from_numpy(t)
        self.x_test, self.t_test = torch.from_numpy(x_test), torch.from_numpy(t_test)
        self.rng = np.random.default_rng(SEED + 1)  # the same permutations as losslab's fit

    def epoch(self) -> float:
        import torch
        import torch.nn.functional as F

        order = torch.from_numpy(self.rng.permutation(len(self.x)))
        start = time.perf_counter()
        for i in range(0, len(order), 100):
            idx = order[i : i + 100]
            loss = F.cross_entropy(self.model(self.x[idx]), self.t[idx])
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
        return time.perf_counter() - start

    def accuracy(self) -> float:
        import torch

        with torch.no_grad():
            return float((self.model(self.x_test).argmax(1) == self.t_test).double().mean())


# --------------------------------------------------------------------------- requests


def _info() -> dict:
    info = {
        "lib": LIB,
        "threads": THREADS,
        "numpy": np.__version__,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE"),
        "cores": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,  # the pinned ones
    }
    if LIB == "torch":
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    elif LIB == "jax":
        import jax
        import optax

        info["jax"], info["optax"] = jax.__version__, optax.__version__
    else:
        import losslab
        from losslab import _fast

        info["losslab"] = losslab.__version__
        info["losslab_backend"] = _fast.backend()
        info["losslab_threads"] = _fast.get_num_threads()
        if info["losslab_backend"] == "numba":
            import numba

            info["numba"] = numba.__version__
    try:
        from threadpoolctl import threadpool_info

        info["threadpools"] = [
            {
                k: p.get(k)
                for k in (
                    "user_api",
                    "internal_api",
                    "prefix",
                    "version",
                    "architecture",
                    "num_threads",
                    "threading_layer",
                )
            }
            for p in threadpool_info()
        ]
    except ImportError:
        info["threadpools"] = None
    return info


def _build(case):
    kind = case["kind"]
    if kind == "registry":
        import _registry_calls as calls

        make = {"torch": calls.torch_call, "jax": calls.jax_call}.get(LIB, calls.losslab_call)
        if LIB in ("torch", "jax"):
            try:
                return make(case)
            except Exception as error:  # an oracle that lacks the option: a '-' cell, said on stderr
                print(f"{LIB}: no call for {case}: {error!r}", file=sys.stderr, flush=True)
                return None
        return make(case)
    if kind.startswith("stream"):
        return _stream(case)
    if kind == "mlp_epoch":
        mlp = (_TorchMLP if LIB == "torch" else _LosslabMLP)(case["dtype"], case.get("repeat", 15))
        return mlp.epoch
    return (_torch_loss if LIB == "torch" else _losslab_loss)(case)


def sample(call, reps: int, timed: bool, once: float, warm: float = 0.0) -> float:
    """Seconds per call over ``reps`` calls, the garbage collector off, after ``int(warm / once)`` untimed calls
    (``once``: one call's seconds). A ``timed`` call returns its own seconds and is called once."""
    gc.disable()
    try:
        if timed:
            return call()
        for _ in range(int(warm / max(once, 1e-9))):
            call()
        start = time.perf_counter()
        for _ in range(reps):
            call()
        return (time.perf_counter() - start) / reps
    finally:
        gc.enable()


def main() -> None:
    # Every library's worker on the same first THREADS cores (XLA's CPU pool takes as many threads as cores): on
    # a VM one virtual core can run slower than another for minutes (a B = 1 call measured 7 us on one core and
    # 11 us on the other, then the other way round), and a cell compares its libraries on the same cores.
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:THREADS])
    if LIB == "torch":
        import torch

        torch.set_num_threads(THREADS)
    elif LIB == "losslab":
        from losslab import _fast

        _fast.set_num_threads(THREADS)
    slots = {}  # slot name -> (call, calls per sample, the call times itself)
    for line in sys.stdin:
        req = json.loads(line)
        op = req["op"]
        if op == "quit":
            break
        if op == "info":
            reply = _info()
        elif op == "prepare":
            if req.get("clear", True):
                slots.clear()
            gc.collect()
            call = _build(req["case"])
            if call is None:  # this library has no such path
                slots[req.get("slot", "main")] = None
                print(json.dumps({"missing": True}), flush=True)
                continue
            timed = req["case"]["kind"] == "mlp_epoch"  # the call returns its own seconds
            start = time.perf_counter()
            first = call()
            once = first if timed else time.perf_counter() - start
            start = time.perf_counter()
            second = call()
            once = min(once, second if timed else time.perf_counter() - start)
            reps = 1 if timed else max(1, math.ceil(req["target"] / max(once, 1e-9)))
            slots[req.get("slot", "main")] = (call, reps, timed, once)
            reply = {"reps": reps, "once": once}
        elif op == "sample" and slots.get(req.get("slot", "main")) is None:
            reply = {"seconds": None}
        elif op == "value":
            slot = slots.get(req.get("slot", "main"))
            reply = {"value": None if slot is None else slot[0].value()}
        elif op == "memory":
            import _registry_calls as calls

            reply = calls.peak_bytes(req["case"])
        elif op == "sample":
            reply = {"seconds": sample(*slots[req.get("slot", "main")], warm=req.get("warm", 0.0))}
        elif op == "accuracy":
            cls = _TorchMLP if LIB == "torch" else _LosslabMLP
            mlp = cls(req["dtype"], 1)
            for _ in range(req["epochs"]):
                mlp.epoch()
            reply = {"accuracy": mlp.accuracy()}
        else:
            reply = {"error": f"unknown op {op!r}"}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
