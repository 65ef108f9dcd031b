"""Saving and loading a trained network as .npz: arrays and a JSON description, never pickle."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

_META = "__losslab_model__"
FORMAT = 1


def save_model(path, net, architecture: dict, *, epochs: int = 0) -> Path:
    """Write ``net``'s parameters and the ``architecture`` that rebuilds it (MultiLayerNet's arguments).

    ``epochs`` records how many epochs the network was trained (a resumed run counts on from it).

    The file is written under a temporary name and renamed, so a crash never
    leaves a truncated model that looks complete.
    """
    path = Path(path)
    meta = json.dumps({"format": FORMAT, "architecture": architecture, "epochs": int(epochs)})
    arrays: dict[str, Any] = dict(net.state_dict())  # Any: numpy's stubs match a ** of arrays with allow_pickle
    if _META in arrays:
        raise ValueError(f"a parameter may not be named {_META!r}")
    arrays[_META] = np.array(meta)
    tmp = path.with_name(path.name + ".partial")
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    os.replace(tmp, path)
    return path


@dataclass(frozen=True)
class SavedModel:
    """A model file's contents: the network, its loss's name, the epochs it was trained, its architecture."""

    net: object
    loss: str
    epochs: int
    architecture: dict


def load_model(path):
    """Rebuild the network saved by :func:`save_model` (``allow_pickle=False``: loading runs no code)."""
    return read_model(path).net


def read_model(path) -> SavedModel:
    """The network saved by :func:`save_model`, with its loss's name and the epochs it was trained."""
    from ..layers import MultiLayerNet

    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise FileNotFoundError(f"model file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise ValueError(f"{str(path)!r} is a directory, not a model file (.npz)") from None
    except (ValueError, OSError) as exc:
        raise ValueError(f"{str(path)!r} is not a losslab model file (.npz): {exc}") from None
    if _META not in arrays:
        raise ValueError(f"{str(path)!r} is an .npz file but not a losslab model: no {_META!r} entry")
    try:
        meta = json.loads(str(arrays.pop(_META)))
    except ValueError:
        raise ValueError(f"{str(path)!r} has a damaged {_META!r} entry: not JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise ValueError(f"{str(path)!r} has model format {found!r}; this losslab reads format {FORMAT}")
    saved = dict(meta["architecture"])
    arch = dict(saved)
    arch["dtype"] = np.dtype(arch.get("dtype", "float32"))
    loss_name = arch.pop("loss", None) or "CrossEntropyLoss"
    from .losses import make_loss

    arch["loss"] = make_loss(loss_name)
    net = MultiLayerNet(rng=np.random.default_rng(0), **arch)
    net.load_state_dict(arrays)
    return SavedModel(net, loss_name, int(meta.get("epochs", 0)), saved)
