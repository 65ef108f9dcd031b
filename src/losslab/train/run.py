"""One training run from a frozen configuration: data, network, optimizer, fit, outputs."""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .. import _validation as v
from .trainer import TARGET_KINDS, History, fit, make_loss

OPTIMIZERS = {"sgd": "SGD", "momentum": "Momentum", "nesterov": "Nesterov", "adagrad": "Adagrad",
              "rmsprop": "RMSprop", "adam": "Adam", "adamw": "AdamW"}
ACTIVATIONS = ("relu", "sigmoid", "tanh")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run. Validated on construction."""

    data: str = "embedded"             # "embedded" (the packaged 5k subset), "mnist" (download), or an IDX directory
    loss: str = "CrossEntropyLoss"
    hidden: tuple[int, ...] = (100,)
    activation: str = "relu"
    optimizer: str = "sgd"
    lr: float = 0.1
    epochs: int = 20
    batch_size: int = 100
    seed: int = 0
    dtype: str = "float32"
    weight_decay: float = 0.0
    out_dir: str = "out"
    plots: bool = True
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.loss not in TARGET_KINDS:
            raise ValueError(f"loss must be one of {', '.join(TARGET_KINDS)}, got {self.loss!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")
        v.check_scalar(self.lr, "lr", low=0.0, low_open=True)
        v.check_scalar(self.weight_decay, "weight_decay", low=0.0)
        v.check_scalar(self.epochs, "epochs", low=1, integer=True)
        v.check_scalar(self.batch_size, "batch_size", low=1, integer=True)
        for h in self.hidden:
            v.check_scalar(h, "hidden size", low=1, integer=True)


def load_data(config: TrainConfig):
    """((x_train, t_train), (x_test, t_test)) for ``config.data``, flattened and normalised."""
    from ..data import load_embedded_mnist, load_mnist

    dtype = np.dtype(config.dtype)
    if config.data == "embedded":
        return load_embedded_mnist(normalize=True, flatten=True, dtype=dtype)
    if config.data == "mnist":
        return load_mnist(normalize=True, flatten=True, download=True, dtype=dtype)
    return load_mnist(normalize=True, flatten=True, path=config.data, dtype=dtype)


def build(config: TrainConfig, input_size: int, num_classes: int):
    """The network and its optimizer."""
    from .. import optim
    from ..layers import MultiLayerNet

    rng = np.random.default_rng(config.seed)
    net = MultiLayerNet(input_size, list(config.hidden), num_classes, activation=config.activation,
                        loss=make_loss(config.loss), rng=rng, dtype=np.dtype(config.dtype))
    opt_cls = getattr(optim, OPTIMIZERS[config.optimizer])
    kwargs = {"weight_decay": config.weight_decay} if config.weight_decay else {}
    return net, opt_cls(net.parameters(), lr=config.lr, **kwargs)


def architecture(config: TrainConfig, input_size: int, num_classes: int) -> dict:
    return {"input_size": input_size, "hidden_sizes": list(config.hidden), "output_size": num_classes,
            "activation": config.activation, "dtype": config.dtype, "loss": config.loss}


@dataclass
class RunResult:
    net: object
    history: History
    files: dict[str, Path]
    train_size: int
    test_size: int


def write_history(history: History, csv_path: Path, json_path: Path, config: TrainConfig) -> None:
    rows = history.rows()
    with open(csv_path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with open(json_path, "w") as fh:
        json.dump({"config": asdict(config), "epochs": rows, "iteration_loss": history.iteration_loss}, fh, indent=1)


def run(config: TrainConfig, *, on_iteration: Callable | None = None, on_epoch: Callable | None = None,
        on_start: Callable | None = None) -> RunResult:
    """Load the data, train, and write history (CSV, JSON), the model (.npz) and plots (PNG).

    Outputs are written under temporary names and renamed once all of them are
    complete, so an interrupted run leaves nothing that looks finished.
    """
    from .persist import save_model

    (x_train, t_train), (x_test, t_test) = load_data(config)
    num_classes = int(max(t_train.max(), t_test.max())) + 1
    net, optimizer = build(config, x_train.shape[1], num_classes)
    if on_start is not None:
        on_start(x_train.shape[0], x_test.shape[0])
    history = fit(net, optimizer, (x_train, t_train), (x_test, t_test), epochs=config.epochs,
                  batch_size=config.batch_size, rng=np.random.default_rng(config.seed + 1),
                  loss_name=config.loss, num_classes=num_classes, on_iteration=on_iteration, on_epoch=on_epoch)

    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = {"history_csv": "history.csv", "history_json": "history.json", "model": "model.npz"}
    if config.plots:
        names.update(loss_png="loss.png", accuracy_png="accuracy.png")
    staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=out))
    try:
        tmp = {k: staging / n for k, n in names.items()}
        write_history(history, tmp["history_csv"], tmp["history_json"], config)
        save_model(tmp["model"], net, architecture(config, x_train.shape[1], num_classes))
        if config.plots:
            from ..viz import plot_history

            plot_history(history, tmp["loss_png"], tmp["accuracy_png"],
                         title=f"{'-'.join(map(str, (x_train.shape[1], *config.hidden, num_classes)))} "
                               f"{config.activation}, {config.loss}")
        final = {k: out / n for k, n in names.items()}
        for k in names:
            os.replace(tmp[k], final[k])
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return RunResult(net, history, final, x_train.shape[0], x_test.shape[0])
