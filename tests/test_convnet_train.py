"""`chainrule train --model convnet`, run as a user runs it: a convnet learns where an MLP cannot
(shifted patterns, data built here), and runs keep checkpoints, resume, evaluate, predict and sweep."""
import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from files import write_idx, write_mnist

ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")  # small matrices: one thread is fastest


def run(*args, check=True):
    p = subprocess.run([sys.executable, "-m", "chainrule", *map(str, args)], capture_output=True, text=True,
                       env=ENV, timeout=300)
    if check and p.returncode != 0:
        raise AssertionError(f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p


def write_shifted_patterns(root, n_train=1000, n_test=300, classes=4, seed=0):
    """MNIST files whose class is an 8x8 pattern pasted at a random place on a noisy 28x28 image:
    what a convolution sees anywhere, an MLP must learn at every position."""
    rng = np.random.default_rng(seed)
    patterns = rng.random((classes, 8, 8)) < 0.35
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        y = rng.integers(0, classes, n)
        X = rng.integers(0, 40, (n, 28, 28))
        for i, (r, c) in enumerate(rng.integers(0, 21, (n, 2))):
            X[i, r:r + 8, c:c + 8] += patterns[y[i]] * 200
        write_idx(root / f"{split}-images-idx3-ubyte", np.clip(X, 0, 255))
        write_idx(root / f"{split}-labels-idx1-ubyte", y)


def test_convnet_clearly_beats_the_mlp_on_shifted_patterns(tmp_path):
    write_shifted_patterns(tmp_path / "d")
    acc = {}
    for model in ("mlp", "convnet"):
        p = run("train", "--dataset", "mnist", "--data-dir", tmp_path / "d", "--model", model, "--epochs", "4",
                "--lr", "0.01", "--lr-step", "0", "--channels", "8,16", "--hidden", "100", "--batch-size", "32",
                "--out", tmp_path / model)
        acc[model] = float(re.search(r"test accuracy ([0-9.]+)", p.stdout).group(1))
    assert "training ConvNet 1x28x28 conv 8,16 k5 pool 2 fc [100] -> 10 on mnist" in p.stdout
    assert acc["convnet"] >= 0.7 and acc["convnet"] >= acc["mlp"] + 0.2, acc


def test_convnet_run_resumes_evaluates_predicts_and_keeps_its_config(tmp_path):
    write_mnist(tmp_path / "m", n_train=60, n_test=20)
    out = tmp_path / "r"
    run("train", "--dataset", "mnist", "--data-dir", tmp_path / "m", "--model", "convnet", "--channels", "4",
        "--kernels", "3", "--pool", "1", "--hidden", "8", "--epochs", "1", "--lr", "0.01", "--out", out)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["run"]["model"] == "convnet" and cfg["model"]["channels"] == [4]
    p = run("train", "--resume", out, "--epochs", "2")
    assert "resuming" in p.stdout
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    assert "mnist test set: 20 samples" in run("evaluate", out).stdout
    np.save(tmp_path / "x.npy", np.zeros((1, 28, 28), np.float32))
    assert run("predict", out, tmp_path / "x.npy").stdout.startswith(str(tmp_path / "x.npy"))
    p = run("train", "--resume", out, "--epochs", "3", "--channels", "8", check=False)
    assert p.returncode == 1 and "channels" in p.stderr and len(p.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args,code,message", [
    (["--model", "convnet"], 1, "--model convnet needs image data"),
    (["--model", "convnet", "--dataset", "mnist", "--data-dir", ".", "--pool", "0"], 1, "--pool must be >= 1"),
    (["--channels", "8,x"], 2, "--channels takes positive integers"),
    (["--model", "cnn"], 2, "invalid choice"),
])
def test_convnet_flag_errors_are_one_line(args, code, message, tmp_path):
    p = run("train", *args, "--out", tmp_path / "r", check=False)
    assert p.returncode == code and message in p.stderr and "Traceback" not in p.stderr


@pytest.mark.slow  # the sweep passes every train flag through; tests/test_sweep.py covers the sweep itself
def test_sweep_searches_a_convnet(tmp_path):
    pytest.importorskip("optuna", reason="the sweep command needs optuna (chainrule[sweep])")
    write_mnist(tmp_path / "m", n_train=40, n_test=10)
    out = tmp_path / "s"
    p = run("sweep", "--dataset", "mnist", "--data-dir", tmp_path / "m", "--model", "convnet", "--channels", "2",
            "--hidden", "4", "--epochs", "1", "--search", "lr=1e-3:1e-1:log", "--trials", "2", "--out", out)
    assert "2 of 2 trials finished" in p.stdout
    best = json.loads((out / "best.json").read_text())
    assert best["model"] == "convnet" and best["channels"] == [2]


def test_sweep_searches_model_channels_kernels_and_pool(tmp_path):
    pytest.importorskip("optuna", reason="the sweep command needs optuna (chainrule[sweep])")
    write_mnist(tmp_path / "m", n_train=40, n_test=10)
    out = tmp_path / "s"
    p = run("sweep", "--dataset", "mnist", "--data-dir", tmp_path / "m", "--hidden", "4", "--epochs", "1",
            "--search", "model=mlp,convnet", "--search", "channels=2x4,3", "--search", "kernels=3,5x3",
            "--search", "pool=1,2", "--sampler", "random", "--sampler-seed", "3", "--trials", "4", "--out", out)
    assert "4 of 4 trials finished" in p.stdout
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert len(rows) == 4
    for row in rows:    # each trial ran with the sampled settings, lists as "2x4"
        cfg = json.loads((Path(row["run_dir"]) / "config.json").read_text())["run"]
        assert cfg["model"] == row["model"] and cfg["pool"] == int(row["pool"])
        assert "x".join(map(str, cfg["channels"])) == row["channels"] and row["channels"] in ("2x4", "3")
        assert "x".join(map(str, cfg["kernels"])) == row["kernels"] and row["kernels"] in ("3", "5x3")
        assert f"channels={row['channels']}" in p.stdout
    assert {r["model"] for r in rows} == {"mlp", "convnet"}    # (seed 3 samples both)
    best = json.loads((out / "best.json").read_text())
    assert best["channels"] in ([2, 4], [3]) and best["kernels"] in ([3], [5, 3]) and best["pool"] in (1, 2)


@pytest.mark.parametrize("search,message", [
    ("channels=16x0", "--search channels=16x0: '16x0' is not a list of conv channels (like 16, or 16x32"),
    ("kernels=3x3x3", "kernels=3x3x3: --kernels 3,3,3: 3 kernel sizes for 2 conv blocks"),
    ("pool=2,8", "pool=8: --pool 8: 2 conv blocks each pooling by 8 shrink a 28x28 image to nothing"),
])
def test_sweep_refuses_a_convnet_that_cannot_run_before_any_trial(tmp_path, search, message):
    pytest.importorskip("optuna", reason="the sweep command needs optuna (chainrule[sweep])")
    p = run("sweep", "--dataset", "mnist", "--data-dir", tmp_path, "--model", "convnet", "--search", search,
            "--out", tmp_path / "s", check=False)
    assert p.returncode == 1 and message in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert not (tmp_path / "s" / "trials").exists()


def test_first_layer_filters_are_drawn_beside_the_mlp_templates(tmp_path):
    from chainrule.viz import filters, plot_filters
    from chainrule import lecture
    from files import write_cifar10
    w = np.random.default_rng(0).standard_normal((6, 3, 5, 5))
    imgs = filters(w)
    assert imgs.shape == (6, 5, 5, 3) and imgs.min() == 0 and imgs.max() == 1
    raw = w[2].transpose(1, 2, 0)
    np.testing.assert_allclose(imgs[2], (raw - raw.min()) / (raw.max() - raw.min()))
    with pytest.raises(ValueError, match="expected convolution weights"):
        filters(np.zeros((6, 75)))
    fig = plot_filters(w, np.zeros((4, 3072)), path=tmp_path / "f.png")
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG" and len(fig.subfigs) == 2
    write_cifar10(tmp_path / "c")
    assert lecture.make("filters", tmp_path / "out", tmp_path / "c") == [str(tmp_path / "out" / "filters.png")]
