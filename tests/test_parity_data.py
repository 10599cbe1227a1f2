"""chainrule.utils.data against torch.utils.data: the same datasets, samplers and loaders give the same
batches (values, dtypes, container types) and the same errors; worker processes load in parallel."""
import collections
import os
import time

import numpy as np
import pytest
import torch
import torch.utils.data as tud

import chainrule as cr
import chainrule.utils.data as cud


def plain(batch):
    """A batch as plain Python: Tensors (either library's) become (dtype name, nested list)."""
    if isinstance(batch, (cr.Tensor, torch.Tensor)):
        a = np.asarray(batch.detach())
        return (str(a.dtype), a.tolist())
    if isinstance(batch, dict):
        return ("dict", {k: plain(v) for k, v in batch.items()})
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return (type(batch).__name__, [plain(v) for v in batch])
    if isinstance(batch, (list, tuple)):
        return (type(batch).__name__, [plain(v) for v in batch])
    return batch


def tensor_ds(lib):
    return lib.utils.data.TensorDataset(lib.tensor(np.arange(30.0).reshape(10, 3)), lib.tensor(np.arange(10) % 3))


class Items:
    """A map-style dataset of mixed samples, defined for both libraries."""

    def __init__(self, lib, n=10):
        self.n = n
        self.Base = lib.utils.data.Dataset

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i >= self.n:
            raise IndexError(i)
        return {"x": np.full(2, i, np.float32), "label": i % 2, "w": 0.5 * i, "name": f"item{i}",
                "pair": (i, float(i)), "flag": bool(i % 2)}


Point = collections.namedtuple("Point", "x y")


@pytest.mark.parametrize("kw", [dict(batch_size=4), dict(batch_size=4, drop_last=True), dict(batch_size=None),
                                dict(batch_size=3, sampler=[9, 2, 4, 4, 0]),
                                dict(batch_sampler=[[1, 2], [0], [7, 8, 9]]),
                                dict(batch_size=2, collate_fn=lambda b: len(b))])
def test_loader_batches_match_torch(kw):
    for make in (tensor_ds, Items):
        got = [plain(b) for b in cud.DataLoader(make(cr), **kw)]
        want = [plain(b) for b in tud.DataLoader(make(torch), **kw)]
        assert got == want
        assert len(cud.DataLoader(make(cr), **kw)) == len(tud.DataLoader(make(torch), **kw))


@pytest.mark.parametrize("batch", [
    [(np.zeros((2, 2), np.float64), 1), (np.ones((2, 2), np.float64), 2)],
    [{"a": 1.0, "b": [1, 2]}, {"a": 2.0, "b": [3, 4]}],
    [Point(1, 2.5), Point(3, 4.5)],
    [np.int32(3), np.int32(4)], [True, False], ["a", "b"], [[1, 2], [3, 4]],
    [np.array(1.5, np.float32), np.array(2.5, np.float32)]])
def test_default_collate_and_convert_match_torch(batch):
    wrap = [tuple(s) if isinstance(s, list) else s for s in batch]
    assert plain(cud.default_collate(batch)) == plain(tud.default_collate(batch))
    assert plain(cud.default_convert(wrap[0])) == plain(tud.default_convert(wrap[0]))
    assert plain(cud.default_collate([cr.tensor([1.0, 2.0]), cr.tensor([3.0, 4.0])])) == \
        plain(tud.default_collate([torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])]))


@pytest.mark.parametrize("batch,err,match", [
    ([np.array(["a"], dtype=object)] * 2, TypeError, "batch must contain tensors, numpy arrays, numbers"),
    ([[1, 2], [3]], RuntimeError, "each element in list of batch should be of equal size"),
    ([None, None], TypeError, "default_collate: batch must contain")])
def test_default_collate_errors_match_torch(batch, err, match):
    for lib in (cud, tud):
        with pytest.raises(err, match=match):
            lib.default_collate(batch)


def test_subset_concat_and_random_split_match_torch():
    for lib in (cr, torch):
        d = lib.utils.data
        ds = tensor_ds(lib)
        both = ds + d.Subset(ds, [5, 1])
        assert isinstance(both, d.ConcatDataset) and len(both) == 12 and both.cumulative_sizes == [10, 12]
        assert plain(both[11]) == plain(ds[1]) and plain(both[-1]) == plain(ds[1])
        assert [len(s) for s in d.random_split(range(10), [0.33, 0.33, 0.34])] == [4, 3, 3]
        parts = d.random_split(range(10), [3, 7], generator=lib.Generator().manual_seed(5))
        again = d.random_split(range(10), [3, 7], generator=lib.Generator().manual_seed(5))
        assert [list(p) for p in parts] == [list(p) for p in again]
        assert sorted(list(parts[0]) + list(parts[1])) == list(range(10))
        with pytest.raises(ValueError, match="Sum of input lengths does not equal the length of the input dataset"):
            d.random_split(range(10), [3, 3])
        with pytest.raises(AssertionError, match="Size mismatch between tensors"):
            d.TensorDataset(lib.zeros(3), lib.zeros(4))
        with pytest.raises(AssertionError, match="datasets should not be an empty iterable"):
            d.ConcatDataset([])


def test_samplers_match_torch_where_deterministic_and_draw_permutations():
    for lib in (cud, tud):
        assert list(lib.BatchSampler(lib.SequentialSampler(range(7)), 3, drop_last=True)) == [[0, 1, 2], [3, 4, 5]]
        assert len(lib.BatchSampler(range(7), 3, False)) == 3
        g = lib.RandomSampler(range(10), generator=(cr if lib is cud else torch).Generator().manual_seed(1))
        a, b = list(g), list(g)
        assert sorted(a) == list(range(10)) and a != b                # a new order every epoch
        assert len(list(lib.RandomSampler(range(4), num_samples=10))) == 10
        assert sorted(list(lib.RandomSampler(range(4), num_samples=8))) == [0, 0, 1, 1, 2, 2, 3, 3]
        r = list(lib.RandomSampler(range(3), replacement=True, num_samples=50))
        assert len(r) == 50 and set(r) <= {0, 1, 2}
        assert sorted(lib.SubsetRandomSampler([4, 8, 15])) == [4, 8, 15]
        assert len(list(lib.WeightedRandomSampler([0.0, 1.0, 0.0], 5))) == 5
        assert set(lib.WeightedRandomSampler([0.0, 1.0, 0.0], 5)) == {1}
        for call, match in ((lambda: lib.BatchSampler(range(3), 0, False), "batch_size should be a positive integer"),
                            (lambda: lib.RandomSampler(range(3), num_samples=0), "num_samples should be a positive")):
            with pytest.raises(ValueError, match=match):
                call()


def test_shuffle_with_a_generator_repeats_and_covers_every_sample():
    ds = tensor_ds(cr)
    orders = [[y.tolist() for _, y in cud.DataLoader(ds, 4, shuffle=True, generator=cr.Generator().manual_seed(7))]
              for _ in range(2)]
    assert orders[0] == orders[1] and sorted(sum(orders[0], [])) == sorted(np.arange(10) % 3)
    xs = np.concatenate([np.asarray(x) for x, _ in cud.DataLoader(ds, 4, shuffle=True)])
    assert sorted(xs[:, 0].tolist()) == list(range(0, 30, 3)) and xs[:, 0].tolist() != list(range(0, 30, 3))


@pytest.mark.parametrize("kw,match", [
    (dict(batch_sampler=[[0]], batch_size=2), "batch_sampler option is mutually exclusive"),
    (dict(sampler=[0, 1], shuffle=True), "sampler option is mutually exclusive with shuffle"),
    (dict(num_workers=-1), "num_workers option should be non-negative"),
    (dict(prefetch_factor=2), "prefetch_factor option could only be specified in multiprocessing"),
    (dict(persistent_workers=True), "persistent_workers option needs num_workers > 0"),
    (dict(timeout=-1), "timeout option should be non-negative"),
    (dict(batch_size=None, drop_last=True), "batch_size=None option disables auto-batching")])
def test_loader_errors_match_torch(kw, match):
    for lib in (cr, torch):
        with pytest.raises(ValueError, match=match):
            lib.utils.data.DataLoader(tensor_ds(lib), **kw)
    for lib in (cr, torch):
        dl = lib.utils.data.DataLoader(tensor_ds(lib))
        with pytest.raises(ValueError, match="batch_size attribute should not be set after DataLoader is initialized"):
            dl.batch_size = 3


class Stream:
    """An IterableDataset of 0..n-1 that gives worker w of W the items w, w+W, ... (the documented recipe)."""

    def __init__(self, d, n=11):
        self.d, self.n = d, n

    def __iter__(self):
        info = self.d.get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(start, self.n, step))


def make_stream(lib):
    d = lib.utils.data
    cls = type("S", (Stream, d.IterableDataset), {})
    return cls(d)


@pytest.mark.filterwarnings("ignore:This DataLoader will create")
@pytest.mark.parametrize("kw", [dict(batch_size=3, num_workers=0), dict(batch_size=3, num_workers=2),
                                dict(batch_size=2, num_workers=3, drop_last=True),
                                dict(batch_size=None, num_workers=2)])
def test_iterable_dataset_with_workers_gives_torchs_batches_in_torchs_order(kw):
    got = [plain(b) for b in cud.DataLoader(make_stream(cr), **kw)]
    want = [plain(b) for b in tud.DataLoader(make_stream(torch), **kw)]
    assert got == want
    with pytest.raises(ValueError, match="expected unspecified shuffle option"):
        cud.DataLoader(make_stream(cr), shuffle=True)


class Slow:
    """Each item sleeps, then says which process loaded it and when."""

    def __init__(self, delay=0.3):
        self.delay = delay

    def __len__(self):
        return 6

    def __getitem__(self, i):
        t0 = time.monotonic()
        time.sleep(self.delay)
        return {"i": i, "pid": os.getpid(), "t0": t0, "t1": time.monotonic(),
                "seed": cud.get_worker_info().seed if cud.get_worker_info() else -1}


def test_workers_are_processes_that_load_in_parallel_in_order():
    seen = []
    dl = cud.DataLoader(Slow(), batch_size=1, num_workers=3, worker_init_fn=lambda w: os.environ.update(W=str(w)))
    for b in dl:
        seen.append({k: (v.tolist()[0] if isinstance(v, cr.Tensor) else v) for k, v in b.items()})
    assert [s["i"] for s in seen] == list(range(6))                        # in the sampler's order
    pids = {s["pid"] for s in seen}
    assert len(pids) == 3 and os.getpid() not in pids
    assert len({s["seed"] for s in seen}) == 3                             # base_seed + worker id
    overlap = any(a["pid"] != b["pid"] and a["t0"] < b["t1"] and b["t0"] < a["t1"] for a in seen for b in seen)
    assert overlap, "no two workers were loading at the same time"


class Fails:
    def __len__(self):
        return 4

    def __getitem__(self, i):
        if i == 2:
            raise KeyError(f"bad item {i}")
        return i


def test_a_worker_error_is_raised_in_the_main_process_with_its_type_and_worker():
    first = r"^Caught KeyError in DataLoader worker process \d: 'bad item 2'\nOriginal Traceback"
    with pytest.raises(KeyError, match=first):
        list(cud.DataLoader(Fails(), batch_size=1, num_workers=2))
    with pytest.raises(KeyError, match="bad item 2"):
        list(cud.DataLoader(Fails(), batch_size=1))


def test_persistent_workers_keep_their_processes_and_an_abandoned_epoch_is_dropped():
    dl = cud.DataLoader(Slow(0.02), batch_size=2, num_workers=2, persistent_workers=True, pin_memory=True)
    first = [b for _, b in zip(range(1), dl)]                    # break after one batch
    pids = [{p for p in b["pid"].tolist()} for b in dl]
    assert first[0]["i"].tolist() == [0, 1] and [len(p) for p in pids] == [1, 1, 1]
    assert set().union(*pids) == {p for b in dl for p in b["pid"].tolist()}   # the same two processes
    assert [b["i"].tolist() for b in dl] == [[0, 1], [2, 3], [4, 5]]
    del dl


def test_a_dataset_class_from_chainrule_data_is_the_utils_data_class():
    assert cr.data.DataLoader is cud.DataLoader and cr.data.Dataset is cud.Dataset
    assert issubclass(cr.data.ArrayDataset, cud.TensorDataset)
    ds = cr.data.ArrayDataset(np.arange(8.0).reshape(4, 2), np.arange(4))
    x, y = next(iter(cud.DataLoader(ds, batch_size=3, num_workers=1)))
    assert x.dtype == np.float64 and y.tolist() == [0, 1, 2]


class Dies:
    def __len__(self):
        return 4

    def __getitem__(self, i):
        if cud.get_worker_info() is not None and i == 1:
            os._exit(3)                      # a worker killed mid-epoch (as by the OOM killer)
        time.sleep(1.0 if i == 3 else 0)
        return i


def test_a_dead_worker_and_a_timeout_are_one_clear_runtime_error():
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid\(s\) \d+\) exited unexpectedly"):
        list(cud.DataLoader(Dies(), batch_size=1, num_workers=1))
    with pytest.raises(RuntimeError, match="DataLoader timed out after 0.3 seconds"):
        list(cud.DataLoader(Subset3(), batch_size=1, num_workers=1, timeout=0.3))


class Subset3(Dies):
    def __getitem__(self, i):
        return super().__getitem__(i + 2)


def test_spawned_workers_receive_the_dataset_and_send_back_tensors():
    ds = cud.TensorDataset(cr.arange(12.0).reshape(6, 2), cr.arange(6))
    got = [y.tolist() for _, y in cud.DataLoader(ds, batch_size=4, num_workers=1, multiprocessing_context="spawn")]
    assert got == [[0, 1, 2, 3], [4, 5]]


def test_ctrl_c_stops_the_loader_with_one_keyboard_interrupt_and_no_worker_tracebacks(tmp_path):
    import signal
    import subprocess
    import sys
    script = tmp_path / "loop.py"
    script.write_text("import time\nimport chainrule.utils.data as d\n"
                      "class Slow(d.Dataset):\n    def __len__(self): return 1000\n"
                      "    def __getitem__(self, i): time.sleep(0.05); return i\n"
                      "print('start', flush=True)\n"
                      "for b in d.DataLoader(Slow(), batch_size=2, num_workers=2): pass\n")
    p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    assert p.stdout.readline().strip() == "start"
    time.sleep(1.0)
    os.killpg(p.pid, signal.SIGINT)                  # as a terminal's Ctrl-C: the whole process group
    _, err = p.communicate(timeout=30)
    assert p.returncode != 0 and err.count("KeyboardInterrupt") == 1, err
    assert "chainrule-dataloader" not in err


def test_the_trainer_trains_the_same_with_worker_processes_and_resumes_mid_epoch_with_them():
    from chainrule.train import Trainer
    ds = cr.data.spiral(40, 3)

    def run(workers, start=0):
        cr.manual_seed(0)
        net = cr.nn.MLP([2, 16, 3])
        loader = cr.data.DataLoader(ds, 16, shuffle=True, seed=2, num_workers=workers)
        t = Trainer(net, cr.nn.functional.cross_entropy, cr.optim.SGD(net.parameters(), lr=0.5), loader,
                    epochs=2, progress=False)
        t.fit()
        skipped = [y.tolist() for _, y in loader.batches(start)]
        return t.history.iter_loss, skipped
    (a, sa), (b, sb) = run(0, 3), run(2, 3)
    assert a == b and sa == sb and len(sa) == len(cr.data.DataLoader(ds, 16)) - 3
