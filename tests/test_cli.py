"""The command line, called through main([...]) as a user would type it."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from losslab import __version__, registry
from losslab.cli import main

PNG = b"\x89PNG\r\n\x1a\n"


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"losslab {__version__}"


def test_losses_markdown_is_the_registry_table(capsys):
    assert main(["losses", "--markdown"]) == 0
    assert capsys.readouterr().out.strip() == registry.markdown_table()


def test_losses_lists_every_registered_name(capsys):
    assert main(["losses"]) == 0
    out = capsys.readouterr().out
    for name in registry.names():
        assert name in out


def test_check_reports_every_loss_ok(capsys):
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert f"{len(registry.LOSSES)} of {len(registry.LOSSES)} gradients agree" in out
    assert "FAILED" not in out


def test_check_float32(capsys):
    assert main(["check", "--dtype", "float32", "--loss", "CrossEntropyLoss"]) == 0
    assert "1 of 1 gradients agree" in capsys.readouterr().out


def test_plot_loss_writes_a_png(tmp_path, capsys):
    out = tmp_path / "huber.png"
    assert main(["plot", "loss", "HuberLoss", "SmoothL1Loss", "--out", str(out), "--range", "-2", "2"]) == 0
    assert out.read_bytes()[:8] == PNG
    assert str(out) in capsys.readouterr().out


def test_plot_descent_writes_a_png(tmp_path):
    out = tmp_path / "descent.png"
    assert main(["plot", "descent", "--out", str(out), "--steps", "10"]) == 0
    assert out.read_bytes()[:8] == PNG


@pytest.mark.parametrize(
    "argv, message",
    [
        (["plot", "loss", "NoSuchLoss"], "unknown loss 'NoSuchLoss'"),
        (["plot", "loss", "HubberLoss"], "unknown loss 'HubberLoss'; did you mean HuberLoss?"),
        (["plot", "loss"], "the following arguments are required: NAME"),
        (["plot", "loss", "MSELoss", "--range", "2", "1"], "--range: x_range must be two finite increasing numbers"),
        (["plot", "loss", "MSELoss", "--range", "0", "inf"], "argument --range: expected a finite number"),
    ],
)
def test_plot_user_errors_exit_2_without_traceback(argv, message, capsys, tmp_path):
    assert main(argv + ["--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "x.png").exists()


def test_train_one_epoch_writes_history_model_and_plots(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--epochs", "2", "--hidden", "32", "--out", str(out), "--seed", "3"]) == 0
    text = capsys.readouterr().out
    assert "test accuracy" in text
    for name in ("history.csv", "history.json", "model.npz", "loss.png", "accuracy.png"):
        assert (out / name).exists(), name
    rows = list(csv.DictReader(open(out / "history.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert 0.5 < float(rows[-1]["test_accuracy"]) <= 1.0
    history = json.loads((out / "history.json").read_text())
    assert history["config"]["hidden"] == [32]
    assert len(history["iteration_loss"]) == 2 * 40  # 4,000 training images in batches of 100
    assert (out / "loss.png").read_bytes()[:8] == PNG
    assert not [p for p in out.iterdir() if p.name.startswith(".partial")]

    from losslab.data import load_embedded_mnist
    from losslab.train import accuracy, load_model

    (_, _), (x_test, t_test) = load_embedded_mnist()
    net = load_model(out / "model.npz")
    assert accuracy(net, x_test, t_test) == pytest.approx(float(rows[-1]["test_accuracy"]))


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--lr", "0"], "argument --lr: expected a positive number, got 0"),
        (["--lr", "-1"], "argument --lr: expected a positive number"),
        (["--lr", "nan"], "argument --lr: expected a positive number, got 'nan'"),
        (["--batch-size", "0"], "argument --batch-size: expected an integer of at least 1, got 0"),
        (["--epochs", "0"], "argument --epochs: expected an integer of at least 1, got 0"),
        (["--epochs", "two"], "argument --epochs: expected an integer of at least 1, got 'two'"),
        (["--seed", "-5"], "argument --seed: expected a non-negative integer, got -5"),
        (["--weight-decay", "-1"], "argument --weight-decay: expected a number of at least 0"),
        (["--optimizer", "lbfgs"], "unknown optimizer 'lbfgs'; choose one of: sgd, momentum"),
        (["--optimizer", "adamm"], "unknown optimizer 'adamm'; did you mean adam"),
        (["--activation", "gelu"], "unknown activation 'gelu'; choose one of: relu, sigmoid, tanh"),
        (["--loss", "Nope"], "unknown training loss 'Nope'; choose one of: CrossEntropyLoss"),
        (["--loss", "CrossEntropyLos"], "unknown training loss 'CrossEntropyLos'; did you mean CrossEntropyLoss?"),
        (["--loss", "CosineEmbeddingLoss"], "unknown training loss 'CosineEmbeddingLoss'"),
        (["--hidden", "0"], "argument --hidden: expected an integer of at least 1, got 0"),
        (["--dtype", "float16"], "unknown dtype 'float16'"),
    ],
)
def test_train_user_errors_exit_2_and_write_nothing(argv, message, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out)] + argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())


def test_train_missing_idx_directory_is_a_clear_error(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"--data '{tmp_path / 'nowhere'}' is not 'embedded', 'mnist' or an existing directory" in err
    assert "path=" not in err and "download=True" not in err and "Traceback" not in err  # no Python-API advice
    assert not out.exists()


def test_train_idx_directory_lacking_files_names_them(tmp_path, capsys):
    (tmp_path / "idx").mkdir()
    (tmp_path / "idx" / "train-images-idx3-ubyte").write_bytes(b"")
    assert main(["train", "--data", str(tmp_path / "idx"), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "lacks train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name", registry.names())
def test_plot_recipe_gradient_is_the_derivative_of_the_plotted_value(name):
    spec = registry.get(name)
    lo, hi = spec.curve.x_range
    xs = np.linspace(lo, hi, 2001)
    values, grads = registry.curve_values(name, xs)
    assert np.all(np.isfinite(values)) and np.all(np.isfinite(grads))
    numeric = np.gradient(values, xs)
    smooth = np.ones_like(xs, dtype=bool)  # ignore the points next to a kink, where differences straddle it
    smooth[[0, -1]] = False  # np.gradient is one-sided (first order) at the ends
    jumps = np.abs(np.diff(grads)) > 0.05 * (np.abs(grads).max() + 1e-12)
    for i in np.flatnonzero(jumps):
        smooth[max(i - 2, 0) : i + 3] = False
    np.testing.assert_allclose(grads[smooth], numeric[smooth], rtol=1e-3, atol=1e-3 * (np.abs(grads).max() + 1))


def test_train_names_match_in_any_case_and_the_first_line_gives_the_whole_network(tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--loss",
                "focalloss",
                "--optimizer",
                "ADAM",
                "--activation",
                "Tanh",
                "--epochs",
                "1",
                "--hidden",
                "16",
                "--no-plots",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    first = capsys.readouterr().out.splitlines()[0]
    assert first == "training a 784-16-10 tanh network, FocalLoss, adam (lr 0.001, its default)"
    rows = list(csv.DictReader(open(out / "history.csv")))
    assert float(rows[-1]["test_accuracy"]) > 0.5


def test_eval_prints_accuracy_and_loss_and_plots_the_confusion_matrix(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--hidden", "16", "--no-plots", "--out", str(out)]) == 0
    rows = list(csv.DictReader(open(out / "history.csv")))
    capsys.readouterr()
    assert main(["eval", str(out / "model.npz"), "--plot", str(tmp_path / "cm.png")]) == 0
    text = capsys.readouterr().out
    assert f"accuracy        {float(rows[-1]['test_accuracy']):.2%}" in text
    assert f"loss            {float(rows[-1]['test_loss']):.4f}" in text
    assert "trained 1 epochs" in text and (tmp_path / "cm.png").read_bytes()[:8] == PNG


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.write_bytes(b"not a zip"), "is not a losslab model file"),
        (lambda p: np.savez(p, a=np.zeros(2)), "is an .npz file but not a losslab model"),
        (lambda p: p.mkdir(), "is a directory, not a model file"),
    ],
)
def test_eval_of_a_foreign_file_is_a_clear_error(make, message, tmp_path, capsys):
    target = tmp_path / "x.npz"
    make(target)
    assert main(["eval", str(target)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_resume_continues_the_epoch_count_and_refuses_architecture_options(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--hidden", "16", "--no-plots", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(out / "model.npz"), "--hidden", "32", "--out", str(out)]) == 2
    assert "--hidden cannot be used with --resume" in capsys.readouterr().err
    assert main(["train", "--resume", str(out / "model.npz"), "--epochs", "1", "--no-plots", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "784-16-10" in text and "epoch 2/2" in text
    assert [int(r["epoch"]) for r in csv.DictReader(open(out / "history.csv"))] == [2]
    assert main(["train", "--resume", str(tmp_path / "none.npz"), "--out", str(out)]) == 2
    assert "--resume model file" in capsys.readouterr().err


def test_check_prints_every_case_whole_within_80_columns(capsys):
    assert main(["check", "--loss", "crossentropyloss", "--loss", "TripletMarginWithDistanceLoss"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 80
    rows = [line for line in lines if line.startswith(("CrossEntropyLoss", "TripletMarginWithDistanceLoss"))]
    assert len(rows) == 2 and len({row.index(" ok") for row in rows}) == 1  # aligned columns
    from losslab import registry as reg

    case = next(c for c in reg.get("CrossEntropyLoss").make_cases(0) if c.numeric)
    assert case.id in "\n".join(lines)  # never cut


def test_losses_fit_80_columns(capsys):
    assert main(["losses"]) == 0
    assert max(len(line) for line in capsys.readouterr().out.splitlines()) <= 80


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["plot", "descent", "--out", "{file}/x.png"],
            "--out '{file}/x.png' cannot be written: its folder '{file}' is a file",
        ),
        (["plot", "loss", "MSELoss", "--out", "{dir}"], "--out '{dir}' is a directory: give the PNG file to write"),
        (["eval", "{model}", "--plot", "{file}/cm.png"], "--plot '{file}/cm.png' cannot be written"),
    ],
)
def test_png_destinations_are_checked_before_the_work(argv, message, tmp_path, capsys):
    names = {"file": str(tmp_path / "a-file"), "dir": str(tmp_path), "model": str(tmp_path / "m.npz")}
    (tmp_path / "a-file").write_text("keep")
    assert main([a.format(**names) for a in argv]) == 2
    err = capsys.readouterr().err
    assert message.format(**names) in err and "Traceback" not in err
    assert (tmp_path / "a-file").read_text() == "keep"


def test_a_resumed_run_describes_the_saved_network(tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--epochs",
                "1",
                "--hidden",
                "12",
                "--activation",
                "tanh",
                "--loss",
                "MSELoss",
                "--no-plots",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["train", "--resume", str(out / "model.npz"), "--epochs", "1", "--no-plots", "--out", str(out)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == "training a 784-12-10 tanh network, MSELoss, sgd (lr 0.1, its default)"


def test_download_without_pooch_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "pooch", None)
    assert main(["train", "--data", "mnist", "--no-plots", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert 'pooch, which is not installed: pip install ".[download]"' in err and "path=" not in err
    assert not (tmp_path / "run").exists()


def test_a_network_too_large_for_memory_is_a_message(tmp_path, capsys):
    assert main(["train", "--hidden", str(10**12), "--no-plots", "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert "not enough memory" in err and "--hidden" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()
