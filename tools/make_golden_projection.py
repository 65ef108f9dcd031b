"""Regenerate tests/golden/projection_golden.npz: torch 2.13's LinearCrossEntropyLoss and AdaptiveLogSoftmaxWithLoss.

Run from the repository root with torch installed (the ``torch`` extra):

    python tools/make_golden_projection.py

For each case the file stores the inputs, the options (JSON), the upstream gradient, and
torch's output and gradients for every differentiable input and parameter, in float64 and
float32; tests/test_projection.py compares losslab with them in the default test run, without
torch. ``F.linear_cross_entropy`` runs with ``options=None`` (the reference path) and with a
``LinearCrossEntropyOptions`` (its chunked path, where torch takes it).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as tF

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "golden" / "projection_golden.npz"
DTYPES = {"float64": torch.float64, "float32": torch.float32}


def linear_cases(rng):
    n, d, c = 6, 5, 7
    x, w, b = rng.normal(size=(n, d)), rng.normal(size=(c, d)), rng.normal(size=c)
    weight = rng.uniform(0.5, 2.0, c)
    t = rng.integers(0, c, n)
    t_ign = t.copy()
    t_ign[1] = 2
    probs = rng.dirichlet(np.ones(c), size=n)
    cases = []
    for reduction in ("mean", "sum", "none"):
        for chunk in (None, 4):
            cases.append(
                (f"index-bias-{reduction}-chunk{chunk}", dict(x=x, w=w, t=t, b=b), dict(reduction=reduction), chunk)
            )
            cases.append(
                (
                    f"weight-ignore-smooth-{reduction}-chunk{chunk}",
                    dict(x=x, w=w, t=t_ign),
                    dict(reduction=reduction, weight=weight, ignore_index=2, label_smoothing=0.2),
                    chunk,
                )
            )
        cases.append(
            (
                f"probs-{reduction}",
                dict(x=x, w=w, t=probs, b=b),
                dict(reduction=reduction, weight=weight, label_smoothing=0.1),
                None,
            )
        )
    wk, bk = rng.normal(size=(c, 3, d)), rng.normal(size=(c, 3))
    cases.append(("kdim-mean", dict(x=x, w=wk, t=rng.integers(0, c, (n, 3)), b=bk), dict(reduction="mean"), None))
    cases.append(("unbatched-sum", dict(x=x[0], w=w, t=np.array(3), b=b), dict(reduction="sum"), None))
    return cases


def main() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(20261206)
    arrays: dict[str, np.ndarray] = {}
    index: dict = {"torch": torch.__version__, "linear": [], "adaptive": []}
    for key, ins, opts, chunk in linear_cases(rng):
        for name, a in ins.items():
            arrays[f"{key}|{name}"] = a
        out_shape = () if opts["reduction"] != "none" else np.shape(ins["t"])[: 1 if ins["x"].ndim == 2 else 0]
        if opts["reduction"] == "none" and ins["w"].ndim == 3:
            out_shape = np.shape(ins["t"])
        dout = rng.uniform(0.5, 1.5, out_shape)
        arrays[f"{key}|dout"] = np.asarray(dout)
        for dname, dtype in DTYPES.items():
            tx = torch.tensor(ins["x"], dtype=dtype, requires_grad=True)
            tw = torch.tensor(ins["w"], dtype=dtype, requires_grad=True)
            tb = None if "b" not in ins else torch.tensor(ins["b"], dtype=dtype, requires_grad=True)
            tt = torch.tensor(ins["t"]) if ins["t"].dtype.kind == "i" else torch.tensor(ins["t"], dtype=dtype)
            kw = {k: torch.tensor(v, dtype=dtype) if isinstance(v, np.ndarray) else v for k, v in opts.items()}
            topt = (
                None
                if chunk is None
                else torch.nn.LinearCrossEntropyOptions(batch_chunk_size=chunk, chunking_method=None)
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch's note that a call falls back to its reference path
                out = tF.linear_cross_entropy(tx, tw, tt, linear_bias=tb, options=topt, **kw)
            out.backward(torch.tensor(dout, dtype=dtype))
            arrays[f"{key}|{dname}|out"] = out.detach().numpy()
            arrays[f"{key}|{dname}|grad_input"] = tx.grad.numpy()
            arrays[f"{key}|{dname}|grad_linear_weight"] = tw.grad.numpy()
            if tb is not None:
                arrays[f"{key}|{dname}|grad_linear_bias"] = tb.grad.numpy()
        json_opts = {k: v for k, v in opts.items() if not isinstance(v, np.ndarray)}
        array_opts = [k for k, v in opts.items() if isinstance(v, np.ndarray)]
        for k in array_opts:
            arrays[f"{key}|opt|{k}"] = opts[k]
        index["linear"].append(
            dict(key=key, inputs=sorted(ins), options=json_opts, array_options=array_opts, chunk=chunk)
        )
    for key, (in_features, n_classes, cutoffs, div_value, head_bias, batch) in {
        "asm-two-clusters": (16, 20, [5, 12], 2.0, True, 9),
        "asm-one-cluster": (8, 10, [4], 4.0, False, 6),
        "asm-unbatched": (8, 10, [3, 6], 2.0, True, None),
    }.items():
        module = torch.nn.AdaptiveLogSoftmaxWithLoss(
            in_features, n_classes, cutoffs, div_value=div_value, head_bias=head_bias
        ).double()
        state = {k: v.numpy().copy() for k, v in module.state_dict().items()}
        shape = (batch, in_features) if batch else (in_features,)
        x = rng.normal(size=shape)
        t = rng.integers(0, n_classes, batch) if batch else np.array(n_classes - 1)
        doutput = rng.uniform(-1, 1, batch if batch else ())
        arrays[f"{key}|x"], arrays[f"{key}|t"], arrays[f"{key}|doutput"] = x, t, np.asarray(doutput)
        for k, v in state.items():
            arrays[f"{key}|param|{k}"] = v
        for dname, dtype in DTYPES.items():
            module = module.to(dtype)
            module.zero_grad()
            tx = torch.tensor(x, dtype=dtype, requires_grad=True)
            out, loss = module(tx, torch.tensor(t))
            (0.75 * loss + (out * torch.tensor(doutput, dtype=dtype)).sum()).backward()
            arrays[f"{key}|{dname}|output"] = out.detach().numpy()
            arrays[f"{key}|{dname}|loss"] = loss.detach().numpy()
            arrays[f"{key}|{dname}|grad_input"] = tx.grad.numpy()
            arrays[f"{key}|{dname}|log_prob"] = module.log_prob(tx.detach().reshape(-1, in_features)).detach().numpy()
            arrays[f"{key}|{dname}|predict"] = module.predict(tx.detach().reshape(-1, in_features)).numpy()
            for name, p in module.named_parameters():
                arrays[f"{key}|{dname}|grad|{name}"] = (
                    np.zeros(tuple(p.shape)) if p.grad is None else p.grad.numpy()
                )  # an unused cluster: no gradient
        index["adaptive"].append(
            dict(
                key=key,
                in_features=in_features,
                n_classes=n_classes,
                cutoffs=cutoffs,
                div_value=div_value,
                head_bias=head_bias,
                params=sorted(state),
                dloss=0.75,
            )
        )
    arrays["index"] = np.array(json.dumps(index))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT} ({len(index['linear'])} linear and {len(index['adaptive'])} adaptive cases)")


if __name__ == "__main__":
    main()
