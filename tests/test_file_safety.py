"""chainrule.save / load, checkpoints and data files under hostile input, damage and concurrency.

Each hostile input is built here by the test. A call that could hang or fill memory runs in a
subprocess under a memory limit (RLIMIT_AS) and a timeout; each must end with one line naming the
file (or, where success is right, succeed), nothing run, nothing lost.
"""
import hashlib
import io
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule import fileio, tensorfile
from chainrule.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from files import write_cifar10

GIB = 1 << 30


def run_py(code: str, *args, memory=GIB, timeout=60):
    """``code`` in a fresh interpreter under ``memory`` bytes of address space and a timeout; it
    prints ``maxrss=<KiB>`` last. Returns (returncode, stdout, stderr, seconds, max RSS in bytes)."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    # the peak of this interpreter's own memory (VmHWM, KiB): getrusage's ru_maxrss would also count the
    # pages the child had at fork, the test process's own (Linux keeps the larger across exec)
    wrapped = code + ("\nprint('maxrss=' + next(_l.split()[1] for _l in open('/proc/self/status') "
                      "if _l.startswith('VmHWM:')))\n")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-c", wrapped, *map(str, args)], capture_output=True, text=True,
                       timeout=timeout, preexec_fn=limit, env=env)
    rss = [int(line[7:]) * 1024 for line in p.stdout.splitlines() if line.startswith("maxrss=")]
    return p.returncode, p.stdout, p.stderr, time.monotonic() - t0, (rss or [0])[-1]


LOAD = textwrap.dedent("""
    import sys
    import chainrule as cr
    try:
        cr.load(sys.argv[1])
        print("LOADED")
    except (RuntimeError, FileNotFoundError) as e:
        print("ERROR", type(e).__name__, str(e).replace(chr(10), "<newline>"))
""")


def refused(path, *needles, timeout=60):
    """cr.load(path) in a subprocess: refused with one line naming the file, quickly, in bounded memory."""
    code, out, err, seconds, rss = run_py(LOAD, path, timeout=timeout)
    assert code == 0 and err == "", err
    line = next(x for x in out.splitlines() if x.startswith(("ERROR", "LOADED")))
    assert line.startswith("ERROR RuntimeError"), line
    assert "<newline>" not in line and str(path) in line, line
    for n in needles:
        assert n in line, (n, line)
    assert seconds < 30 and rss < 512 << 20, (seconds, rss)
    return line


def safetensors_bytes(header: dict, data: bytes = b"") -> bytes:
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + data


def v1_file(obj_json: str, arrays: dict | None = None) -> bytes:
    """A chainrule file of version 1 (no checksum), its structure given as JSON text, built by hand."""
    return tensorfile.to_bytes(arrays or {}, {"format": "chainrule", "chainrule.version": "1",
                                              "chainrule.object": obj_json})


# ----------------------------------------------------------------------------- not a regular file
def test_load_opens_only_regular_files(tmp_path):
    os.mkfifo(tmp_path / "f.pt")
    refused(tmp_path / "f.pt", "FIFO")  # it used to wait for a writer for ever
    refused("/dev/zero", "character device")  # it used to read until MemoryError
    os.symlink("/dev/zero", tmp_path / "zero.pt")
    refused(tmp_path / "zero.pt", "character device")
    refused(tmp_path, "folder")
    with pytest.raises(FileNotFoundError, match="missing.pt: no such file"):
        cr.load(tmp_path / "missing.pt")


def test_a_huge_sparse_file_is_judged_by_its_header_alone(tmp_path):
    zeros = tmp_path / "zeros.pt"
    with open(zeros, "wb") as f:
        f.truncate(2 * GIB)  # sparse: 2 GB long, no disk used; it used to be read whole (2.1 GB resident)
    refused(zeros, "not a chainrule file", "header of 0 bytes")
    grown = tmp_path / "grown.pt"
    cr.save({"w": cr.ones(3)}, grown)
    with open(grown, "r+b") as f:
        f.truncate(2 * GIB)  # a good header, then 2 GB it does not declare
    refused(grown, "the file holds")
    lying = tmp_path / "lying.pt"  # a header that declares 2 GB of data the file does not have
    lying.write_bytes(safetensors_bytes({"w": {"dtype": "F32", "shape": [1 << 29], "data_offsets": [0, 1 << 31]}}))
    refused(lying, "declares 2147483648 bytes of tensor data")


def test_load_reads_only_what_the_header_declares_from_a_stream():
    class Endless(io.RawIOBase):  # like /dev/zero opened by the caller: no length, never ends
        def readable(self):
            return True

        def readinto(self, b):
            b[:] = b"\1" * len(b)
            return len(b)

    with pytest.raises(RuntimeError, match="declares a header of 72340172838076673 bytes"):
        cr.load(io.BufferedReader(Endless()))
    class Stream:  # a pipe: read() only, no length, no seek
        def __init__(self, data):
            self.data = io.BytesIO(data)

        def read(self, n=-1):
            return self.data.read(n)

    good = io.BytesIO()
    cr.save({"w": cr.ones(3)}, good)
    assert cr.load(Stream(good.getvalue()))["w"].tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(RuntimeError, match="more bytes after its last tensor"):
        cr.load(Stream(good.getvalue() + b"x"))
    with pytest.raises(RuntimeError, match="ends after 4 of the 12 bytes of tensor 'a0'; the file is truncated"):
        cr.load(Stream(good.getvalue()[:-8]))


# ----------------------------------------------------------------------------- deep structure
@pytest.mark.parametrize("depth", [3000, 100_000])
def test_deeply_nested_headers_and_structures_are_refused_in_one_line(tmp_path, depth):
    outer = tmp_path / "outer.pt"
    text = b"[" * depth + b"]" * depth
    outer.write_bytes(len(text).to_bytes(8, "little") + text)
    refused(outer, "not a chainrule file")
    meta = tmp_path / "meta.pt"
    text = b'{"__metadata__": ' + b"{" * depth + b"}" * depth + b"}"
    meta.write_bytes(len(text).to_bytes(8, "little") + text)
    refused(meta, "nested")
    inner = tmp_path / "inner.pt"
    inner.write_bytes(v1_file('{"__list__": ' * depth + "1" + "}" * depth))
    refused(inner, "nested", "structure")


def test_save_refuses_cycles_deep_nesting_and_sharing_blowups_in_one_line(tmp_path):
    path = tmp_path / "x.pt"
    a = [1, 2]
    a.append(a)
    with pytest.raises(ValueError, match=r"save: obj\[2\] is a list that contains itself \(a reference cycle\)"):
        cr.save(a, path)
    d = {"x": {}}
    d["x"]["back"] = d
    with pytest.raises(ValueError, match=r"obj\['x'\]\['back'\] is a dict that contains itself"):
        cr.save(d, path)
    deep = []
    for _ in range(3000):
        deep = [deep]
    with pytest.raises(ValueError, match="nested more than 100 lists, tuples or dicts deep"):
        cr.save(deep, path)
    shared = [0] * 250
    for _ in range(4):
        shared = [shared] * 250  # 250**5 entries through shared references: a few KB in memory
    t0 = time.monotonic()
    with pytest.raises(ValueError, match="more than 1048576 entries"):
        cr.save({"labels": shared}, path)
    assert time.monotonic() - t0 < 2
    assert not path.exists() and list(tmp_path.iterdir()) == []  # no temporary file left either
    same = [1, 2]  # sharing without a cycle is fine: each use is written out
    cr.save({"a": same, "b": same, "deep": [[[[[[1]]]]]]}, path)
    assert cr.load(path) == {"a": [1, 2], "b": [1, 2], "deep": [[[[[[1]]]]]]}


# ----------------------------------------------------------------------------- bfloat16 and other dtypes
def test_bfloat16_files_written_by_torch_load_as_float32(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file
    g = torch.Generator().manual_seed(0)
    w = (torch.randn(3, 5, generator=g) * 100).to(torch.bfloat16)
    special = torch.tensor([float("inf"), float("-inf"), 0.0, -0.0, 1e-40, float("nan")], dtype=torch.bfloat16)
    save_file({"w": w, "s": special, "h": w.to(torch.float16), "i": torch.arange(4)}, str(tmp_path / "m.safetensors"))
    sd = cr.load(tmp_path / "m.safetensors")
    assert sd["w"].dtype == np.float32 and sd["h"].dtype == np.float16 and sd["i"].dtype == np.int64
    np.testing.assert_array_equal(sd["w"].numpy(), w.float().numpy())  # exactly torch's .float()
    np.testing.assert_array_equal(sd["s"].numpy(), special.float().numpy())
    assert np.signbit(sd["s"].numpy()[3])
    np.testing.assert_array_equal(sd["h"].numpy(), w.to(torch.float16).numpy())
    assert cr.nn.Linear(5, 3).load_state_dict({"weight": sd["w"], "bias": cr.zeros(3)}) is not None


def test_bfloat16_built_by_hand_and_unknown_dtypes(tmp_path):
    bits = np.array([0x3F80, 0xC000, 0x7F80], np.uint16)  # 1.0, -2.0, inf in bfloat16
    path = tmp_path / "bf16.safetensors"
    path.write_bytes(safetensors_bytes({"x": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 6]}},
                                       bits.tobytes()))
    np.testing.assert_array_equal(cr.load(path)["x"].numpy(), [1.0, -2.0, np.inf])
    f8 = tmp_path / "f8.safetensors"
    f8.write_bytes(safetensors_bytes({"x": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}}, b"\0\0"))
    refused(f8, "dtype F8_E4M3, which chainrule cannot hold")


def test_an_integer_tensor_marked_requires_grad_names_the_file(tmp_path):
    path = tmp_path / "int.pt"
    path.write_bytes(v1_file('{"__tensor__": ["a0", [3]], "requires_grad": true}', {"a0": np.arange(3)}))
    with pytest.raises(RuntimeError, match=r"int.pt is damaged: a tensor of dtype int64 is marked requires_grad"):
        cr.load(path)
    path.write_bytes(v1_file('{"__tensor__": ["a0", [3]], "requires_grad": false, "parameter": true}',
                             {"a0": np.arange(3)}))
    with pytest.raises(RuntimeError, match=r"int.pt is damaged: a tensor of dtype int64 is marked .*as a Parameter"):
        cr.load(path)


def test_state_dicts_of_tensors_or_arrays_and_version_1_files_load(tmp_path):
    sd = OrderedDict(w=cr.tensor([[1.0, 2.0]]), b=np.array([3.0], np.float32), p=cr.nn.Parameter(np.ones(2)))
    cr.save(sd, tmp_path / "m.pt")
    back = cr.load(tmp_path / "m.pt")
    assert isinstance(back, OrderedDict) and list(back) == ["w", "b", "p"]
    assert isinstance(back["w"], cr.Tensor) and isinstance(back["b"], np.ndarray)
    assert isinstance(back["p"], cr.nn.Parameter) and back["p"].requires_grad
    back["w"].add_(1)  # loaded arrays are writable
    old = tmp_path / "v1.pt"  # as chainrule wrote it before the checksum
    old.write_bytes(v1_file('{"__dict__": [["w", {"__ndarray__": ["a0", [2]]}]], "ordered": false}',
                            {"a0": np.array([1.5, 2.5])}))
    np.testing.assert_array_equal(cr.load(old)["w"], [1.5, 2.5])
    from safetensors.numpy import load_file
    assert set(load_file(str(tmp_path / "m.pt"))) == {"a0", "a1", "a2"}  # still plain safetensors


# ----------------------------------------------------------------------------- bit flips
@pytest.fixture(scope="module")
def small_file():
    buf = io.BytesIO()
    obj = {"w": cr.tensor([[0.5, -1.0, 3.0]], requires_grad=True), "step": 7, "name": "run",
           "ids": np.array([1, 2], np.int16), "ok": True}
    cr.save(obj, buf)
    return buf.getvalue(), obj


def _same(a, b) -> bool:
    if isinstance(a, cr.Tensor):
        return (isinstance(b, cr.Tensor) and type(a) is type(b) and a.requires_grad == b.requires_grad
                and _same(a.detach().numpy(), b.detach().numpy()))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _flip_all(data: bytes, obj, positions):
    refused_count = 0
    for pos in positions:
        b = bytearray(data)
        b[pos // 8] ^= 1 << (pos % 8)
        try:
            out = cr.load(io.BytesIO(bytes(b)))
        except RuntimeError as e:
            assert "\n" not in str(e) and str(e).startswith("load: <file object>"), (pos, e)
            refused_count += 1
        else:
            assert _same(obj, out), f"bit {pos} flipped: loaded other data without a word"
    return refused_count


def test_every_sampled_bit_flip_is_refused_or_harmless(small_file):
    data, obj = small_file
    positions = random.Random(20).sample(range(8 * len(data)), 400)
    assert _flip_all(data, obj, positions) > 0.9 * len(positions)


def test_every_truncation_and_extension_is_refused(small_file):
    data, _ = small_file
    for cut in range(len(data)):
        with pytest.raises(RuntimeError, match="<file object> is not a chainrule file or is damaged"):
            cr.load(io.BytesIO(data[:cut]))
    for extra in (b"\0", b" " * 8, data):
        with pytest.raises(RuntimeError, match="the file holds"):
            cr.load(io.BytesIO(data + extra))


@pytest.mark.slow
def test_every_bit_flip_is_refused_or_harmless(small_file):
    data, obj = small_file
    assert _flip_all(data, obj, range(8 * len(data))) > 0.97 * 8 * len(data)


# ----------------------------------------------------------------------------- fuzzing the header
FUZZ = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
JSONS = st.recursive(st.none() | st.booleans() | st.integers(-3, 1 << 40) | st.text(max_size=8),
                     lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=4),
                     max_leaves=12)
ENTRY = st.fixed_dictionaries({"dtype": st.sampled_from(["F32", "I64", "BF16", "BOOL", "U8", "F8_E5M2", "x"]),
                               "shape": st.lists(st.integers(-1, 5), max_size=3),
                               "data_offsets": st.lists(st.integers(-1, 64), min_size=0, max_size=3)})


@settings(max_examples=150, **FUZZ)
@given(entries=st.dictionaries(st.text(min_size=1, max_size=4), ENTRY | JSONS, max_size=3),
       meta=st.none() | st.dictionaries(st.sampled_from(["format", "chainrule.version", "chainrule.object",
                                                          "chainrule.sha256", "x"]),
                                        st.sampled_from(["chainrule", "1", "2", "{}", "[1]", '{"__list__": 3}']) | JSONS,
                                        max_size=5),
       data=st.binary(max_size=64), cut=st.none() | st.integers(0, 400))
def test_fuzzed_headers_load_or_fail_in_one_line(entries, meta, data, cut):
    header = dict(entries)
    if meta is not None:
        header["__metadata__"] = meta
    blob = safetensors_bytes(header, data)
    if cut is not None:
        blob = blob[:cut]
    try:
        out = cr.load(io.BytesIO(blob))
    except RuntimeError as e:
        assert "\n" not in str(e) and "<file object>" in str(e)
    else:
        assert isinstance(out, (dict, list, tuple, cr.Tensor, np.ndarray, int, float, str, type(None)))


# ----------------------------------------------------------------------------- atomic writes
def test_write_atomic_is_durable_and_two_writers_never_share_a_temporary(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.fstat(fd).st_mode), real(fd))[1])
    info = fileio.write_atomic(tmp_path / "a.json", '{"x": 1}')
    assert info == {"size": 8, "sha256": hashlib.sha256(b'{"x": 1}').hexdigest()}
    import stat
    assert [stat.S_ISREG(m) for m in synced] == [True, False]  # the file, then its folder
    monkeypatch.setattr(os, "fsync", real)
    texts = [(str(i) * 50_000).encode() for i in range(2)]
    errors = []

    def writer(text):
        try:
            for _ in range(40):
                fileio.write_atomic(tmp_path / "shared.txt", text)
        except OSError as e:  # a fixed temporary name made one writer lose its file
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(t,)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and (tmp_path / "shared.txt").read_bytes() in texts
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "shared.txt"]

    def dies():
        yield b"half"
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fileio.write_atomic(tmp_path / "a.json", dies())
    assert (tmp_path / "a.json").read_text() == '{"x": 1}'  # the old file stays whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "shared.txt"]


def test_every_writer_uses_the_one_atomic_write():
    src = Path(cr.__file__).parent
    offenders = [str(p.relative_to(src)) for p in src.rglob("*.py") if p.name != "fileio.py"
                 and any(s in p.read_text() for s in ("os.replace(", "os.rename(", ".rename(", "os.fsync("))]
    assert offenders == []


# ----------------------------------------------------------------------------- checkpoints
def test_checkpoints_hold_tensors_or_arrays_and_refuse_deep_json(tmp_path):
    model = {"w": cr.tensor([[1.0, 2.0]]), "b": np.zeros(2, np.float32)}
    opt = {"state": {0: {"momentum_buffer": cr.ones(1, 2)}, 1: {"momentum_buffer": np.ones(2, np.float32)}},
           "param_groups": [{"params": [0, 1], "lr": 0.1}]}
    save_checkpoint(tmp_path, "last", model, opt, {"epoch": 1})
    m, o, info = load_checkpoint(tmp_path, "last")
    np.testing.assert_array_equal(m["w"], [[1.0, 2.0]])
    np.testing.assert_array_equal(o["state"][0]["momentum_buffer"], [[1.0, 1.0]])
    folder = Path(os.path.realpath(tmp_path / "last"))
    deep = ("[" * 100_000 + "]" * 100_000).encode()
    (folder / "state.json").write_bytes(deep)
    man = json.loads((folder / "manifest.json").read_text())
    man["files"]["state.json"] = {"size": len(deep), "sha256": hashlib.sha256(deep).hexdigest()}
    (folder / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(CheckpointError, match=r"last/state.json: JSON nested 100000 levels deep"):
        load_checkpoint(tmp_path, "last")


WRITER = textwrap.dedent("""
    import sys, numpy as np
    from chainrule.train.checkpoint import save_checkpoint
    for i in range(int(sys.argv[2])):
        save_checkpoint(sys.argv[1], "last", {"w": np.full((64, 64), i, np.float32)}, None, {"epoch": i})
""")


def _read_while_writing(run, rounds: int):
    save_checkpoint(run, "last", {"w": np.zeros((64, 64), np.float32)}, None, {"epoch": 0})
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(run), str(rounds)])
    reads, failures = 0, []
    try:
        while writer.poll() is None:
            try:
                model, _, info = load_checkpoint(run, "last")
            except (CheckpointError, FileNotFoundError) as e:
                failures.append(str(e))
            else:
                assert (model["w"] == info["epoch"]).all()  # one whole checkpoint, never a mix
                reads += 1
    finally:
        writer.wait(timeout=120)
    assert writer.returncode == 0
    return reads, failures


def test_a_reader_always_sees_a_whole_checkpoint_while_the_trainer_writes(tmp_path):
    reads, failures = _read_while_writing(tmp_path / "run", 150)
    assert failures == [] and reads > 20


@pytest.mark.slow
def test_a_reader_always_sees_a_whole_checkpoint_long(tmp_path):
    reads, failures = _read_while_writing(tmp_path / "run", 3000)
    assert failures == [] and reads > 500


# ----------------------------------------------------------------------------- hostile CIFAR-10 pickles
def _labels_bomb() -> bytes:
    """A 12 KB pickle of a CIFAR-10 batch whose labels are 250**5 references to one list, by opcodes."""
    import pickle
    body = bytearray(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8)}, protocol=2)[:-1])
    body += b"X" + (6).to_bytes(4, "little") + b"labels"
    body += b"](" + b"K\x00" * 250 + b"er" + (1000).to_bytes(4, "little") + b"0"  # LONG_BINPUT, POP
    for level in range(1, 5):
        body += b"](" + (b"j" + (999 + level).to_bytes(4, "little")) * 250 + b"er" + (1000 + level).to_bytes(4, "little")
        body += b"0" if level < 4 else b""
    return bytes(body + b"s.")


def _tuple_key_bomb() -> bytes:
    """A dict keyed by a tuple of 2 references to a tuple of 2 references ... 60 deep: hashing it would
    take 2**60 steps (tuples do not cache their hash)."""
    body = bytearray(b"\x80\x02}K\x00")
    for i in range(60):
        body += b"q" + bytes([i]) + b"0h" + bytes([i]) + b"h" + bytes([i]) + b"\x86"  # BINPUT, POP, 2x BINGET, TUPLE2
    return bytes(body + b"K\x01s.")


def _dict_opcode_bomb() -> bytes:
    """The same tuple key, through the DICT opcode (MARK key value DICT) instead of SETITEM."""
    body = bytearray(b"\x80\x02K\x00")
    for i in range(60):
        body += b"q" + bytes([i]) + b"0h" + bytes([i]) + b"h" + bytes([i]) + b"\x86"
    body = bytearray(b"\x80\x02(") + body[2:]
    return bytes(body + b"K\x01d.")


def _dtype_bomb() -> bytes:
    """numpy.dtype called with a nested list of fields that shares its parts: exponential to build."""
    body = bytearray(b"\x80\x02cnumpy\ndtype\n")
    body += b"(X\x01\x00\x00\x00aX\x02\x00\x00\x00u1\x86lq\x00" + b"0"  # [('a', 'u1')] as memo 0
    for i in range(40):
        body += b"(X\x01\x00\x00\x00ah" + bytes([i]) + b"\x86X\x01\x00\x00\x00bh" + bytes([i]) + b"\x86l"
        body += b"q" + bytes([i + 1]) + b"0"
    return bytes(body + b"h\x28\x85R.")


@pytest.mark.parametrize("kind, needle", [("labels", "labels must be integers"), ("tuple key", "dict key"),
                                          ("DICT opcode", "dict key"), ("dtype", "not a dtype name")])
def test_sharing_bombs_in_a_cifar_batch_are_refused_quickly(tmp_path, kind, needle):
    data = tmp_path / "cifar"
    write_cifar10(data, n_train=(2, 2, 2, 2, 2), n_test=2)
    bomb = {"labels": _labels_bomb, "tuple key": _tuple_key_bomb, "DICT opcode": _dict_opcode_bomb,
            "dtype": _dtype_bomb}[kind]()
    assert len(bomb) < 16_000
    (data / "data_batch_1").write_bytes(bomb)
    code, out, err, seconds, rss = run_py(textwrap.dedent("""
        import sys
        from chainrule.data import load_cifar10
        from chainrule.data.files import DataFileError
        try:
            load_cifar10(sys.argv[1])
        except DataFileError as e:
            print("ERROR", str(e).replace(chr(10), "<newline>"))
    """), data, timeout=60)
    assert code == 0 and err == "", err
    line = out.splitlines()[0]
    assert line.startswith("ERROR") and str(data / "data_batch_1") in line and needle in line, line
    assert len(line) < 2000 and seconds < 10 and rss < GIB, (len(line), seconds, rss)


# ----------------------------------------------------------------------------- second round: new cases
def test_many_small_values_in_a_header_are_refused_before_parsing(tmp_path):
    ints = tmp_path / "ints.pt"  # a shape of 9 million entries: 18 MB of JSON, ~300 MB as Python ints
    ints.write_bytes(safetensors_bytes({"t": {"dtype": "F32", "shape": [0] * 9_000_000, "data_offsets": [0, 0]}}))
    refused(ints, "JSON of about 9000")
    lists = tmp_path / "lists.pt"  # a structure of 9 million empty lists
    lists.write_bytes(v1_file('{"__list__": [' + "[]," * 9_000_000 + "[]]}"))
    refused(lists, "its structure: JSON of about")


def test_save_errors_name_the_target_and_leave_no_temporary(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"No such file or directory: '.*/no/x.pt'"):
        cr.save({"a": 1}, tmp_path / "no" / "x.pt")
    (tmp_path / "dir.pt").mkdir()
    with pytest.raises(IsADirectoryError, match="dir.pt"):
        cr.save({"a": 1}, tmp_path / "dir.pt")
    (tmp_path / "target").mkdir()
    os.symlink("target/m.pt", tmp_path / "link.pt")  # written through the link, as torch.save does
    cr.save({"a": 2}, tmp_path / "link.pt")
    assert (tmp_path / "link.pt").is_symlink() and cr.load(tmp_path / "target" / "m.pt") == {"a": 2}
    shutil.rmtree(tmp_path / "target")
    (tmp_path / "link.pt").unlink()
    os.mkfifo(tmp_path / "fifo.pt")  # replaced by the new file, never opened: no hang
    cr.save({"a": 1}, tmp_path / "fifo.pt")
    assert cr.load(tmp_path / "fifo.pt") == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.pt", "fifo.pt"]
    cr.save({"a": cr.ones(2)}, tmp_path / "y.pt")
    with open(tmp_path / "y.pt") as text, pytest.raises(RuntimeError, match=r"opened in text mode"):
        cr.load(text)
    with open(tmp_path / "z.pt", "w") as text, pytest.raises(TypeError, match=r"z.pt is open in text mode"):
        cr.save({"a": 1}, text)
    with pytest.raises(RuntimeError, match=r"'bad\\x00name.pt': not a valid file name"):
        cr.load("bad\0name.pt")


def test_a_full_disk_during_save_keeps_the_old_file(tmp_path):
    path = tmp_path / "m.pt"
    cr.save({"w": cr.zeros(4)}, path)
    old = path.read_bytes()
    code, out, err, _, _ = run_py(textwrap.dedent("""
        import resource, sys
        import chainrule as cr
        resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, 50_000))
        try:
            cr.save({"w": cr.ones(100_000)}, sys.argv[1])
        except OSError as e:
            print("ERROR", e)
    """), path)
    assert code == 0 and "ERROR" in out and "m.pt" in out, (out, err)
    assert path.read_bytes() == old and sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


DTYPES = ["?", "i1", "u1", "<i2", ">i2", "u2", "i4", "u4", "i8", ">u8", "f2", "f4", ">f4", "f8"]
def _array(dt, shape, seed, step):
    a = np.random.default_rng(seed).integers(0, 200, shape).astype(dt)
    return a[::step] if a.ndim else a  # every other row: not contiguous


ARRAYS = st.builds(_array,
                   st.sampled_from(DTYPES), st.lists(st.integers(0, 3), max_size=3).map(tuple), st.integers(0, 9),
                   st.sampled_from([1, 2]))
LEAVES = (st.none() | st.booleans() | st.integers(-(1 << 62), 1 << 62) | st.floats(allow_nan=False) | st.text(max_size=5)
          | ARRAYS | ARRAYS.map(lambda a: cr.tensor(a) if a.dtype.kind == "f" else a))
OBJECTS = st.recursive(LEAVES, lambda c: st.lists(c, max_size=3) | st.lists(c, max_size=3).map(tuple)
                       | st.dictionaries(st.text(max_size=4) | st.integers(-5, 5), c, max_size=3), max_leaves=10)


def _equal(a, b) -> bool:
    if isinstance(a, cr.Tensor):
        return (isinstance(b, cr.Tensor) and type(a) is type(b) and a.requires_grad == b.requires_grad
                and _equal(a.detach().numpy(), b.detach().numpy()))
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):  # byte order is normalised to little-endian; values and shape kept
        return isinstance(b, np.ndarray) and a.dtype.newbyteorder("=") == b.dtype.newbyteorder("=") \
            and a.shape == b.shape and np.array_equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_equal(a[k], b[k]) for k in a)
    return _same(a, b)


@settings(max_examples=120, **FUZZ)
@given(obj=OBJECTS)
def test_any_structure_save_accepts_loads_back_the_same(obj):
    buf = io.BytesIO()
    cr.save(obj, buf)
    buf.seek(0)
    assert _equal(obj, cr.load(buf))


def test_a_grown_or_special_checkpoint_file_is_refused_unread(tmp_path):
    save_checkpoint(tmp_path, "last", {"w": np.ones((4, 4), np.float32)}, None, {"epoch": 1})
    folder = Path(os.path.realpath(tmp_path / "last"))
    with open(folder / "model.safetensors", "r+b") as f:
        f.truncate(2 * GIB)  # sparse
    code, out, err, seconds, rss = run_py(textwrap.dedent("""
        import sys
        from chainrule.train.checkpoint import CheckpointError, load_checkpoint
        try:
            load_checkpoint(sys.argv[1], "last")
        except CheckpointError as e:
            print("ERROR", e)
    """), tmp_path)
    assert f"ERROR {tmp_path / 'last' / 'model.safetensors'}: 2147483648 bytes, but" in out, (out, err)
    assert seconds < 30 and rss < 512 << 20
    (folder / "model.safetensors").unlink()
    os.mkfifo(folder / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"last/model.safetensors: is a FIFO"):
        load_checkpoint(tmp_path, "last")


def test_class_names_that_are_many_references_to_one_long_name_are_refused(tmp_path):
    data = tmp_path / "cifar"
    write_cifar10(data, n_train=(2, 2, 2, 2, 2), n_test=2)
    name = b"B" + (8_000_000).to_bytes(4, "little") + b"n" * 8_000_000  # BINBYTES of 8 MB, as memo 0
    meta = b"\x80\x03}X\x0b\x00\x00\x00label_names(" + name + b"q\x00" + b"h\x00" * 2000 + b"ls."
    (data / "batches.meta").write_bytes(meta)  # 8 MB on disk, 16 GB once every name is decoded
    code, out, err, seconds, rss = run_py(textwrap.dedent("""
        import sys
        from chainrule.data import load_cifar10
        from chainrule.data.files import DataFileError
        try:
            load_cifar10(sys.argv[1])
        except DataFileError as e:
            print("ERROR", e)
    """), data)
    assert "ERROR" in out and "batches.meta: 'label_names' must be at most" in out, (out, err)
    assert seconds < 20 and rss < GIB


@pytest.mark.parametrize("text", ['"' + '\\"' * 1_000_000, '"' + '\\"' * 1_000_000 + "\\", '"a"' * 1_000_000,
                                  '["' + "[" * 1_000_000])
def test_the_json_scan_is_linear_on_escapes_and_unterminated_strings(text):
    t0 = time.monotonic()
    with pytest.raises(ValueError, match="f.json: not valid JSON"):
        fileio.load_json(text, "f.json")
    assert time.monotonic() - t0 < 5  # a scan that restarts at every escaped quote took minutes here
