"""Hostile files, bad flags and faults, met the way a user meets them: through the command in a
subprocess, under a memory limit and a timeout. Every fixture is built here by the test; none is
stored. Each case checks the exit code, exactly one line on stderr naming the file or flag, no
traceback, and that nothing in a payload ran."""
import hashlib
import json
import os
import pickle
import resource
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from files import write_cifar10, write_idx, write_mnist

MEMORY = 3 << 30  # chainrule imports no torch: 3 GiB of address space is plenty for every command


def _limits(fsize=None):
    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    return apply


def cli(*args, cwd=None, timeout=120, fsize=None, env=None):
    """The command in a subprocess under a memory limit and a timeout (a hang fails the test)."""
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "chainrule", *map(str, args)], capture_output=True, text=True,
                       cwd=cwd, timeout=timeout, preexec_fn=_limits(fsize), env=env)
    p.seconds = time.monotonic() - t0
    return p


def one_line(p, code=1, *needles):
    """Exit code ``code``, exactly one line on stderr containing every needle, no traceback."""
    lines = p.stderr.strip("\n").splitlines()
    assert p.returncode == code, (p.returncode, p.stdout, p.stderr)
    assert len(lines) == 1, p.stderr
    assert "Traceback" not in p.stderr
    for n in needles:
        assert str(n) in lines[0], (n, lines[0])
    return lines[0]


def resign(folder: Path, name: str, data: bytes) -> None:
    """Replace a checkpoint file and record its new size and SHA-256, as if chainrule had written
    it: what is left to catch it is the structure and the model/optimizer checks."""
    (folder / name).write_bytes(data)
    man = json.loads((folder / "manifest.json").read_text())
    man["files"][name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (folder / "manifest.json").write_text(json.dumps(man))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished 2-epoch spiral run; tests copy it before damaging it."""
    root = tmp_path_factory.mktemp("trained")
    p = cli("train", "--epochs", "2", "--out", root / "run")
    assert p.returncode == 0, p.stderr
    return root / "run"


def copy_run(trained, tmp_path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(trained, dst, symlinks=True)
    return dst


# ------------------------------------------------------------------ damaged checkpoints
def _truncate(f):
    f.write_bytes(f.read_bytes()[:-7])


def _flip_header(f):
    b = bytearray(f.read_bytes())
    b[12] ^= 0x04
    f.write_bytes(bytes(b))


def _absurd_header_length(f):
    b = f.read_bytes()
    f.write_bytes(struct.pack("<Q", 1 << 62) + b[8:])


def _flip_data(f):
    b = bytearray(f.read_bytes())
    b[-3] ^= 0x10
    f.write_bytes(bytes(b))


SLOW = pytest.mark.slow  # the same behaviour as a default case, once more


@pytest.mark.parametrize("name, damage", [
    ("model.safetensors", _flip_header), ("model.safetensors", _absurd_header_length),
    ("optimizer.safetensors", _truncate), ("optimizer.safetensors", _flip_data),
    pytest.param("model.safetensors", _truncate, marks=SLOW), pytest.param("model.safetensors", _flip_data, marks=SLOW),
    pytest.param("optimizer.safetensors", _flip_header, marks=SLOW),
    pytest.param("optimizer.safetensors", _absurd_header_length, marks=SLOW),
])
def test_damaged_checkpoint_file_is_refused_with_one_line(trained, tmp_path, damage, name):
    run = copy_run(trained, tmp_path)
    damage(run / "last" / name)
    p = cli("train", "--resume", run, "--epochs", "3")
    one_line(p, 1, f"{run / 'last' / name}")
    if name == "model.safetensors":  # evaluate reads "best", predict too; damage it as well
        damage(run / "best" / name)
        one_line(cli("evaluate", run), 1, f"{run / 'best' / name}")


@pytest.mark.parametrize("content, needle", [
    (b"[]", "expected a JSON object"),
    pytest.param(b'{"epoch": "two"}', "state.json", marks=SLOW),
    pytest.param(b"{not json", "not valid JSON", marks=SLOW),
])
def test_state_json_of_wrong_structure_is_refused(trained, tmp_path, content, needle):
    run = copy_run(trained, tmp_path)
    resign(run / "last", "state.json", content)
    one_line(cli("train", "--resume", run, "--epochs", "3"), 1, run / "last" / "state.json", needle)


def test_wrong_shaped_optimizer_buffer_and_missing_entries(trained, tmp_path):
    from safetensors.numpy import load, save
    run = copy_run(trained, tmp_path)
    last = run / "last"
    bufs = load((last / "optimizer.safetensors").read_bytes())
    key = next(iter(bufs))
    bad = dict(bufs, **{key: np.zeros((1,) + bufs[key].shape[1:], bufs[key].dtype)})  # would broadcast
    resign(last, "optimizer.safetensors", save(bad))
    one_line(cli("train", "--resume", run, "--epochs", "3"), 1, "optimizer.safetensors", "buffer")
    # no optimizer at all: refused unless the user says to start it fresh
    run2 = copy_run(trained, tmp_path / "b")
    state = json.loads((run2 / "last" / "state.json").read_text())
    del state["optimizer"]
    resign(run2 / "last", "state.json", json.dumps(state).encode())
    one_line(cli("train", "--resume", run2, "--epochs", "3"), 1, "no optimizer state", "--reset-optimizer")
    state["scheduler"] = None
    resign(run2 / "last", "state.json", json.dumps(state).encode())
    one_line(cli("train", "--resume", run2, "--epochs", "3", "--reset-optimizer"), 1, "--reset-scheduler")
    p = cli("train", "--resume", run2, "--epochs", "3", "--reset-optimizer", "--reset-scheduler")
    assert p.returncode == 0 and "done:" in p.stdout, p.stderr


def test_links_leading_outside_the_run_and_non_regular_files(trained, tmp_path):
    run = copy_run(trained, tmp_path)
    other = copy_run(trained, tmp_path / "other")
    (run / "last").unlink()
    os.symlink(os.path.relpath(os.path.realpath(other / "last"), run), run / "last")
    one_line(cli("train", "--resume", run, "--epochs", "3"), 1, run / "last", "outside its run folder")
    # a FIFO in place of the weights: refused at once, not read forever
    folder = Path(os.path.realpath(other / "best"))
    (folder / "model.safetensors").unlink()
    os.mkfifo(folder / "model.safetensors")
    p = cli("evaluate", other, timeout=60)
    one_line(p, 1, "model.safetensors", "FIFO")


def test_a_failed_write_keeps_the_previous_checkpoint(trained, tmp_path):
    """A full disk, simulated by a file size limit: one line, and the old checkpoint still loads."""
    from chainrule.train import load_checkpoint
    run = copy_run(trained, tmp_path)
    before = load_checkpoint(run, "last")
    p = cli("train", "--resume", run, "--epochs", "4", fsize=900)
    one_line(p, 1, "cannot write the checkpoint", "previous checkpoint was kept")
    after = load_checkpoint(run, "last")
    assert after[2]["epoch"] == before[2]["epoch"] == 2
    for k, v in before[0].items():
        np.testing.assert_array_equal(after[0][k], v)
    assert sorted(p.name for p in run.glob(".last-*")) == [os.readlink(run / "last")]  # nothing half-written


# ------------------------------------------------------------------ hostile data files
MARKER = "chainrule-payload-ran"


def _payloads(marker: Path):
    """name -> pickle bytes of each hostile kind, built here by hand (opcode by opcode)."""
    cmd = f"touch {marker}".encode()
    return {
        "global": b"cos\nsystem\n(S'" + cmd + b"'\ntR.",
        "memo": b"\x80\x02}q\x00" + b"r\xff\xff\xff\x7f" * 3 + b".",           # LONG_BINPUT at 2**31-1
        "nesting": b"\x80\x02" + b"(" * 5000 + b".",
        "codecs": (b"\x80\x02c_codecs\nencode\nX\x05\x00\x00\x00aaaaaX\x08\x00\x00\x00punycode\x86R."),
        "allocation": b"\x80\x02cnumpy\nndarray\nJ\x00\x00\x00\x7f\x85R.",       # np.ndarray((2**31-2**24,))
        "float labels": pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1.7, 2]}, protocol=2),
        "labels beyond the names": pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [3, 12]},
                                                protocol=2),
    }


@pytest.mark.parametrize("kind", ["global", "memo", "nesting", "codecs", "allocation", "float labels",
                                  "labels beyond the names", "fifo", pytest.param("/dev/zero", marks=SLOW)])
def test_hostile_cifar_batch_is_refused_in_bounded_time_and_memory(tmp_path, kind):
    data = tmp_path / "cifar"
    write_cifar10(data)
    marker = tmp_path / MARKER
    target = data / "data_batch_1"
    target.unlink()
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "/dev/zero":
        os.symlink("/dev/zero", target)
    else:
        target.write_bytes(_payloads(marker)[kind])
    p = cli("train", "--dataset", "cifar10", "--data-dir", data, "--epochs", "1", "--out", tmp_path / "r",
            timeout=60)
    one_line(p, 1, target)
    assert p.seconds < 30
    assert not marker.exists()
    assert not (tmp_path / "r").exists() or not (tmp_path / "r" / "last").exists()


@pytest.mark.parametrize("kind", ["overflowing header", "gzip bomb", "truncated gzip", "label out of range"])
def test_hostile_idx_file_is_refused(tmp_path, kind):
    data = tmp_path / "mnist"
    write_mnist(data, gz=kind != "overflowing header")
    if kind == "overflowing header":  # 2**32-1 cubed overflows int64; Python integers do not
        f = data / "train-images-idx3-ubyte"
        f.write_bytes(struct.pack(">IIII", 0x803, 2**32 - 1, 2**32 - 1, 2**32 - 1) + b"\0" * 64)
    elif kind == "gzip bomb":  # the header promises 50 bytes, the stream holds 64 MB of zeros
        f = data / "train-labels-idx1-ubyte.gz"
        z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        body = z.compress(struct.pack(">II", 0x801, 50))
        chunk = b"\0" * (1 << 20)
        for _ in range(64):
            body += z.compress(chunk)
        f.write_bytes(body + z.flush())
    elif kind == "truncated gzip":
        f = data / "t10k-images-idx3-ubyte.gz"
        f.write_bytes(f.read_bytes()[:-40])
    else:
        f = data / "t10k-labels-idx1-ubyte.gz"
        write_idx(data / "t10k-labels-idx1-ubyte", np.full(20, 200), gz=True)
    p = cli("train", "--dataset", "mnist", "--data-dir", data, "--epochs", "1", "--out", tmp_path / "r", timeout=60)
    one_line(p, 1, f)
    assert p.seconds < 30


def test_real_cifar_subset_loads(tmp_path):
    root = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar-10-subset-py"  # ../shared beside the repo
    if not root.is_dir():
        pytest.skip(f"the CIFAR-10 subset is not on this machine ({root} is absent)")
    from chainrule.data import load_cifar10
    Xtr, ytr, Xte, yte, classes = load_cifar10(root)
    assert Xtr.shape[1:] == (3, 32, 32) and len(ytr) == len(Xtr) and classes[0] == "airplane"
    assert 0 <= ytr.min() and ytr.max() <= 9 and len(np.unique(ytr)) == 10


# ------------------------------------------------------------------ flags
@pytest.mark.parametrize("flags, needle", [
    (["--limit", "-5"], "--limit"), (["--momentum", "5"], "--momentum"), (["--lr", "nan"], "--lr"),
    (["--val-fraction", "0.999"], "--val-fraction"), (["--hidden", "100000,100000"], " GB for its weights"),
    pytest.param(["--reg", "-1"], "--reg", marks=SLOW), pytest.param(["--lr-gamma", "0"], "--lr-gamma", marks=SLOW),
    pytest.param(["--batch-size", "0"], "--batch-size", marks=SLOW),
])
def test_out_of_range_flags_are_refused_by_name(tmp_path, flags, needle):
    one_line(cli("train", *flags, "--epochs", "1", "--out", tmp_path / "r"), 1, needle)
    assert not (tmp_path / "r" / "last").exists()


def test_usage_errors_point_to_help_and_debug_shows_the_traceback(tmp_path):
    one_line(cli("train", "--lr", "fast"), 2, "--lr", "see chainrule train --help")
    one_line(cli("frobnicate"), 2, "see chainrule --help")
    p = cli("evaluate", tmp_path / "nowhere", "--debug")
    assert p.returncode == 1 and "Traceback" in p.stderr and p.stderr.strip().splitlines()[-1].startswith(
        "chainrule evaluate: error:")


def test_graph_takes_an_expression_starting_with_minus():
    p = cli("graph", "-x*y", "x=2", "y=3", "--explain")
    assert p.returncode == 0, p.stderr
    assert "f = -x*y = -6" in p.stdout and "df/dx = -3" in p.stdout


def test_closed_pipe_ends_quietly():
    p = subprocess.Popen([sys.executable, "-m", "chainrule", "lecture", "--list"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.stdout.close()  # the reader is gone before the first line is written
    err = p.stderr.read()
    p.wait(timeout=60)
    assert err == b"" and p.returncode == 141


# ------------------------------------------------------------------ resume, lock, run folders
def test_resume_applies_or_refuses_each_flag_and_works_from_any_directory(trained, tmp_path):
    run = copy_run(trained, tmp_path)
    one_line(cli("train", "--resume", run, "--lr", "5"), 1, "--lr 5", "only --epochs and --data-dir")
    one_line(cli("train", "--resume", run, "--epochs", "1"), 1, "--epochs 1")
    one_line(cli("train", "--resume", run, "--out", tmp_path / "x"), 1, "--out")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    p = cli("train", "--resume", os.path.relpath(run, elsewhere), "--epochs", "3", "--lr", "0.3", cwd=elsewhere)
    assert p.returncode == 0 and "resuming" in p.stdout, p.stderr
    assert json.loads((run / "last" / "state.json").read_text())["epoch"] == 3


def test_data_dir_is_stored_absolute(tmp_path):
    write_mnist(tmp_path / "mnist", n_train=30, n_test=10)
    p = cli("train", "--dataset", "mnist", "--data-dir", "mnist", "--hidden", "8", "--epochs", "1", "--out", "r",
            cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert json.loads((tmp_path / "r" / "config.json").read_text())["run"]["data_dir"] == str(tmp_path / "mnist")


def test_second_process_on_a_run_folder_is_refused_naming_the_holder(tmp_path):
    out = tmp_path / "r"
    first = subprocess.Popen([sys.executable, "-m", "chainrule", "train", "--epochs", "100000", "--out", out],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (out / "config.json").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        p = cli("train", "--epochs", "1", "--out", out)
        one_line(p, 1, f"PID {first.pid}", str(out))
        one_line(cli("train", "--resume", out, "--epochs", "5"), 1, f"PID {first.pid}")
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    assert first.returncode == 130


def test_default_run_folders_never_collide_and_leftovers_are_cleaned(tmp_path, trained):
    from chainrule.train.run import new_run_dir
    a, b = new_run_dir("spiral", tmp_path / "runs"), new_run_dir("spiral", tmp_path / "runs")
    assert a != b and a.is_dir() and b.is_dir()
    run = copy_run(trained, tmp_path)
    (run / ".last-123").mkdir()
    (run / ".last-123" / "model.safetensors").write_bytes(b"half")
    (run / "metrics.jsonl.tmp").write_text("half")
    p = cli("train", "--resume", run, "--epochs", "3")
    assert p.returncode == 0, p.stderr
    assert not (run / ".last-123").exists() and not (run / "metrics.jsonl.tmp").exists()


# ------------------------------------------------------------------ the NaN guard
def test_divergence_before_any_checkpoint_says_none_exists(tmp_path):
    p = cli("train", "--lr", "1e30", "--epochs", "2", "--out", tmp_path / "r")
    line = one_line(p, 1, "No checkpoint was written")
    assert "encountered" in line or "not finite" in line or "became" in line
    assert not (tmp_path / "r" / "last").exists()


def test_non_finite_weights_are_never_saved_and_the_kept_checkpoint_is_named(tmp_path):
    from chainrule.train import NonFiniteLoss, load_checkpoint
    from chainrule.train.run import RunConfig, make_trainer
    t, _ = make_trainer(RunConfig(epochs=1), tmp_path, progress=False)
    t.fit()
    good = load_checkpoint(tmp_path, "last")[0]
    w = next(iter(t.model.parameters()))
    w.data[0, 0] = np.inf  # a finite loss can leave non-finite weights behind
    with pytest.raises(NonFiniteLoss, match=r"weights .* not finite.*last \(epoch 1\).* kept"):
        t.save("last")
    np.testing.assert_array_equal(load_checkpoint(tmp_path, "last")[0]["0.weight"], good["0.weight"])


# ------------------------------------------------------------------ predict and graph
def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims width x height pixels (20000 x 20000 = 400 megapixels)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100))
                     + chunk(b"IEND", b""))


def test_predict_bounds_images_detects_hwc_and_checks_top_k(tmp_path):
    data = tmp_path / "cifar"
    write_cifar10(data)
    run = tmp_path / "r"
    assert cli("train", "--dataset", "cifar10", "--data-dir", data, "--hidden", "8", "--epochs", "1",
               "--out", run).returncode == 0
    img = np.random.default_rng(0).integers(0, 256, (3, 32, 32)).astype(np.uint8)
    np.save(tmp_path / "chw.npy", img)
    np.save(tmp_path / "hwc.npy", img.transpose(1, 2, 0))
    np.save(tmp_path / "odd.npy", img.reshape(96, 32))
    p = cli("predict", run, tmp_path / "chw.npy", tmp_path / "hwc.npy", "--top-k", "10")
    assert p.returncode == 0, p.stderr
    a, b = (line.split(": ", 1)[1] for line in p.stdout.splitlines())
    assert a == b  # the same image in either layout gets the same answer
    one_line(cli("predict", run, tmp_path / "odd.npy"), 1, "odd.npy", "(96, 32)")
    one_line(cli("predict", run, tmp_path / "chw.npy", "--top-k", "0"), 1, "--top-k")
    _png_header_only(tmp_path / "huge.png", 20000, 20000)
    p = cli("predict", run, tmp_path / "huge.png", timeout=60)
    one_line(p, 1, "huge.png", "400000000 pixels")
    assert p.seconds < 30


def test_large_graph_is_refused_with_the_way_to_draw_it(tmp_path):
    expr = " + ".join(f"x*{i}" for i in range(100))
    p = cli("graph", expr, "x=1", "--out", tmp_path / "g.svg", timeout=60)
    one_line(p, 1, "dot -Tsvg", "g.dot")
    assert p.seconds < 30 and (tmp_path / "g.dot").exists()


@pytest.fixture
def slow_dot(tmp_path):
    """A 'dot' that records its PID and sleeps: stands in for a layout that takes forever."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "dot").write_text(f"#!/bin/sh\necho $$ > {tmp_path / 'dot.pid'}\nexec sleep 600\n")
    (bin_dir / "dot").chmod(0o755)
    return dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}"), tmp_path / "dot.pid"


def _wait_for(path: Path, seconds=60):
    deadline = time.monotonic() + seconds
    while not (path.exists() and path.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return int(path.read_text())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead too
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL])
def test_ctrl_c_or_kill_stops_dot_with_chainrule(tmp_path, slow_dot, how):
    env, pid_file = slow_dot
    p = subprocess.Popen([sys.executable, "-m", "chainrule", "graph", "x*y", "x=1", "y=2", "--out",
                          tmp_path / "g.svg"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    dot_pid = _wait_for(pid_file)
    p.send_signal(how)
    out, err = p.communicate(timeout=60)
    if how == signal.SIGINT:
        assert p.returncode == 130
        assert err.strip().splitlines() == ["chainrule graph: interrupted"]
    deadline = time.monotonic() + 10
    while _alive(dot_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(dot_pid)


def test_dot_time_limit(slow_dot):
    from chainrule.viz.graph import run_dot
    env, pid_file = slow_dot
    old = os.environ["PATH"]
    os.environ["PATH"] = env["PATH"]
    try:
        t0 = time.monotonic()
        with pytest.raises(RuntimeError, match="did not finish within 1 s"):
            run_dot("digraph { a -> b }", "svg", timeout=1)
        assert time.monotonic() - t0 < 20
    finally:
        os.environ["PATH"] = old
    assert not _alive(int(pid_file.read_text()))


# ------------------------------------------------------------------ randomized: bit flips and truncations
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

MUTATION = st.tuples(st.lists(st.tuples(st.integers(0, 1 << 30), st.integers(0, 7)), max_size=4),
                     st.none() | st.integers(0, 1 << 30))


def _mutate(data: bytes, mutation) -> bytes:
    flips, cut = mutation
    b = bytearray(data)
    for pos, bit in flips:
        if b:
            b[pos % len(b)] ^= 1 << bit
    if cut is not None:
        b = b[:cut % (len(b) + 1)]
    return bytes(b)


@pytest.fixture(scope="module")
def fuzz_sources(tmp_path_factory):
    """A small run folder, a CIFAR-10 folder and a gzipped and a raw MNIST folder, made by the library."""
    from chainrule.train.run import RunConfig, start_run
    root = tmp_path_factory.mktemp("fuzz")
    t, _ = start_run(RunConfig(epochs=1, hidden=(4,)), root / "run", progress=False)
    t.fit()
    t.run_lock.release()
    write_cifar10(root / "cifar", n_train=(3, 2, 2, 2, 2), n_test=2, filenames=True)
    write_mnist(root / "mnist-gz", n_train=5, n_test=3, gz=True)
    write_mnist(root / "mnist", n_train=5, n_test=3)
    return root


CKPT_FILES = ["model.safetensors", "optimizer.safetensors", "state.json", "manifest.json"]


def _fuzz_checkpoint(src: Path, name: str, mutation, resigned: bool):
    import tempfile
    from chainrule.train.checkpoint import CheckpointError
    from chainrule.train.run import load_run, resume_run
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        shutil.copytree(src / "run", run, symlinks=True)
        folder = Path(os.path.realpath(run / "last"))
        data = _mutate((folder / name).read_bytes(), mutation)
        if resigned and name != "manifest.json":
            resign(folder, name, data)
        else:
            (folder / name).write_bytes(data)
        for call in (lambda: load_run(run, "last"), lambda: resume_run(run, progress=False, epochs=2)):
            try:
                out = call()
            except CheckpointError as e:
                assert "\n" not in str(e) and str(run / "last") in str(e)
            else:
                if isinstance(out, tuple) and hasattr(out[0], "run_lock"):
                    out[0].run_lock.release()


def _fuzz_data(src: Path, kind: str, mutation):
    import tempfile
    from chainrule.data import load_cifar10, load_mnist
    from chainrule.data.files import DataFileError
    folder, name, load = {"cifar": ("cifar", "data_batch_1", load_cifar10),
                          "meta": ("cifar", "batches.meta", load_cifar10),
                          "idx-gz": ("mnist-gz", "train-images-idx3-ubyte.gz", load_mnist),
                          "labels-gz": ("mnist-gz", "t10k-labels-idx1-ubyte.gz", load_mnist),
                          "idx": ("mnist", "train-labels-idx1-ubyte", load_mnist)}[kind]
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / folder
        shutil.copytree(src / folder, d)
        (d / name).write_bytes(_mutate((d / name).read_bytes(), mutation))
        try:
            load(d)
        except DataFileError as e:
            assert "\n" not in str(e) and str(d) in str(e)


FUZZ = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@settings(max_examples=12, **FUZZ)
@given(name=st.sampled_from(CKPT_FILES), mutation=MUTATION, resigned=st.booleans())
def test_fuzzed_checkpoints_fail_only_with_one_line(fuzz_sources, name, mutation, resigned):
    _fuzz_checkpoint(fuzz_sources, name, mutation, resigned)


@settings(max_examples=12, **FUZZ)
@given(kind=st.sampled_from(["cifar", "meta", "idx-gz", "labels-gz", "idx"]), mutation=MUTATION)
def test_fuzzed_data_files_fail_only_with_one_line(fuzz_sources, kind, mutation):
    _fuzz_data(fuzz_sources, kind, mutation)


@pytest.mark.slow
@settings(max_examples=400, **FUZZ)
@given(name=st.sampled_from(CKPT_FILES), mutation=MUTATION, resigned=st.booleans())
def test_fuzzed_checkpoints_many(fuzz_sources, name, mutation, resigned):
    _fuzz_checkpoint(fuzz_sources, name, mutation, resigned)


@pytest.mark.slow
@settings(max_examples=400, **FUZZ)
@given(kind=st.sampled_from(["cifar", "meta", "idx-gz", "labels-gz", "idx"]), mutation=MUTATION)
def test_fuzzed_data_files_many(fuzz_sources, kind, mutation):
    _fuzz_data(fuzz_sources, kind, mutation)


def test_config_file_that_is_a_device_or_fifo_is_refused(tmp_path):
    os.mkfifo(tmp_path / "fifo.json")
    one_line(cli("train", "--config", "/dev/zero", timeout=60), 1, "/dev/zero", "not a regular file")
    one_line(cli("train", "--config", tmp_path / "fifo.json", timeout=60), 1, "fifo.json", "FIFO")
