"""The `chainrule` command, run as a user runs it: in a subprocess."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from files import write_cifar10, write_mnist


def run(*args, cwd=None, check=True, timeout=300):
    p = subprocess.run([sys.executable, "-m", "chainrule", *map(str, args)], capture_output=True, text=True,
                       cwd=cwd, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p


def test_default_train_reaches_98_percent_on_spiral_and_writes_the_run_folder(tmp_path):
    p = run("train", "--out", tmp_path / "run")
    assert "training MLP [2, 100, 3] on spiral" in p.stdout
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 200 and rows[-1]["train_acc"] >= 0.98
    assert rows[99]["lr"] == pytest.approx(0.3) and rows[100]["lr"] == pytest.approx(0.09)
    for f in ("config.json", "training.png", "last/model.safetensors", "best/state.json"):
        assert (tmp_path / "run" / f).exists(), f
    assert (tmp_path / "run" / "training.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Traceback" not in p.stderr


def test_evaluate_and_predict_on_a_run(tmp_path):
    out = tmp_path / "r"
    run("train", "--dataset", "blobs", "--epochs", "3", "--out", out)
    p = run("evaluate", out)
    assert "blobs test set: 300 samples" in p.stdout and "blob 2" in p.stdout
    assert (out / "confusion.png").exists()
    np.save(tmp_path / "pts.npy", np.array([[2.0, 0.0], [-1.0, 1.7]], np.float32))
    p = run("predict", out, tmp_path / "pts.npy", "--top-k", "2")
    lines = p.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [f"{tmp_path / 'pts.npy'}[0]", f"{tmp_path / 'pts.npy'}[1]"]
    assert all(line.count("blob") == 2 for line in lines)


def test_cifar10_train_evaluate_predict_image(tmp_path):
    from PIL import Image
    data = tmp_path / "cifar-10-batches-py"
    write_cifar10(data)
    out = tmp_path / "c"
    p = run("train", "--dataset", "cifar10", "--data-dir", data, "--hidden", "20", "--epochs", "2",
            "--lr", "0.001", "--loss", "svm", "--out", out)
    assert "MLP [3072, 20, 10] on cifar10" in p.stdout
    p = run("evaluate", out)
    assert "cifar10 test set: 10 samples" in p.stdout and "airplane" in p.stdout
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 48, 3), dtype=np.uint8)).save(tmp_path / "x.png")
    p = run("predict", out, tmp_path / "x.png")
    assert p.stdout.startswith(str(tmp_path / "x.png") + ":") and p.stdout.count(",") == 2


def test_mnist_train(tmp_path):
    write_mnist(tmp_path / "m", gz=True)
    p = run("train", "--dataset", "mnist", "--data-dir", tmp_path / "m", "--epochs", "1", "--hidden", "16",
            "--lr", "0.01", "--out", tmp_path / "r")
    assert "MLP [784, 16, 10] on mnist" in p.stdout


def test_help_explains_every_option():
    p = run("train", "--help")
    for opt in ("--dataset", "--data-dir", "--hidden", "--activation", "--loss", "--reg", "--optimizer", "--lr ",
                "--momentum", "--lr-step", "--lr-gamma", "--epochs", "--batch-size", "--val-fraction", "--seed",
                "--dtype", "--out", "--resume"):
        assert opt in p.stdout, opt
    for cmd in ("evaluate", "predict", "demo"):
        assert "usage: chainrule " + cmd in run(cmd, "--help").stdout


@pytest.mark.parametrize("args,code,message", [
    (["train", "--dataset", "imagenet"], 2, "invalid choice: 'imagenet'"),
    (["train", "--hidden", "a,b"], 2, "--hidden takes widths separated by commas"),
    (["train", "--dataset", "cifar10"], 1, "--dataset cifar10 needs --data-dir"),
    (["train", "--dataset", "cifar10", "--data-dir", "/nonexistent"], 1, "/nonexistent: no such folder"),
    (["evaluate", "/nonexistent"], 1, "no checkpoint here"),
    (["train", "--resume", "/nonexistent"], 1, "no checkpoint here"),
])
def test_bad_input_gives_one_clear_line(args, code, message):
    p = run(*args, check=False)
    assert p.returncode == code
    assert message in p.stderr and "Traceback" not in p.stderr
    assert len([line for line in p.stderr.splitlines() if "error" in line]) == 1


def test_train_refuses_to_overwrite_a_run(tmp_path):
    run("train", "--epochs", "1", "--out", tmp_path / "r")
    p = run("train", "--epochs", "1", "--out", tmp_path / "r", check=False)
    assert p.returncode == 1 and "already holds a run; resume it with --resume" in p.stderr


def _final_weights(run_dir):
    from safetensors.numpy import load_file
    return load_file(str(run_dir / "last" / "model.safetensors"))


def test_sigkill_mid_run_then_resume_equals_uninterrupted(tmp_path):
    args = ["train", "--epochs", "120", "--batch-size", "8"]
    run(*args, "--out", tmp_path / "full")
    proc = subprocess.Popen([sys.executable, "-m", "chainrule", *args, "--out", str(tmp_path / "killed")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (tmp_path / "killed" / "last").exists() and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    metrics = (tmp_path / "killed" / "metrics.jsonl").read_text().splitlines()
    assert 0 < len(metrics) < 120, "the kill should land mid-run"
    p = run("train", "--resume", tmp_path / "killed")
    assert "resuming" in p.stdout
    full, resumed = _final_weights(tmp_path / "full"), _final_weights(tmp_path / "killed")
    for k in full:
        np.testing.assert_array_equal(full[k], resumed[k], err_msg=k)
    assert (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()[-1].split('"seconds"')[0] == \
        (tmp_path / "killed" / "metrics.jsonl").read_text().splitlines()[-1].split('"seconds"')[0]


def test_sigint_saves_and_says_how_to_resume(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "chainrule", "train", "--epochs", "100000", "--out",
                             str(tmp_path / "r")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (tmp_path / "r" / "last").exists() and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert f"Resume with: chainrule train --resume {tmp_path / 'r'}" in out
    assert "Traceback" not in err


def test_chainrule_entry_point_and_demo():
    exe = os.path.join(os.path.dirname(sys.executable), "chainrule")  # the installed console script
    p = subprocess.run([exe, "demo"], capture_output=True, text=True, check=True)
    assert "f = q * z = -12" in p.stdout and "df/dx = df/dq * 1 = -4" in p.stdout
