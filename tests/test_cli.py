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
    # the stop and the resume name the same place: "epoch E/N, after batch B of M"
    stop = next(line for line in out.splitlines() if line.startswith("interrupted at epoch "))
    where = stop.split("interrupted at ")[1].split(";")[0]
    epoch = int(where.split()[1].split("/")[0])
    p = run("train", "--resume", tmp_path / "r", "--epochs", epoch)
    assert p.stdout.splitlines()[0] == f"resuming {tmp_path / 'r'} at {where.replace('/100000', f'/{epoch}')}"


def test_chainrule_entry_point_and_demo():
    exe = os.path.join(os.path.dirname(sys.executable), "chainrule")  # the installed console script
    p = subprocess.run([exe, "demo"], capture_output=True, text=True, check=True)
    assert "f = q * z = -12" in p.stdout and "df/dx = df/dq * 1 = -4" in p.stdout


# ------------------------------------------------------------------ progress, threads, defaults, checkpoints
def on_a_terminal(*args, timeout=300):
    """The command with its stdout on a pseudo-terminal (as a user sees it): (exit code, output)."""
    import pty
    import select
    main, child = pty.openpty()
    p = subprocess.Popen([sys.executable, "-m", "chainrule", *map(str, args)], stdout=child,
                         stderr=subprocess.PIPE, close_fds=True)
    os.close(child)
    chunks, deadline = [], time.time() + timeout
    while time.time() < deadline:
        ready, _, _ = select.select([main], [], [], 0.5)
        if ready:
            try:
                data = os.read(main, 65536)
            except OSError:          # the terminal closed: the command is done
                break
            if not data:
                break
            chunks.append(data)
        elif p.poll() is not None:
            break
    os.close(main)
    p.wait(timeout=60)
    return p.returncode, b"".join(chunks).decode()


def test_on_a_terminal_one_live_line_and_a_line_per_epoch_that_stays(tmp_path):
    code, out = on_a_terminal("train", "--epochs", "4", "--batch-size", "1", "--out", tmp_path / "r")
    assert code == 0
    out = out.replace("\r\n", "\n")     # the terminal's own line ends
    live = [part for part in out.split("\r") if "steps/s" in part]
    assert live, out                       # the live line was drawn (and redrawn in place)
    assert all("ETA" in part and "train acc" in part and "/4  batch " in part for part in live)
    assert all("\n" not in part.split("\x1b[K")[0] for part in live)    # in place: never a new line
    screen = [line.rsplit("\r", 1)[-1].replace("\x1b[K", "") for line in out.split("\n")]
    epochs = [line for line in screen if line.startswith("epoch ") and "steps/s" not in line]
    assert [line.split()[1] for line in epochs] == ["1/4", "2/4", "3/4", "4/4"], screen
    assert all("val acc" in line and "train acc" in line for line in epochs)
    assert "result: best/ = epoch" in out and "it/s" not in out      # no tqdm bars left over


def test_without_a_terminal_plain_lines_log_every_and_quiet(tmp_path):
    p = run("train", "--epochs", "12", "--out", tmp_path / "a")
    assert "\r" not in p.stdout and "\x1b" not in p.stdout
    epochs = [line for line in p.stdout.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in epochs] == [f"{i}/12" for i in range(1, 13)]
    p = run("train", "--epochs", "12", "--log-every", "5", "--out", tmp_path / "b")
    assert [line.split()[1] for line in p.stdout.splitlines() if line.startswith("epoch ")] == \
        ["1/12", "5/12", "10/12", "12/12"]
    p = run("train", "--epochs", "3", "--quiet", "--out", tmp_path / "c")
    assert not [line for line in p.stdout.splitlines() if line.startswith("epoch ")]
    assert "result: best/" in p.stdout
    p = run("train", "--epochs", "3", "--log-every", "0", "--out", tmp_path / "d", check=False)
    assert p.returncode == 1 and p.stderr.strip() == "chainrule train: error: --log-every must be a positive " \
                                                     "integer (epochs), got 0"


def _blas_threads_after(*args, env=None):
    code = ("import sys; from chainrule import cli; code = cli.main(sys.argv[1:]);"
            "from threadpoolctl import threadpool_info;"
            "print('BLAS', min(i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas'));"
            "sys.exit(code)")
    p = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                       env={**os.environ, **(env or {})}, timeout=120)
    return p, (int(p.stdout.split("BLAS ")[-1]) if "BLAS " in p.stdout else None)


def test_one_place_sets_the_blas_threads_of_every_command():
    env = {v: "2" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    assert _blas_threads_after("demo", env={**env, "CHAINRULE_NUM_THREADS": ""})[1] == 1         # the default
    assert _blas_threads_after("demo", "--threads", "2")[1] == 2
    assert _blas_threads_after("lecture", "--list", env={"CHAINRULE_NUM_THREADS": "2"})[1] == 2
    assert _blas_threads_after("graph", "x*y", "x=1", "y=2", "--threads", "1", env=env)[1] == 1
    p, _ = _blas_threads_after("demo", env={"CHAINRULE_NUM_THREADS": "many"})
    assert p.returncode == 1 and p.stderr.strip() == ("chainrule demo: error: CHAINRULE_NUM_THREADS='many': must "
                                                      "be a positive integer (the number of BLAS threads)")
    p = run("demo", "--threads", "0", check=False)
    assert p.returncode == 1 and p.stderr.strip() == "chainrule demo: error: --threads must be a positive integer, got 0"


def _readme_cifar_command():
    """README's CIFAR-10 command, as a list of arguments after `chainrule`."""
    from pathlib import Path
    text = (Path(__file__).parents[1] / "README.md").read_text()
    line = next(line for line in text.splitlines() if "chainrule train --dataset cifar10" in line)
    return line.split("chainrule ", 1)[1].split()


def _learnable_cifar10(root, n=2500, seed=0):
    """CIFAR-10-format files whose classes differ (a class-coloured band plus noise): a net can learn them."""
    import pickle
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)

    def batch(m):
        y = rng.integers(0, 10, m)
        X = rng.integers(0, 100, (m, 3, 32, 32))
        for i, c in enumerate(y):
            X[i, c % 3, 3 * c:3 * c + 3, :] += 150
        return {b"labels": [int(v) for v in y], b"data": X.reshape(m, -1).astype(np.uint8), b"batch_label": b"x"}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (root / name).write_bytes(pickle.dumps(batch(n // 5 if name != "test_batch" else 100), protocol=2))
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    (root / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}, protocol=2))
    return root


def test_readmes_cifar10_command_learns(tmp_path):
    """README's command with 3 epochs: on the shared CIFAR-10 subset when it is there (as in CI), else on
    learnable CIFAR-format files made here; the training loss must fall clearly."""
    from pathlib import Path
    args = _readme_cifar_command()
    assert args[:3] == ["train", "--dataset", "cifar10"] and "--lr" not in args     # the defaults do the work
    subset = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar-10-subset-py"
    data = subset if subset.is_dir() else _learnable_cifar10(tmp_path / "cifar")
    args[args.index("--data-dir") + 1] = data
    p = run(*args, "--epochs", "3", "--out", tmp_path / "r")
    assert "training MLP [3072, 100, 100, 10] on cifar10" in p.stdout
    rows = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["train_loss"] < 0.85 * rows[0]["train_loss"], rows
    assert rows[-1]["val_acc"] > 0.25, rows


def test_readmes_mnist_command_runs_with_mnists_own_defaults(tmp_path):
    """The quick version of the slow test below: README's MNIST command on small MNIST-format files,
    with MNIST's defaults (chosen by benchmarks/bench_defaults.py) in the run's config and in --help."""
    from pathlib import Path
    text = (Path(__file__).parents[1] / "README.md").read_text()
    args = next(line for line in text.splitlines() if "chainrule train --dataset mnist" in line).split("chainrule ", 1)[1]
    args = args.split()
    write_mnist(tmp_path / "m", n_train=60, n_test=20)
    args[args.index("--data-dir") + 1] = tmp_path / "m"
    run(*args, "--epochs", "1", "--out", tmp_path / "r")
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())["run"]
    assert (cfg["lr"], cfg["reg"], cfg["hidden"], cfg["limit"]) == (0.1, 1e-3, [100, 100], 10000)
    assert "mnist 0.1" in " ".join(run("train", "--help").stdout.split())


MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@pytest.mark.slow   # real MNIST: 10 epochs on 8000 images, about 2 s of training
def test_readmes_mnist_command_reaches_what_readme_says(tmp_path):
    """README's MNIST command on the real MNIST files in $CHAINRULE_MNIST_DIR: the test accuracy of its
    best checkpoint is the one README states (within 0.005: BLAS may sum in another order)."""
    import re
    from pathlib import Path
    folder = os.environ.get("CHAINRULE_MNIST_DIR")
    if not folder:
        pytest.skip("CHAINRULE_MNIST_DIR is not set (a folder with the four MNIST IDX files, see README)")
    missing = [f for f in MNIST_FILES if not any((Path(folder) / (f + gz)).is_file() for gz in ("", ".gz"))]
    if missing:
        pytest.skip(f"CHAINRULE_MNIST_DIR={folder} lacks the MNIST file(s) {', '.join(missing)}")
    text = (Path(__file__).parents[1] / "README.md").read_text()
    line = next(line for line in text.splitlines() if "chainrule train --dataset mnist" in line)
    args = line.split("chainrule ", 1)[1].split()
    assert "--lr" not in args     # the defaults do the work
    args[args.index("--data-dir") + 1] = folder
    stated = re.search(r"this command reaches ([0-9.]+) validation and\s+([0-9.]+) test accuracy",
                       text[text.index(line):])     # the sentence after the command
    p = run(*args, "--out", tmp_path / "r")
    assert "training MLP [784, 100, 100, 10] on mnist: 8000 train, 2000 validation, 10000 test" in p.stdout
    got = float(re.search(r"^result: best/ = epoch \d+ .*: test accuracy ([0-9.]+)", p.stdout, re.M).group(1))
    assert abs(got - float(stated.group(2))) <= 0.005, (got, stated.group(0))


def test_summary_evaluate_and_predict_agree_on_which_weights(tmp_path):
    out = tmp_path / "r"
    p = run("train", "--epochs", "8", "--lr", "1.5", "--out", out)   # a high lr: the last epoch is not the best
    result = next(line for line in p.stdout.splitlines() if line.startswith("result: best/ = epoch "))
    last = next(line for line in p.stdout.splitlines() if line.startswith("last/ = epoch 8"))
    best_epoch = int(result.split("epoch ")[1].split()[0])
    best_test = result.split("test accuracy ")[1].split(";")[0]
    last_test = last.split("test accuracy ")[1].split()[0]
    e = run("evaluate", out)
    assert f"accuracy {best_test}; checkpoint best/ (epoch {best_epoch}, the run's result" in e.stdout
    e = run("evaluate", out, "--checkpoint", "last")
    assert f"accuracy {last_test}; checkpoint last/ (epoch 8, the last epoch's weights)" in e.stdout
    np.save(tmp_path / "x.npy", np.array([[0.5, -0.2]], np.float32))
    pr = run("predict", out, tmp_path / "x.npy")
    assert pr.stderr.strip() == f"using checkpoint best/ (epoch {best_epoch}, the run's result: its best epoch)"
    pr = run("predict", out, tmp_path / "x.npy", "--checkpoint", "last")
    assert "using checkpoint last/ (epoch 8" in pr.stderr
    assert run("evaluate", out, "--checkpoint", "first", check=False).returncode == 2


def test_a_model_too_big_is_refused_in_human_units(tmp_path):
    p = run("train", "--hidden", "200000,200000", "--out", tmp_path / "r", check=False)
    assert p.returncode == 1 and " GB for its weights" in p.stderr and "bytes" not in p.stderr, p.stderr
