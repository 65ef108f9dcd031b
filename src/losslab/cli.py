"""The ``losslab`` command line: parse arguments, call the library, print.

    losslab train [options]            train an MLP on MNIST (the embedded 5k subset by default)
    losslab eval MODEL [--data D]      accuracy and loss of a saved model (confusion matrix with --plot)
    losslab plot loss NAME [NAME ...]  a loss and its gradient over one scalar input (PNG)
    losslab plot descent               gradient descent on x0^2 + x1^2 (PNG)
    losslab check [--dtype D]          every loss's value and gradient check on a sample batch
    losslab losses [--markdown]        the registered losses (the README's table)
    losslab --version

A user's mistake or a problem of the environment (no network, a file where a
directory is expected, Ctrl-C) ends in one line on stderr and a non-zero exit
status, never a traceback: 2 for a mistake in the command, 1 for a failed run,
130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import math
import os
import re
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from . import __version__, registry
from ._errors import UserError
from .gradcheck import gradcheck

__all__ = ["main", "build_parser", "UserError"]

# The option of each TrainConfig field, for the library's messages ("out_dir=..." -> "--out ...").
_OPTION_OF = {
    "out_dir": "--out",
    "data": "--data",
    "resume": "--resume",
    "lr": "--lr",
    "seed": "--seed",
    "epochs": "--epochs",
    "batch_size": "--batch-size",
    "weight_decay": "--weight-decay",
    "hidden size": "--hidden",
    "hidden": "--hidden",
}


def _as_option(message: str) -> str:
    """A library message that starts with a TrainConfig field, restated with the command's option."""
    m = re.match(r"(hidden size|\w+)(=| )", message)
    if m and m.group(1) in _OPTION_OF:
        return _OPTION_OF[m.group(1)] + " " + message[m.end() :]
    return message


# ----------------------------------------------------------------------------- argument types


def _number(text: str, kind, what: str):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def _int_at_least(low: int):
    what = "a non-negative integer" if low == 0 else f"an integer of at least {low}"

    def parse(text: str) -> int:
        value = _number(text, int, what)
        if value < low:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value

    return parse


def _positive_float(text: str) -> float:
    value = _number(text, float, "a positive number")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = _number(text, float, "a number of at least 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number of at least 0, got {text}")
    return value


def _finite_float(text: str) -> float:
    return _number(text, float, "a finite number")


def _name(choices: Iterable[str], what: str, listing: str | None = None):
    """An argparse type: one of ``choices``, any case, with "did you mean" for a near miss."""
    choices = list(choices)
    by_lower = {c.lower(): c for c in choices}

    def parse(text: str) -> str:
        if text.lower() in by_lower:
            return by_lower[text.lower()]
        close = difflib.get_close_matches(text.lower(), list(by_lower), n=3, cutoff=0.8)
        if close:
            hint = "did you mean " + " or ".join(by_lower[c] for c in close) + "?"
        else:
            hint = listing or "choose one of: " + ", ".join(choices)
        raise argparse.ArgumentTypeError(f"unknown {what} {text!r}; {hint}")

    parse.__name__ = what  # argparse names the type in some messages
    return parse


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults shown after each option's help (except where none applies)."""

    def _get_help_string(self, action):
        if (
            action.default is None
            or action.default is False
            or "%(default)" in (action.help or "")
            or "default" in (action.help or "")
        ):
            return action.help
        return super()._get_help_string(action)


# A number such as -1e4 is a value, not an option (argparse only knows -1 and -1.5).
_NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-inf$|^-nan$", re.IGNORECASE)


# ----------------------------------------------------------------------------- check and losses


def _check_rows(names: Sequence[str], dtype: np.dtype, seed: int):
    for name in names:
        spec = registry.get(name)
        case = next(c for c in spec.make_cases(seed) if c.numeric)
        inputs = tuple(a.astype(dtype) if a.dtype.kind == "f" else a for a in case.inputs)
        options = {k: (o.astype(dtype) if isinstance(o, np.ndarray) else o) for k, o in case.options.items()}
        loss, call_inputs = spec.build(inputs, options)
        value = spec.call(loss, call_inputs)
        grads = spec.gradients(loss)
        check = gradcheck(
            lambda *a, f=spec.function, o=case.options: float(f(*a, **o)),  # bound now: the loop moves on
            case.inputs,
            grads,
            wrt=spec.grad_positions,
            rtol=1e-6 if dtype == np.float64 else 2e-3,
        )
        yield name, case.id, value, check


def _cmd_check(args) -> int:
    dtype = np.dtype(args.dtype)
    names = args.loss or registry.names()
    width = max(len(n) for n in names)
    print(
        f"losslab {__version__}: each loss on a sample batch ({dtype.name}); its analytic gradient\n"
        f"checked against central differences in float64 (seed {args.seed})\n"
    )
    header = f"{'loss':<{width}}  {'value':>11}  {'rel. error':>10}  {'check':<6}  case"
    print(header)
    print("-" * max(len(header), 40))
    failures = 0
    for name, case_id, value, check in _check_rows(names, dtype, args.seed):
        failures += not check.ok
        row = (
            f"{name:<{width}}  {float(value):>11.5g}  {check.max_rel_error:>10.1e}  {'ok' if check.ok else 'FAILED':<6}"
        )
        # the case in full: on the row when it fits in 80 columns, else on a line of its own below it
        print(f"{row}  {case_id}" if len(row) + 2 + len(case_id) <= 80 else f"{row.rstrip()}\n    case: {case_id}")
    print(f"\n{len(names) - failures} of {len(names)} gradients agree with numerical differentiation")
    return 1 if failures else 0


def _cmd_losses(args) -> int:
    if args.markdown:
        print(registry.markdown_table())
        return 0
    import textwrap

    width = max(len(n) for n in registry.names())
    for spec in registry.LOSSES:  # each summary wrapped within 80 columns, under its own column
        lines = textwrap.wrap(spec.summary, 80 - width - 2, break_on_hyphens=False) or [""]
        print(f"{spec.name:<{width}}  {lines[0]}")
        for line in lines[1:]:
            print(" " * (width + 2) + line)
    return 0


# ----------------------------------------------------------------------------- train


def _progress(total_epochs: int, first_epoch: int, iterations: int):
    """Callbacks showing one progress bar per epoch (tqdm on a terminal, else one line per epoch)."""
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    if not sys.stdout.isatty():
        tqdm = None  # a log file gets one line per epoch, not carriage-return redraws
    last = first_epoch + total_epochs - 1
    digits = len(str(last))
    state: dict[str, Any] = {"bar": None, "epoch": first_epoch}

    def on_iteration(i: int, loss: float) -> None:
        if tqdm is None:
            return
        if state["bar"] is None:
            # at most 80 columns: "epoch  3/20 |███...| 40/40, loss 0.1234 train 97.1% test 94.3%"
            state["bar"] = tqdm(
                total=iterations,
                desc=f"epoch {state['epoch']:>{digits}}/{last}",
                leave=True,
                file=sys.stdout,
                ncols=80,
                bar_format="{desc} |{bar:16}| {n_fmt}/{total_fmt}{postfix}",
            )
        state["bar"].update(1)
        if i % 5 == 0:
            state["bar"].set_postfix_str(f"loss {loss:.4f}", refresh=False)

    def on_epoch(epoch: int, history) -> None:
        summary = f"loss {history.epoch_loss[-1]:.4f} train {history.train_accuracy[-1]:.1%}"
        if history.test_accuracy:
            summary += f" test {history.test_accuracy[-1]:.1%}"
        if state["bar"] is not None:
            state["bar"].set_postfix_str(summary)
            state["bar"].close()
            state["bar"] = None
        else:
            print(f"epoch {epoch:>{digits}}/{last}  {summary}  ({history.epoch_seconds[-1]:.2f} s)", flush=True)
        state["epoch"] = epoch + 1

    def close() -> None:
        if state["bar"] is not None:
            state["bar"].close()
            state["bar"] = None

    return on_iteration, on_epoch, close


_RESUME_FIXED = ("hidden", "activation", "loss", "dtype")


def _train_config(args):
    from .train import TrainConfig

    if args.resume is not None:
        given = [f"--{k}" for k in _RESUME_FIXED if getattr(args, k) is not None]
        if given:
            raise UserError(
                f"{', '.join(given)} cannot be used with --resume: the model file fixes the "
                f"architecture, loss and dtype"
            )
    defaults = {"hidden": [100], "activation": "relu", "loss": "CrossEntropyLoss", "dtype": "float32"}
    fixed: dict[str, Any] = {
        k: getattr(args, k) if getattr(args, k) is not None else defaults[k] for k in _RESUME_FIXED
    }
    try:
        return TrainConfig(
            data=args.data,
            loss=fixed["loss"],
            hidden=tuple(fixed["hidden"]),
            activation=fixed["activation"],
            optimizer=args.optimizer,
            lr=args.lr,
            epochs=args.epochs,
            batch_size=args.batch_size,
            seed=args.seed,
            dtype=fixed["dtype"],
            weight_decay=args.weight_decay,
            out_dir=args.out,
            plots=not args.no_plots,
            resume=args.resume,
        )
    except (ValueError, TypeError) as exc:
        raise UserError(_as_option(str(exc))) from None


def _cmd_train(args) -> int:
    from .data import iterations_per_epoch
    from .train import run

    config = _train_config(args)
    if config.plots:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise UserError('plots need matplotlib: pip install ".[plot]", or pass --no-plots') from None
    callbacks: dict[str, Any] = {}

    def on_start(n_train: int, n_test: int, sizes, c) -> None:
        lr = f"lr {c.learning_rate:g}" + (", its default" if c.lr is None else "")
        resumed = f", resumed from {c.resume}" if c.resume else ""
        print(
            f"training a {'-'.join(map(str, sizes))} {c.activation} network, {c.loss}, {c.optimizer} ({lr})"
            f"\non {n_train} images, testing on {n_test} ({c.dtype}, seed {c.seed}{resumed})",
            flush=True,
        )
        callbacks["it"], callbacks["ep"], callbacks["close"] = _progress(
            c.epochs, callbacks.get("first", 1), iterations_per_epoch(n_train, c.batch_size)
        )

    if config.resume is not None:
        from .train import read_model

        try:
            callbacks["first"] = read_model(config.resume).epochs + 1
        except (ValueError, FileNotFoundError) as exc:
            raise UserError(f"--resume {exc}") from None
    try:
        with _run_errors(config.data):
            result = run(
                config,
                on_start=on_start,
                on_iteration=lambda i, loss: callbacks["it"](i, loss),
                on_epoch=lambda e, h: callbacks["ep"](e, h),
            )
    finally:
        if "close" in callbacks:
            callbacks["close"]()
    return _report_run(result)


@contextlib.contextmanager
def _run_errors(data: str):
    """A missing extra, a bad option value or unreadable ``--data`` as one line naming the option."""
    try:
        yield
    except ImportError as exc:
        raise UserError(_import_error(data, exc)) from None
    except (ValueError, FileNotFoundError) as exc:
        raise UserError(_as_option(str(exc))) from None
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise UserError(_data_error(data, exc)) from None


def _data_error(data: str, exc: OSError) -> str:
    from .data import DownloadError

    if isinstance(exc, DownloadError):
        return (
            f"--data {data}: could not download {exc.name} from any mirror: is the network reachable? "
            f"Or download the four MNIST files yourself and pass their directory: --data DIR"
        )
    return f"--data {data}: {exc}"


def _import_error(data: str, exc: ImportError) -> str:
    if "pooch" in str(exc):
        return (
            f'--data {data} downloads with pooch, which is not installed: pip install ".[download]" from the '
            f"losslab checkout; or download the four MNIST files yourself and pass --data DIR"
        )
    return str(exc)


def _report_run(result) -> int:
    h, config = result.history, result.config
    print()
    if h.epochs == 0:
        print("interrupted before the first epoch ended: nothing was saved", file=sys.stderr)
        return 130
    seconds = sum(h.epoch_seconds)
    print(f"{'epochs':<22}{h.start_epoch + h.epochs}" + (f" ({h.epochs} in this run)" if h.start_epoch else ""))
    print(f"{'final training loss':<22}{h.epoch_loss[-1]:.4f}")
    print(f"{'train accuracy':<22}{h.train_accuracy[-1]:.2%}")
    print(f"{'test accuracy':<22}{h.test_accuracy[-1]:.2%}   (best {max(h.test_accuracy):.2%})")
    print(f"{'test loss':<22}{h.test_loss[-1]:.4f}")
    print(f"{'training time':<22}{seconds:.1f} s ({seconds / h.epochs:.2f} s per epoch)")
    for path in result.files.values():
        print(f"wrote {path}")
    if result.stopped == "interrupted":
        print(f"interrupted: the {h.epochs} complete epochs were saved in {config.out_dir}", file=sys.stderr)
        return 130
    if result.stopped == "diverged":
        print(
            f"training stopped: the loss became {h.iteration_loss[-1]:.4g} at iteration {len(h.iteration_loss)} "
            f"(it diverged); lr {config.learning_rate:g} is too large for {config.optimizer}: try a smaller "
            f"--lr (its default is {_default_lr(config.optimizer):g}). The model was not saved.",
            file=sys.stderr,
        )
        return 1
    return 0


def _default_lr(optimizer: str) -> float:
    from .train.run import DEFAULT_LR

    return DEFAULT_LR[optimizer]


# ----------------------------------------------------------------------------- eval


def _cmd_eval(args) -> int:
    from .train import evaluate, read_model
    from .train.run import TrainConfig, load_data

    try:
        saved = read_model(args.model)
    except (ValueError, FileNotFoundError) as exc:
        raise UserError(str(exc)) from None
    if args.plot is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise UserError('--plot needs matplotlib: pip install ".[plot]"') from None
    dtype = str(saved.architecture.get("dtype", "float32"))
    with _run_errors(args.data):
        (_, _), (x, labels) = load_data(TrainConfig(data=args.data, dtype=dtype))
    if x.shape[1] != saved.architecture["input_size"]:
        raise UserError(
            f"{args.model} takes {saved.architecture['input_size']} inputs; --data {args.data} has "
            f"{x.shape[1]} per image"
        )
    result = evaluate(saved.net, x, labels, loss_name=saved.loss, num_classes=saved.architecture["output_size"])
    arch = "-".join(
        map(
            str,
            [saved.architecture["input_size"], *saved.architecture["hidden_sizes"], saved.architecture["output_size"]],
        )
    )
    print(
        f"{args.model}: a {arch} {saved.architecture['activation']} network, {saved.loss}, "
        f"trained {saved.epochs} epochs"
    )
    print(f"{'test images':<16}{result.samples} ({args.data})")
    print(f"{'accuracy':<16}{result.accuracy:.2%}")
    print(f"{'loss':<16}{result.loss:.4f}")
    if args.plot is not None:
        from .viz import plot_confusion

        plot_confusion(result.confusion, args.plot, title=f"{arch} {saved.loss}")
        print(f"wrote {args.plot}")
    return 0


# ----------------------------------------------------------------------------- plot


def _cmd_plot_loss(args) -> int:
    from .viz import plot_loss

    try:
        args.names = [_name(registry.names(), "loss", "see `losslab losses` for the names")(n) for n in args.names]
    except argparse.ArgumentTypeError as exc:
        raise UserError(str(exc)) from None
    default = f"out/{args.names[0] if len(args.names) == 1 else '-'.join(args.names)}.png"
    path = args.out or default
    try:
        plot_loss(args.names, path, x_range=tuple(args.range) if args.range else None)
    except (ValueError, ImportError) as exc:
        raise UserError(f"--range: {exc}" if str(exc).startswith("x_range") else str(exc)) from None
    print(f"wrote {path}")
    return 0


def _cmd_plot_descent(args) -> int:
    from .viz import plot_descent

    path = args.out or "out/descent.png"
    try:
        plot_descent(path, lr=args.lr, step_num=args.steps)
    except ImportError as exc:
        raise UserError(str(exc)) from None
    print(f"wrote {path}")
    return 0


def _png_path_ok(path: str | None, option: str) -> None:
    """A PNG file can be written at ``path``: not a directory, and its folder a directory or creatable."""
    if path is None:
        return
    if os.path.isdir(path):
        raise UserError(f"{option} {path!r} is a directory: give the PNG file to write")
    from .train.run import check_out_dir

    folder = os.path.dirname(path) or "."
    try:
        check_out_dir(folder)
    except ValueError as exc:  # "out_dir='folder' is a file, ..." -> "its folder 'folder' is a file, ..."
        raise UserError(
            f"{option} {path!r} cannot be written: its folder " + str(exc).removeprefix("out_dir=")
        ) from None


# ----------------------------------------------------------------------------- the parser


def build_parser() -> argparse.ArgumentParser:
    """The ``losslab`` command's argument parser: every subcommand with its options, choices and defaults."""
    from .train import TARGET_KINDS
    from .train.run import ACTIVATIONS, DEFAULT_LR, OPTIMIZERS

    parser = argparse.ArgumentParser(prog="losslab", description="Loss functions with exact gradients, in NumPy.")
    parser.add_argument("--version", action="version", version=f"losslab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    loss_names = _name(registry.names(), "loss", "see `losslab losses` for the names")

    train = sub.add_parser(
        "train",
        formatter_class=_Formatter,
        help="train an MLP on MNIST with a progress bar, history and plots",
        description="Train a fully connected network on MNIST; write out/history.csv, "
        "history.json, model.npz, loss.png and accuracy.png. Ctrl-C stops "
        "after saving the complete epochs. Names match in any case.",
    )
    train.add_argument(
        "--data",
        default="embedded",
        metavar="SOURCE",
        help="'embedded' (the 5,000-image subset inside the package), 'mnist' (download the "
        "full set; needs the download extra) or a directory holding the four MNIST IDX files",
    )
    train.add_argument(
        "--loss",
        type=_name(TARGET_KINDS, "training loss"),
        metavar="NAME",
        help="the loss (default CrossEntropyLoss); one of: " + ", ".join(TARGET_KINDS),
    )
    train.add_argument(
        "--hidden", type=_int_at_least(1), nargs="+", metavar="N", help="hidden layer sizes (default 100)"
    )
    train.add_argument(
        "--activation", type=_name(ACTIVATIONS, "activation"), metavar="NAME", help="relu (default), sigmoid or tanh"
    )
    train.add_argument(
        "--optimizer",
        type=_name(OPTIMIZERS, "optimizer"),
        default="sgd",
        metavar="NAME",
        help="one of: " + ", ".join(OPTIMIZERS),
    )
    train.add_argument(
        "--lr",
        type=_positive_float,
        metavar="LR",
        help="learning rate (default: the optimizer's own: "
        + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LR.items())
        + ")",
    )
    train.add_argument(
        "--weight-decay",
        type=_non_negative_float,
        default=0.0,
        metavar="WD",
        help="L2 penalty (AdamW: decoupled weight decay)",
    )
    train.add_argument("--epochs", type=_int_at_least(1), default=20, metavar="N", help="epochs to train")
    train.add_argument("--batch-size", type=_int_at_least(1), default=100, metavar="N", help="images per batch")
    train.add_argument(
        "--seed", type=_int_at_least(0), default=0, metavar="N", help="seed of the initial weights and of the shuffling"
    )
    train.add_argument(
        "--dtype", type=_name(("float32", "float64"), "dtype"), metavar="DTYPE", help="float32 (default) or float64"
    )
    train.add_argument("--out", default="out", metavar="DIR", help="output directory")
    train.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    train.add_argument(
        "--resume",
        metavar="MODEL",
        help="continue training a saved model.npz (its architecture, loss and dtype; the optimizer starts afresh)",
    )
    train.set_defaults(run=_cmd_train)

    ev = sub.add_parser(
        "eval",
        formatter_class=_Formatter,
        help="accuracy and loss of a saved model",
        description="Evaluate a model saved by `losslab train` (model.npz) on a test set.",
    )
    ev.add_argument("model", metavar="MODEL", help="the model file, e.g. out/model.npz")
    ev.add_argument(
        "--data",
        default="embedded",
        metavar="SOURCE",
        help="whose test images: 'embedded', 'mnist' or a directory of MNIST IDX files",
    )
    ev.add_argument("--plot", metavar="PNG", help="also write the confusion matrix to this PNG file")
    ev.set_defaults(run=_cmd_eval)

    plot = sub.add_parser(
        "plot",
        help="PNG plots: a loss and its gradient, or a gradient-descent path",
        description="Draw a loss and its gradient (`plot loss`) or a gradient-descent path (`plot descent`).",
    )
    what = plot.add_subparsers(dest="what", metavar="WHAT")

    def plot_usage(args) -> int:
        plot.print_help()
        return 2

    plot.set_defaults(run=plot_usage)
    ploss = what.add_parser(
        "loss",
        formatter_class=_Formatter,
        help="losses and their gradients over one input",
        description="Each named loss and its analytic gradient over one scalar input.",
    )
    ploss._negative_number_matcher = _NEGATIVE_NUMBER
    ploss.add_argument("names", nargs="+", metavar="NAME", help="loss names, any case (see `losslab losses`)")
    ploss.add_argument(
        "--range", type=_finite_float, nargs=2, metavar=("LO", "HI"), help="x range (default: each loss's own)"
    )
    ploss.add_argument("--out", metavar="PNG", help="PNG file to write (default out/NAME.png)")
    ploss.set_defaults(run=_cmd_plot_loss)
    pdesc = what.add_parser(
        "descent",
        formatter_class=_Formatter,
        help="gradient descent on x0^2 + x1^2",
        description="Gradient descent on x0^2 + x1^2 from (-3, 4), as in the textbook.",
    )
    pdesc.add_argument("--lr", type=_positive_float, default=0.1, help="learning rate (above 1 it diverges)")
    pdesc.add_argument("--steps", type=_int_at_least(1), default=20, metavar="N", help="steps")
    pdesc.add_argument("--out", metavar="PNG", help="PNG file to write (default out/descent.png)")
    pdesc.set_defaults(run=_cmd_plot_descent)

    check = sub.add_parser(
        "check", formatter_class=_Formatter, help="each loss's value and gradient check on a sample batch"
    )
    check.add_argument(
        "--dtype",
        type=_name(("float32", "float64"), "dtype"),
        default="float64",
        metavar="DTYPE",
        help="float32 or float64",
    )
    check.add_argument("--seed", type=_int_at_least(0), default=0, metavar="N", help="seed of the sample batches")
    check.add_argument(
        "--loss",
        action="append",
        type=loss_names,
        metavar="NAME",
        help="only this loss (repeatable; default: every loss; see `losslab losses`)",
    )
    check.set_defaults(run=_cmd_check)

    losses = sub.add_parser("losses", help="list the registered losses")
    losses.add_argument("--markdown", action="store_true", help="print the README's table")
    losses.set_defaults(run=_cmd_losses)

    from .grade.cli import add_commands

    add_commands(sub)
    from .serve.cli import add_commands as add_serve_commands  # argparse only: the serve extra loads when run

    add_serve_commands(sub)
    return parser


def _stdout_gone() -> None:
    """After a broken pipe (``losslab losses | head -2``): silence the final flush at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``losslab`` command with ``argv`` (default: the process's arguments); returns the exit status.

    0 for success, 1 when a run fails (a failed check, a diverged training), 2 for a usage mistake or an
    environment problem (one line on standard error, never a traceback), 130 after Ctrl-C.
    """
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # argparse has printed its message (or --help, --version)
            return exc.code if isinstance(exc.code, int) else 2
        if args.command is None:
            parser.print_help()
            return 0
        if args.command == "plot":
            _png_path_ok(getattr(args, "out", None), "--out")
        if args.command == "eval":
            _png_path_ok(args.plot, "--plot")
        status = args.run(args)
        sys.stdout.flush()
        return status
    except UserError as exc:
        print(f"losslab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nlosslab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _stdout_gone()
        return 141
    except MemoryError as exc:
        print(
            f"losslab: error: not enough memory ({exc or 'allocation failed'}): try a smaller --hidden or --batch-size",
            file=sys.stderr,
        )
        return 1
    except OSError as exc:  # the environment: a full disk, a permission, a file that vanished
        print(f"losslab: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
