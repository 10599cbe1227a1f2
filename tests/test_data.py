"""Datasets, loaders and preprocessing, on files the tests write in the official formats."""
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import (ArrayDataset, DataFileError, DataLoader, Preprocess, blobs, load_cifar10, load_mnist,
                            spiral, train_val_split, xor)
from files import write_cifar10, write_idx, write_mnist

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar-10-subset-py"


def test_builtin_datasets_are_deterministic_and_shaped():
    for make in (spiral, xor, blobs):
        a, b, c = make(seed=1), make(seed=1), make(seed=2)
        assert a.X.dtype == np.float32 and a.y.dtype == np.int64 and a.X.shape[1] == 2
        np.testing.assert_array_equal(a.X, b.X)
        assert not np.array_equal(a.X, c.X)
    s = spiral(50, 4)
    assert s.X.shape == (200, 2) and set(s.y) == {0, 1, 2, 3}
    x = xor(200)
    assert ((x.X[:, 0] > 0) != (x.X[:, 1] > 0)).astype(int).tolist() == x.y.tolist()  # low noise: exact


def test_dataloader_batches_shuffles_reproducibly_and_drops_last():
    ds = ArrayDataset(np.arange(10)[:, None].astype(np.float32), np.arange(10))
    batches = list(DataLoader(ds, 4))
    assert [len(y) for _, y in batches] == [4, 4, 2] and isinstance(batches[0][0], cr.Tensor)
    assert [len(y) for _, y in DataLoader(ds, 4, drop_last=True)] == [4, 4]
    a = DataLoader(ds, 3, shuffle=True, seed=5)
    order0 = np.concatenate([y.numpy() for _, y in a])
    assert sorted(order0) == list(range(10)) and list(order0) != list(range(10))
    np.testing.assert_array_equal(order0, np.concatenate([y.numpy() for _, y in DataLoader(ds, 3, shuffle=True, seed=5)]))
    a.set_epoch(1)
    assert not np.array_equal(order0, np.concatenate([y.numpy() for _, y in a]))
    a.set_epoch(0)
    np.testing.assert_array_equal(order0[6:], np.concatenate([y.numpy() for _, y in a.batches(2)]))


def test_preprocess_and_split():
    X = np.random.default_rng(0).integers(0, 256, (20, 3, 4, 4), dtype=np.uint8)
    p = Preprocess.fit(X, "mean_image")
    out = p(X)
    assert out.dtype == np.float32 and np.abs(out.mean(axis=0)).max() < 1e-5
    c = Preprocess.fit(X, "channel")(X)
    np.testing.assert_allclose(c.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(c.std(axis=(0, 2, 3)), 1, atol=1e-4)
    assert Preprocess.fit(X, "scale")(X).max() <= 1.0
    tr, va = train_val_split(100, 0.2, seed=3)
    assert len(tr) == 80 and len(va) == 20 and not set(tr) & set(va)
    np.testing.assert_array_equal(va, train_val_split(100, 0.2, seed=3)[1])


def test_load_cifar10_official_format(tmp_path):
    written = write_cifar10(tmp_path / "c10", filenames=True)
    Xtr, ytr, Xte, yte, classes = load_cifar10(tmp_path / "c10")
    assert Xtr.shape == (52, 3, 32, 32) and Xtr.dtype == np.uint8 and Xte.shape == (10, 3, 32, 32)
    np.testing.assert_array_equal(Xtr.reshape(52, -1)[:12], written["data_batch_1"][0])
    np.testing.assert_array_equal(yte, written["test_batch"][1])
    assert classes[0] == "airplane" and len(classes) == 10
    assert load_cifar10(tmp_path / "c10", flatten=True)[0].shape == (52, 3072)


def test_load_cifar10_without_filenames_and_any_row_count(tmp_path):
    write_cifar10(tmp_path / "c", n_train=(1, 2, 3, 4, 5), n_test=7, filenames=False)
    Xtr, ytr, Xte, yte, _ = load_cifar10(tmp_path / "c")
    assert len(Xtr) == 15 and len(Xte) == 7


class _RunsCommand:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_cifar10_loader_refuses_a_pickle_that_runs_code(tmp_path):
    root = tmp_path / "evil"
    write_cifar10(root)
    marker = tmp_path / "PWNED"
    evil = _RunsCommand()
    evil.marker = marker
    (root / "data_batch_3").write_bytes(pickle.dumps({b"data": evil, b"labels": [0]}, protocol=2))
    assert b"system" in (root / "data_batch_3").read_bytes()
    with pytest.raises(DataFileError, match=r"data_batch_3: refusing to load global (posix|os)\.system"):
        load_cifar10(root)
    assert not marker.exists()  # the command did not run


def test_cifar10_missing_and_truncated_files_name_the_file(tmp_path):
    root = tmp_path / "c"
    write_cifar10(root)
    with pytest.raises(DataFileError, match="no such folder.*cifar-10-batches-py"):
        load_cifar10(tmp_path / "nowhere")
    raw = (root / "data_batch_2").read_bytes()
    (root / "data_batch_2").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataFileError, match=r"data_batch_2: truncated or corrupt"):
        load_cifar10(root)
    (root / "data_batch_2").unlink()
    with pytest.raises(DataFileError, match=r"data_batch_2: file not found.*--data-dir"):
        load_cifar10(root)


@pytest.mark.skipif(not SHARED.exists(), reason="the shared CIFAR-10 subset is only on the team's machines")
def test_cifar10_real_subset():
    Xtr, ytr, Xte, yte, classes = load_cifar10(SHARED)
    assert Xtr.shape == (5170, 3, 32, 32) and Xte.shape == (1017, 3, 32, 32)
    assert set(ytr) == set(range(10)) and classes[3] == "cat"


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_idx(tmp_path, gz):
    written = write_mnist(tmp_path / "m", gz=gz)
    Xtr, ytr, Xte, yte, classes = load_mnist(tmp_path / "m")
    assert Xtr.shape == (50, 28, 28) and Xte.shape == (20, 28, 28) and ytr.dtype == np.int64
    np.testing.assert_array_equal(Xtr, written["train"][0])
    np.testing.assert_array_equal(yte, written["t10k"][1])


def test_mnist_bad_files_name_the_file_and_problem(tmp_path):
    root = tmp_path / "m"
    write_mnist(root)
    p = root / "train-images-idx3-ubyte"
    raw = p.read_bytes()
    p.write_bytes(raw[:-100])
    with pytest.raises(DataFileError, match=r"train-images-idx3-ubyte: header says \(50, 28, 28\) = 39200 bytes"):
        load_mnist(root)
    write_idx(p, np.zeros((3, 4), np.uint8))  # a 2-D file where 3-D images are expected
    with pytest.raises(DataFileError, match=r"train-images-idx3-ubyte: magic number 0x00000802, expected 0x00000803"):
        load_mnist(root)
    p.unlink()
    with pytest.raises(DataFileError, match=r"train-images-idx3-ubyte \(or .gz\): file not found"):
        load_mnist(root)
