"""The ``losslab`` command line: parse arguments, call the library, print.

    losslab train [options]            train an MLP on MNIST (the embedded 5k subset by default)
    losslab plot loss NAME [NAME ...]  a loss and its gradient over one scalar input (PNG)
    losslab plot descent               gradient descent on x0^2 + x1^2 (PNG)
    losslab check [--dtype D]          every loss's value and gradient check on a sample batch
    losslab losses [--markdown]        the registered losses (the README's table)
    losslab --version
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

import numpy as np

from . import __version__, registry
from .gradcheck import gradcheck


class UserError(Exception):
    """A mistake in the command line: reported in one line, exit status 2, no traceback."""


def _check_rows(names: Sequence[str], dtype: np.dtype, seed: int):
    for name in names:
        spec = registry.get(name)
        case = next(c for c in spec.make_cases(seed) if c.numeric)
        inputs = tuple(a.astype(dtype) if a.dtype.kind == "f" else a for a in case.inputs)
        options = {k: (o.astype(dtype) if isinstance(o, np.ndarray) else o) for k, o in case.options.items()}
        loss = spec.cls(**options)
        value = loss(*inputs)
        grads = loss.backward()
        grads = grads if isinstance(grads, tuple) else (grads,)
        check = gradcheck(lambda *a: float(spec.function(*a, **case.options)), case.inputs, grads,
                          wrt=spec.grad_positions, rtol=1e-6 if dtype == np.float64 else 2e-3)
        yield name, case.id, value, check


def _cmd_check(args) -> int:
    dtype = np.dtype(args.dtype)
    names = args.loss or registry.names()
    print(f"losslab {__version__}: every loss on a sample batch ({dtype.name}), its value, and its "
          f"analytic gradient checked against central differences in float64\n")
    header = f"{'loss':<26} {'case':<34} {'value':>14}  {'max rel. error':>14}  check"
    print(header)
    print("-" * len(header))
    failures = 0
    for name, case_id, value, check in _check_rows(names, dtype, args.seed):
        failures += not check.ok
        print(f"{name:<26} {case_id[:34]:<34} {float(value):>14.6g}  {check.max_rel_error:>14.2e}  "
              f"{'ok' if check.ok else 'FAILED'}")
    print(f"\n{len(names) - failures} of {len(names)} gradients agree with numerical differentiation")
    return 1 if failures else 0


def _progress(total_epochs: int, iterations: int):
    """Callbacks showing one progress bar per epoch (tqdm when installed, else one line per epoch)."""
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    if not sys.stdout.isatty():
        tqdm = None  # a log file gets one line per epoch, not carriage-return redraws
    state = {"bar": None, "epoch": 1}

    def on_iteration(i: int, loss: float) -> None:
        if tqdm is None:
            return
        if state["bar"] is None:
            state["bar"] = tqdm(total=iterations, desc=f"epoch {state['epoch']:>3}/{total_epochs}",
                                unit="batch", leave=True, dynamic_ncols=True, file=sys.stdout)
        state["bar"].update(1)
        if i % 5 == 0:
            state["bar"].set_postfix_str(f"loss {loss:.4f}", refresh=False)

    def on_epoch(epoch: int, history) -> None:
        summary = (f"loss {history.epoch_loss[-1]:.4f}  train {history.train_accuracy[-1]:.2%}  "
                   f"test {history.test_accuracy[-1]:.2%}")
        if state["bar"] is not None:
            state["bar"].set_postfix_str(summary)
            state["bar"].close()
            state["bar"] = None
        else:
            print(f"epoch {epoch:>3}/{total_epochs}  {summary}  ({history.epoch_seconds[-1]:.2f} s)")
        state["epoch"] = epoch + 1

    return on_iteration, on_epoch


def _cmd_train(args) -> int:
    from .train import TrainConfig, run
    from .data import iterations_per_epoch

    try:
        config = TrainConfig(data=args.data, loss=args.loss, hidden=tuple(args.hidden), activation=args.activation,
                             optimizer=args.optimizer, lr=args.lr, epochs=args.epochs, batch_size=args.batch_size,
                             seed=args.seed, dtype=args.dtype, weight_decay=args.weight_decay, out_dir=args.out,
                             plots=not args.no_plots)
    except (ValueError, TypeError) as exc:
        raise UserError(str(exc)) from None
    if config.plots:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise UserError('plots need matplotlib: pip install "losslab[plot]", or pass --no-plots') from None
    arch = "-".join(map(str, config.hidden))
    callbacks = {}

    def on_start(n_train: int, n_test: int) -> None:
        print(f"training a {arch} {config.activation} network with {config.loss} and {config.optimizer} "
              f"(lr {config.lr}) on {n_train} images, testing on {n_test} ({config.dtype}, seed {config.seed})")
        callbacks["it"], callbacks["ep"] = _progress(config.epochs, iterations_per_epoch(n_train, config.batch_size))

    try:
        result = run(config, on_start=on_start, on_iteration=lambda i, l: callbacks["it"](i, l),
                     on_epoch=lambda e, h: callbacks["ep"](e, h))
    except (ValueError, FileNotFoundError, ImportError) as exc:
        raise UserError(str(exc)) from None
    h = result.history
    seconds = sum(h.epoch_seconds)
    print()
    print(f"{'epochs':<22}{h.epochs}")
    print(f"{'final training loss':<22}{h.epoch_loss[-1]:.4f}")
    print(f"{'train accuracy':<22}{h.train_accuracy[-1]:.2%}")
    print(f"{'test accuracy':<22}{h.test_accuracy[-1]:.2%}   (best {max(h.test_accuracy):.2%})")
    print(f"{'training time':<22}{seconds:.1f} s ({seconds / h.epochs:.2f} s per epoch)")
    for path in result.files.values():
        print(f"wrote {path}")
    return 0


def _cmd_plot(args) -> int:
    try:
        from .viz import plot_descent, plot_loss

        if args.what == "descent":
            path = plot_descent(args.out or "out/descent.png", lr=args.lr, step_num=args.steps)
        else:
            if not args.names:
                raise UserError("plot loss needs at least one loss name; see `losslab losses`")
            for n in args.names:
                registry.get(n)
            default = f"out/{args.names[0] if len(args.names) == 1 else 'losses'}.png"
            x_range = tuple(args.range) if args.range else None
            path = plot_loss(args.names, args.out or default, x_range=x_range)
    except (ValueError, ImportError) as exc:
        raise UserError(str(exc)) from None
    print(f"wrote {path}")
    return 0


def _cmd_losses(args) -> int:
    if args.markdown:
        print(registry.markdown_table())
        return 0
    for spec in registry.LOSSES:
        print(f"{spec.name:<26} {spec.summary}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="losslab", description="Loss functions with exact gradients, in NumPy.")
    parser.add_argument("--version", action="version", version=f"losslab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    train = sub.add_parser("train", help="train an MLP on MNIST with a progress bar, history and plots")
    train.add_argument("--data", default="embedded",
                       help="'embedded' (the packaged 5,000-image subset, default), 'mnist' (download the full "
                            "set; needs the download extra) or a directory holding the four MNIST IDX files")
    train.add_argument("--loss", default="CrossEntropyLoss", help="CrossEntropyLoss (default), MSELoss, "
                       "MultiMarginLoss, BCEWithLogitsLoss, ... (see losslab.train.TARGET_KINDS)")
    train.add_argument("--hidden", type=int, nargs="+", default=[100], metavar="N", help="hidden layer sizes")
    train.add_argument("--activation", default="relu", help="relu (default), sigmoid or tanh")
    train.add_argument("--optimizer", default="sgd", help="sgd (default), momentum, nesterov, adagrad, rmsprop, "
                       "adam or adamw")
    train.add_argument("--lr", type=float, default=0.1, help="learning rate (default 0.1)")
    train.add_argument("--weight-decay", type=float, default=0.0)
    train.add_argument("--epochs", type=int, default=20)
    train.add_argument("--batch-size", type=int, default=100)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    train.add_argument("--out", default="out", help="output directory (default out/)")
    train.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    train.set_defaults(run=_cmd_train)

    plot = sub.add_parser("plot", help="PNG plots: a loss and its gradient, or a gradient-descent path")
    plot.add_argument("what", choices=["loss", "descent"])
    plot.add_argument("names", nargs="*", metavar="NAME", help="loss names for `plot loss` (see `losslab losses`)")
    plot.add_argument("--range", type=float, nargs=2, metavar=("LO", "HI"), help="x range for `plot loss`")
    plot.add_argument("--lr", type=float, default=0.1, help="learning rate for `plot descent`")
    plot.add_argument("--steps", type=int, default=20, help="steps for `plot descent`")
    plot.add_argument("--out", help="PNG file to write (default out/NAME.png)")
    plot.set_defaults(run=_cmd_plot)

    check = sub.add_parser("check", help="each loss's value and gradient check on a sample batch")
    check.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    check.add_argument("--seed", type=int, default=0)
    check.add_argument("--loss", action="append", choices=registry.names(), metavar="NAME",
                      help="only this loss (repeatable); one of: " + ", ".join(registry.names()))
    check.set_defaults(run=_cmd_check)

    losses = sub.add_parser("losses", help="list the registered losses")
    losses.add_argument("--markdown", action="store_true", help="print the README's table")
    losses.set_defaults(run=_cmd_losses)

    from .grade.cli import add_commands
    add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.run(args)
    except UserError as exc:
        print(f"losslab: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
