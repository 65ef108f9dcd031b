"""Each mistake and environment problem a newcomer meets, through the real command in a subprocess:
a one-line message naming the option, a non-zero exit status, no traceback, nothing half-written."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from losslab.cli import build_parser


def losslab(*argv, env=None, cwd=None, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "losslab", *argv],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=timeout,
    )


def assert_clean_error(proc, *fragments, status=2):
    assert proc.returncode == status, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    for fragment in fragments:
        assert fragment in proc.stderr, (fragment, proc.stderr)


def test_train_mnist_without_network_fails_cleanly_and_leaves_no_cache_dir(tmp_path):
    pytest.importorskip("pooch")
    closed = "http://127.0.0.1:9"  # the discard port: nothing listens, every mirror fails at once
    env = {
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "HOME": str(tmp_path / "home"),
        "HTTP_PROXY": closed,
        "HTTPS_PROXY": closed,
        "http_proxy": closed,
        "https_proxy": closed,
        "NO_PROXY": "",
        "no_proxy": "",
    }
    proc = losslab("train", "--data", "mnist", "--out", str(tmp_path / "run"), env=env)
    assert_clean_error(
        proc, "--data mnist: could not download train-images-idx3-ubyte.gz from any mirror", "--data DIR"
    )
    assert not (tmp_path / "cache" / "losslab").exists()
    assert not (tmp_path / "run").exists()


def test_check_negative_seed_names_the_option():
    assert_clean_error(losslab("check", "--seed", "-1"), "argument --seed: expected a non-negative integer, got -1")


def test_train_out_is_a_file_is_refused_before_training(tmp_path):
    target = tmp_path / "results.txt"
    target.write_text("keep me")
    proc = losslab("train", "--out", str(target))
    assert_clean_error(proc, f"--out '{target}' is a file, not a directory")
    assert "epoch" not in proc.stdout  # refused before the first epoch
    assert target.read_text() == "keep me"


def test_ctrl_c_during_training_saves_the_complete_epochs(tmp_path):
    out = tmp_path / "run"
    # a test run started in the background of a shell without job control ignores SIGINT, and a child
    # inherits that: with a handler here instead, the child starts with SIGINT's default (Python's Ctrl-C)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "losslab", "train", "--epochs", "500", "--hidden", "16", "--out", str(out)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        lines = []
        while True:  # one line per epoch when stdout is not a terminal
            line = proc.stdout.readline()
            assert line, "".join(lines) + proc.stderr.read()
            lines.append(line)
            if line.split()[:2] == ["epoch", "2/500"]:
                break
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted: the" in stderr and f"complete epochs were saved in {out}" in stderr
    rows = list(csv.DictReader(open(out / "history.csv")))
    assert len(rows) >= 2 and [int(r["epoch"]) for r in rows] == list(range(1, len(rows) + 1))
    for name in ("model.npz", "loss.png", "accuracy.png", "history.json"):
        assert (out / name).is_file(), name
    assert not [p for p in out.iterdir() if p.name.startswith(".partial")]


def test_a_closed_pipe_is_no_error():
    """``losslab losses | head -2``: the reader goes away; no BrokenPipeError, no message."""
    proc = subprocess.Popen([sys.executable, "-m", "losslab", "losses"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # before anything is written: every write fails
    stderr = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert proc.returncode == 141  # 128 + SIGPIPE, as a shell reports a program stopped by a closed pipe
    assert stderr == ""


def test_losses_into_head_prints_the_first_lines_quietly():
    proc = subprocess.run(
        f"'{sys.executable}' -m losslab losses | head -2", shell=True, capture_output=True, text=True, timeout=60
    )
    assert proc.stdout.splitlines()[0].startswith("CrossEntropyLoss")
    assert len(proc.stdout.splitlines()) == 2 and proc.stderr == ""


def test_a_diverging_lr_stops_with_a_message(tmp_path):
    out = tmp_path / "run"
    proc = losslab("train", "--lr", "1e6", "--epochs", "5", "--hidden", "16", "--out", str(out))
    assert_clean_error(
        proc,
        "it diverged",
        "lr 1e+06 is too large for sgd: try a smaller --lr (its default is 0.1)",
        "The model was not saved",
        status=1,
    )
    assert proc.stdout.count("\nepoch ") == 1  # stopped in its first epoch, not after five
    assert not (out / "model.npz").exists() and (out / "history.csv").exists()


def test_adam_with_its_default_lr_learns(tmp_path):
    proc = losslab(
        "train", "--optimizer", "Adam", "--epochs", "2", "--hidden", "32", "--no-plots", "--out", str(tmp_path / "run")
    )
    assert proc.returncode == 0, proc.stderr
    assert "adam (lr 0.001, its default)" in proc.stdout
    rows = list(csv.DictReader(open(tmp_path / "run" / "history.csv")))
    assert float(rows[-1]["test_accuracy"]) > 0.8


def test_unknown_loss_suggests_the_close_name():
    assert_clean_error(
        losslab("train", "--loss", "CrossEntropyLos"),
        "argument --loss: unknown training loss 'CrossEntropyLos'; did you mean CrossEntropyLoss?",
    )


def test_nonexistent_data_directory_speaks_of_the_option(tmp_path):
    proc = losslab("train", "--data", "/nonexistent", "--out", str(tmp_path / "run"))
    assert_clean_error(proc, "--data '/nonexistent' is not 'embedded', 'mnist' or an existing directory")
    assert "path=" not in proc.stderr


def test_plot_without_arguments_lists_the_two_plots():
    proc = losslab("plot")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    text = proc.stdout + proc.stderr
    assert "loss" in text and "descent" in text and "what, NAME" not in text


def test_plot_loss_help_shows_only_its_own_options():
    proc = losslab("plot", "loss", "--help")
    assert proc.returncode == 0
    assert "--range" in proc.stdout and "--steps" not in proc.stdout and "--lr" not in proc.stdout


@pytest.mark.parametrize(
    "argv, message",
    [
        (["plot", "descent", "HuberLoss"], "unrecognized arguments: HuberLoss"),
        (["plot", "loss", "MSELoss", "--lr", "3"], "unrecognized arguments: --lr"),
        (["plot", "descent", "--steps", "0"], "argument --steps: expected an integer of at least 1, got 0"),
    ],
)
def test_plot_options_that_do_not_apply_are_refused(argv, message, tmp_path):
    assert_clean_error(losslab(*argv, "--out", str(tmp_path / "x.png")), message)
    assert not (tmp_path / "x.png").exists()


def test_plot_loss_takes_a_negative_range_in_exponent_notation(tmp_path):
    out = tmp_path / "wide.png"
    proc = losslab("plot", "loss", "MSELoss", "--range", "-1e4", "1e4", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_eval_of_a_missing_model_is_a_clear_error(tmp_path):
    assert_clean_error(losslab("eval", str(tmp_path / "model.npz")), "does not exist")


def test_train_help_lists_the_losses_and_every_default():
    text = losslab("train", "--help").stdout
    assert "TARGET_KINDS" not in text
    for name in ("FocalLoss", "CrossEntropyLoss", "MultiLabelMarginLoss", "NLLLoss"):
        assert name in text
    flat = " ".join(text.split())
    for fragment in (
        "epochs to train (default: 20)",
        "images per batch (default: 100)",
        "shuffling (default: 0)",
        "weight decay) (default: 0.0)",
        "float32 (default) or float64",
        "adam 0.001",
        "sgd 0.1",
    ):
        assert fragment in flat, fragment


def _options(parser, prefix=()):
    """(command, option) for every option of every (sub)command."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _options(sub, prefix + (name,))
        elif action.option_strings and action.option_strings[0] not in ("-h", "--version"):
            yield " ".join(prefix), action.option_strings[0]


def test_the_documented_synopsis_names_every_option():
    readme = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text(encoding="utf-8")
    start = readme.index("<!-- cli:start -->")
    synopsis = readme[start : readme.index("<!-- cli:end -->")]
    missing = [(cmd, opt) for cmd, opt in _options(build_parser()) if opt not in synopsis]
    assert not missing
