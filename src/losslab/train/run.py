"""One training run from a frozen configuration: data, network, optimizer, fit, outputs."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .. import _validation as v
from .. import optim
from .losses import TARGET_KINDS
from .trainer import History, TrainingDiverged, TrainingInterrupted, fit, make_loss

OPTIMIZERS = {
    "sgd": "SGD",
    "momentum": "Momentum",
    "nesterov": "Nesterov",
    "adagrad": "Adagrad",
    "rmsprop": "RMSprop",
    "adam": "Adam",
    "adamw": "AdamW",
}
#: Each optimizer's default learning rate (its class's ``default_lr``), used when ``lr`` is None.
DEFAULT_LR = {name: getattr(optim, cls).default_lr for name, cls in OPTIMIZERS.items()}
"""Each optimizer's default learning rate, by its command-line name (used when ``lr`` is None)."""
ACTIVATIONS = ("relu", "sigmoid", "tanh")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run. Validated on construction.

    ``lr=None`` takes the optimizer's default (:data:`DEFAULT_LR`). ``resume``
    names a model file (``model.npz`` of an earlier run) to continue from: its
    weights, architecture and loss replace ``hidden``, ``activation``, ``loss``
    and ``dtype``; the optimizer's state starts afresh.
    """

    data: str = "embedded"  # "embedded" (the packaged 5k subset), "mnist" (download), or an IDX directory
    loss: str = "CrossEntropyLoss"
    hidden: tuple[int, ...] = (100,)
    activation: str = "relu"
    optimizer: str = "sgd"
    lr: float | None = None
    epochs: int = 20
    batch_size: int = 100
    seed: int = 0
    dtype: str = "float32"
    weight_decay: float = 0.0
    out_dir: str = "out"
    plots: bool = True
    resume: str | None = None
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
        if self.lr is not None:
            v.check_scalar(self.lr, "lr", low=0.0, low_open=True)
            if not math.isfinite(self.lr):
                raise ValueError(f"lr must be a finite positive number, got {self.lr}")
        v.check_scalar(self.weight_decay, "weight_decay", low=0.0)
        v.check_scalar(self.epochs, "epochs", low=1, integer=True)
        v.check_scalar(self.batch_size, "batch_size", low=1, integer=True)
        v.check_scalar(self.seed, "seed", low=0, integer=True)
        if not self.hidden:
            raise ValueError("hidden must list at least one hidden layer size, got none")
        for h in self.hidden:
            v.check_scalar(h, "hidden size", low=1, integer=True)

    @property
    def learning_rate(self) -> float:
        """``lr``, or the optimizer's default when ``lr`` is None."""
        return DEFAULT_LR[self.optimizer] if self.lr is None else float(self.lr)


def check_out_dir(path) -> Path:
    """``path`` as a Path, if it is a directory or can be created as one; else ``ValueError`` (creates nothing)."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out_dir={str(out)!r} is a file, not a directory: choose a directory for the results")
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"out_dir={str(out)!r} cannot be created: {str(parent)!r} is a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"out_dir={str(out)!r} is not writable: no permission to write in {str(parent)!r}")
    return out


def load_data(config: TrainConfig):
    """((x_train, t_train), (x_test, t_test)) for ``config.data``, flattened and normalised."""
    from ..data import MNIST_FILES, load_embedded_mnist, load_mnist

    dtype = np.dtype(config.dtype)
    if config.data == "embedded":
        return load_embedded_mnist(normalize=True, flatten=True, dtype=dtype)
    if config.data == "mnist":
        return load_mnist(normalize=True, flatten=True, download=True, dtype=dtype)
    directory = Path(config.data)
    if not directory.is_dir():
        raise ValueError(
            f"data={config.data!r} is not 'embedded', 'mnist' or an existing directory holding the four MNIST IDX files"
        )
    missing = [n for n in MNIST_FILES if not any((directory / s).is_file() for s in (n, n + ".gz"))]
    if missing:
        raise ValueError(
            f"data={config.data!r} lacks {', '.join(missing)}: the directory must hold the four "
            f"MNIST IDX files {', '.join(MNIST_FILES)} (plain or .gz)"
        )
    return load_mnist(normalize=True, flatten=True, path=directory, dtype=dtype)


def build(config: TrainConfig, input_size: int, num_classes: int):
    """The network and its optimizer."""
    from ..layers import MultiLayerNet

    rng = np.random.default_rng(config.seed)
    net = MultiLayerNet(
        input_size,
        list(config.hidden),
        num_classes,
        activation=config.activation,
        loss=make_loss(config.loss),
        rng=rng,
        dtype=np.dtype(config.dtype),
    )
    return net, make_optimizer(config, net)


def make_optimizer(config: TrainConfig, net):
    opt_cls = getattr(optim, OPTIMIZERS[config.optimizer])
    kwargs = {"weight_decay": config.weight_decay} if config.weight_decay else {}
    return opt_cls(net.parameters(), lr=config.learning_rate, **kwargs)


def architecture(config: TrainConfig, input_size: int, num_classes: int) -> dict:
    return {
        "input_size": input_size,
        "hidden_sizes": list(config.hidden),
        "output_size": num_classes,
        "activation": config.activation,
        "dtype": config.dtype,
        "loss": config.loss,
    }


def _resumed(config: TrainConfig):
    """The config with the saved model's architecture, the model, and the epochs it had been trained."""
    from dataclasses import replace

    from .persist import read_model

    saved = read_model(config.resume)
    arch = saved.architecture
    config = replace(
        config,
        hidden=tuple(arch["hidden_sizes"]),
        activation=arch["activation"],
        dtype=str(arch.get("dtype", "float32")),
        loss=saved.loss,
    )
    return config, saved


@dataclass
class RunResult:
    net: object
    history: History
    files: dict[str, Path]
    train_size: int
    test_size: int
    config: TrainConfig | None = None
    stopped: str = ""  # "", "diverged" or "interrupted"
    sizes: tuple[int, ...] = ()  # input, hidden..., classes


def write_history(history: History, csv_path: Path, json_path: Path, config: TrainConfig) -> None:
    rows = history.rows()
    fields = ["epoch", "loss", "test_loss", "train_accuracy", "test_accuracy", "seconds"]
    with open(csv_path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    with open(json_path, "w") as fh:
        json.dump(
            {
                "config": asdict(config),
                "learning_rate": config.learning_rate,
                "stopped": history.stopped,
                "epochs": rows,
                "iteration_loss": history.iteration_loss,
            },
            fh,
            indent=1,
        )


def title(config: TrainConfig, sizes) -> str:
    """What a plot of this run needs to say: architecture, loss, optimizer and learning rate."""
    return (
        f"{'-'.join(map(str, sizes))} {config.activation}, {config.loss}, "
        f"{config.optimizer} lr {config.learning_rate:g}"
    )


def run(
    config: TrainConfig,
    *,
    on_iteration: Callable | None = None,
    on_epoch: Callable | None = None,
    on_start: Callable | None = None,
) -> RunResult:
    """Load the data, train, and write history (CSV, JSON), the model (.npz) and plots (PNG).

    The output directory is checked before anything else. Outputs are written
    under temporary names and renamed once all of them are complete, so an
    interrupted run leaves nothing that looks finished. Ctrl-C during training
    (``KeyboardInterrupt``) stops it: the complete epochs are saved and the
    result's ``stopped`` is ``"interrupted"``. A diverging loss stops it too
    (``stopped == "diverged"``): history and plots are saved, the model is not.
    ``on_start(n_train, n_test, sizes, config)`` is called once the network is built
    (``config`` as run: with a resumed model's architecture).
    """
    from .persist import save_model

    out = check_out_dir(config.out_dir)
    saved = None
    if config.resume is not None:
        config, saved = _resumed(config)
    (x_train, t_train), (x_test, t_test) = load_data(config)
    num_classes = int(max(t_train.max(), t_test.max())) + 1
    start_epoch = 0
    if saved is None:
        net, optimizer = build(config, x_train.shape[1], num_classes)
    else:
        arch = saved.architecture
        if (arch["input_size"], arch["output_size"]) != (x_train.shape[1], num_classes):
            raise ValueError(
                f"resume={config.resume!r} is a model of {arch['input_size']} inputs and "
                f"{arch['output_size']} classes; the data has {x_train.shape[1]} and {num_classes}"
            )
        net, start_epoch = saved.net, saved.epochs
        optimizer = make_optimizer(config, net)
    sizes = (x_train.shape[1], *config.hidden, num_classes)
    if on_start is not None:
        on_start(x_train.shape[0], x_test.shape[0], sizes, config)
    stopped = ""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TrainingDiverged)  # reported through the result's `stopped`
            history = fit(
                net,
                optimizer,
                (x_train, t_train),
                (x_test, t_test),
                epochs=config.epochs,
                batch_size=config.batch_size,
                rng=np.random.default_rng(config.seed + 1 + start_epoch),
                loss_name=config.loss,
                num_classes=num_classes,
                start_epoch=start_epoch,
                on_iteration=on_iteration,
                on_epoch=on_epoch,
            )
        stopped = history.stopped
    except TrainingInterrupted as exc:
        history, stopped = exc.history, "interrupted"
    result = RunResult(net, history, {}, x_train.shape[0], x_test.shape[0], config, stopped, sizes)
    if history.epochs == 0:
        return result

    out.mkdir(parents=True, exist_ok=True)
    names = {"history_csv": "history.csv", "history_json": "history.json"}
    if stopped != "diverged":
        names["model"] = "model.npz"
    if config.plots:
        names.update(loss_png="loss.png", accuracy_png="accuracy.png")
    staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=out))
    try:
        tmp = {k: staging / n for k, n in names.items()}
        write_history(history, tmp["history_csv"], tmp["history_json"], config)
        if "model" in names:
            save_model(
                tmp["model"],
                net,
                architecture(config, x_train.shape[1], num_classes),
                epochs=start_epoch + history.epochs,
            )
        if config.plots:
            from ..viz import plot_accuracy, plot_training_loss

            plot_training_loss(history, tmp["loss_png"], title=title(config, sizes))
            plot_accuracy(history, tmp["accuracy_png"], title=title(config, sizes))
        final = {k: out / n for k, n in names.items()}
        for k in names:
            os.replace(tmp[k], final[k])
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    result.files = final
    return result
