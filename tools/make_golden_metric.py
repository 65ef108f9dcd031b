"""Regenerate tests/golden/metric_golden.npz: NT-Xent values and gradients by optax's definition.

optax (JAX) is not a losslab dependency, so this script re-implements
``optax.losses.ntxent`` and the ``optax.losses.cosine_similarity`` it calls, line by
line, in torch (the parity oracle that is installed), and lets torch's autograd
differentiate it. Source read: google-deepmind/optax, ``optax/losses/_self_supervised.py``
(``ntxent``) and ``optax/losses/_regression.py`` (``cosine_similarity``). The two-view
form is ``ntxent(concatenate([view1, view2]), labels=concatenate([arange(N), arange(N)]))``.

Run from the repository root with the torch extra installed:

    python tools/make_golden_metric.py

The file stores, per case and dtype: the two views, the temperature, optax's loss
(losslab's ``'mean'``), the per-anchor terms (losslab's ``'none'``: the row sums of
optax's masked log-softmax, before its final sum and normalisation), an upstream
gradient for ``'none'``, and the gradients of both views for ``'mean'`` and ``'none'``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "golden" / "metric_golden.npz"


def optax_cosine_similarity(predictions, targets, *, epsilon=0.0):
    """optax.losses.cosine_similarity (axis=-1, where=None), in torch."""
    a = predictions
    b = targets
    a_norm2 = torch.square(a).sum(dim=-1, keepdim=True)
    b_norm2 = torch.square(b).sum(dim=-1, keepdim=True)
    a_norm = torch.sqrt(a_norm2.clip(min=epsilon))
    b_norm = torch.sqrt(b_norm2.clip(min=epsilon))
    a_unit = a / a_norm
    b_unit = b / b_norm
    return (a_unit * b_unit).sum(dim=-1)


def optax_ntxent(embeddings, labels, temperature=0.07):
    """optax.losses.ntxent, in torch; returns (loss, per-anchor terms)."""
    # cosine similarity matrix
    xcs = (
        optax_cosine_similarity(
            embeddings[None, :, :],
            embeddings[:, None, :],
            epsilon=torch.finfo(embeddings.dtype).eps,
        )
        / temperature
    )

    # finding positive and negative pairs
    labels1 = labels.unsqueeze(1)
    labels2 = labels.unsqueeze(0)
    matches = labels1 == labels2
    diffs = matches ^ True
    matches = (matches.to(torch.int64) - torch.eye(matches.shape[0], dtype=torch.int64)).bool()  # no self cos

    # replace 0 with -inf
    xcs_diffs = torch.where(diffs == 1, xcs, -torch.inf)
    xcs_matches = torch.where(matches == 1, xcs, -torch.inf)

    # shifting for numeric stability
    comb = torch.cat((xcs_diffs, xcs_matches), dim=-1)
    xcs_max = torch.max(comb, dim=1, keepdim=True).values
    xcs_shift_diffs = xcs_diffs - xcs_max.detach()
    xcs_shift_matches = xcs_matches - xcs_max.detach()

    # calc loss
    numer = xcs_shift_matches
    numer_exp = torch.exp(xcs_shift_matches)
    denom = torch.sum(torch.exp(xcs_shift_diffs), dim=1, keepdim=True)
    denom = denom + numer_exp
    log_softm = numer - torch.log(denom)
    masked = torch.where(matches == 1, log_softm, 0.0)
    loss = -masked.sum() / matches.sum()
    return loss, -masked.sum(dim=1)  # one match per row in the two-view form: the per-anchor terms


def cases(rng) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    out = {}
    for t in (0.07, 0.5, 1.0):
        out[f"4x3-t{t}"] = (rng.normal(0, 1, (4, 3)), rng.normal(0, 1, (4, 3)), t)
    out["6x8-default"] = (rng.normal(0, 1, (6, 8)), rng.normal(0, 1, (6, 8)), 0.07)
    out["1x3-single-pair"] = (rng.normal(0, 1, (1, 3)), rng.normal(0, 1, (1, 3)), 0.07)
    v1 = rng.normal(0, 1, (5, 4))
    # logits near 50; at 0.01 optax's own float32 gradient is NaN once every negative's exp underflows
    out["aligned-t0.02"] = (v1, v1 + rng.normal(0, 0.05, (5, 4)), 0.02)
    out["large-norms"] = (rng.normal(0, 1e6, (3, 4)), rng.normal(0, 1e3, (3, 4)), 0.2)
    tiny = rng.normal(0, 1, (3, 4))
    tiny[0] *= 1e-9  # squared norm below finfo(float32).eps and finfo(float64).eps: optax's clip applies
    out["clipped-norm"] = (tiny, rng.normal(0, 1, (3, 4)), 0.3)
    return out


def main() -> None:
    rng = np.random.default_rng(2025)
    arrays: dict[str, np.ndarray] = {}
    index = []
    for name, (v1, v2, t) in cases(rng).items():
        n = len(v1)
        for dtype, tdtype in ((np.float64, torch.float64), (np.float32, torch.float32)):
            key = f"{name}|{np.dtype(dtype).name}"
            labels = torch.cat([torch.arange(n), torch.arange(n)])
            dout = rng.uniform(0.5, 1.5, 2 * n).astype(dtype)
            results = {}
            for reduction in ("mean", "none"):
                x1 = torch.from_numpy(v1.astype(dtype)).requires_grad_()
                x2 = torch.from_numpy(v2.astype(dtype)).requires_grad_()
                loss, terms = optax_ntxent(torch.cat([x1, x2]), labels, temperature=t)
                if reduction == "mean":
                    loss.backward()
                else:
                    terms.backward(torch.from_numpy(dout))
                assert x1.grad.dtype == tdtype
                results[reduction] = (loss.detach().numpy(), terms.detach().numpy(), x1.grad.numpy(), x2.grad.numpy())
            arrays.update(
                {
                    f"{key}|view1": v1.astype(dtype),
                    f"{key}|view2": v2.astype(dtype),
                    f"{key}|mean": results["mean"][0],
                    f"{key}|none": results["none"][1],
                    f"{key}|dout": dout,
                    f"{key}|grad_mean_view1": results["mean"][2],
                    f"{key}|grad_mean_view2": results["mean"][3],
                    f"{key}|grad_none_view1": results["none"][2],
                    f"{key}|grad_none_view2": results["none"][3],
                }
            )
            index.append({"key": key, "temperature": t})
    arrays["index"] = np.array(
        json.dumps({"reference": f"optax.losses.ntxent (re-implemented in torch {torch.__version__})", "cases": index})
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {len(index)} cases to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
