"""TensorBoard: chainrule's SummaryWriter writes event files that TensorBoard's own reader reads back
with the values PyTorch's SummaryWriter writes for the same snippet; ``chainrule train --tensorboard``
logs the run's curves."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.utils.tensorboard
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import chainrule as cr
from chainrule.utils.tensorboard import SummaryWriter

pytest.importorskip("tensorboardX", reason="the tensorboard extra is not installed")


def read(folder) -> EventAccumulator:
    ea = EventAccumulator(str(folder), size_guidance={"scalars": 0, "histograms": 0, "images": 0, "tensors": 0})
    ea.Reload()
    return ea


def snippet(lib, writer_cls, folder):
    rng = np.random.default_rng(0)
    values = rng.standard_normal(1000)
    img = np.linspace(0, 1, 3 * 8 * 6).reshape(3, 8, 6)
    with writer_cls(str(folder)) as w:
        for step in range(5):
            w.add_scalar("loss/train", lib.tensor(1.0 / (step + 1)), step)
            w.add_scalar("lr", 0.1 * 0.5 ** step, step)
        w.add_scalars("acc", {"train": 0.9, "val": lib.tensor(0.8)}, 3)
        w.add_histogram("weights", lib.tensor(values), 2)
        w.add_image("picture", lib.tensor(img), 1)
        w.add_text("note", "hello **TensorBoard**", 4)
        w.add_hparams({"lr": 0.1, "hidden": 100, "opt": "sgd"}, {"hparam/accuracy": 0.75}, run_name="hp")
    return values


def test_event_files_read_back_as_torchs(tmp_path):
    values = snippet(cr, SummaryWriter, tmp_path / "cr")
    snippet(torch, torch.utils.tensorboard.SummaryWriter, tmp_path / "torch")
    ours, theirs = read(tmp_path / "cr"), read(tmp_path / "torch")
    for tag in ("loss/train", "lr"):
        got = [(e.step, e.value) for e in ours.Scalars(tag)]
        assert got == [(e.step, e.value) for e in theirs.Scalars(tag)] and len(got) == 5
    assert ours.Scalars("loss/train")[2].value == pytest.approx(1 / 3)
    for sub, v in (("acc_train", 0.9), ("acc_val", 0.8)):      # add_scalars: one folder per curve, as torch
        assert [(e.step, e.value) for e in read(tmp_path / "cr" / sub).Scalars("acc")] == [(3, pytest.approx(v))]
        assert [e.step for e in read(tmp_path / "torch" / sub).Scalars("acc")] == [3]
    h, th = ours.Histograms("weights")[0], theirs.Histograms("weights")[0]
    assert h.step == 2 and h.histogram_value.num == 1000 == th.histogram_value.num
    assert h.histogram_value.min == pytest.approx(values.min()) and h.histogram_value.sum == pytest.approx(values.sum())
    assert list(h.histogram_value.bucket) == list(th.histogram_value.bucket)
    im, tim = ours.Images("picture")[0], theirs.Images("picture")[0]
    assert (im.step, im.width, im.height) == (1, 6, 8) == (tim.step, tim.width, tim.height)
    assert im.encoded_image_string[:4] == b"\x89PNG"
    text = ours.Tensors("note/text_summary")[0]
    assert text.step == 4 and text.tensor_proto.string_val[0] == b"hello **TensorBoard**"
    hp = read(tmp_path / "cr" / "hp")
    assert "hparams" in hp.PluginTagToContent("hparams") or hp.PluginTagToContent("hparams")
    assert [e.value for e in hp.Scalars("hparam/accuracy")] == [pytest.approx(0.75)]
    with pytest.raises(NotImplementedError, match="add_graph"):
        SummaryWriter(str(tmp_path / "g")).add_graph(cr.nn.Linear(2, 2))


def test_the_writer_never_loads_torch_and_a_missing_tensorboardx_is_one_clear_line(tmp_path):
    code = ("import sys\nfrom chainrule.utils.tensorboard import SummaryWriter\n"
            f"w = SummaryWriter({str(tmp_path)!r}); w.add_scalar('x', 1.0, 0); w.close()\n"
            "print(sys.modules.get('torch', 'absent'))")     # not loaded, and not left blocked either
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["absent"] and [e.value for e in read(tmp_path).Scalars("x")] == [1.0]
    code = ("import sys; sys.modules['tensorboardX'] = None\nfrom chainrule.utils.tensorboard import SummaryWriter\n"
            "SummaryWriter('x')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "ImportError: SummaryWriter needs tensorboardX, which is not installed: pip install" in out.stderr


def test_train_tensorboard_logs_the_run_curves(tmp_path):
    run = tmp_path / "run"
    out = subprocess.run([sys.executable, "-m", "chainrule", "train", "--epochs", "3", "--out", str(run),
                          "--tensorboard"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    ea = read(run / "tensorboard")
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    epochs = [m for m in metrics if "train_loss" in m]
    assert [e.step for e in ea.Scalars("loss/train")] == [1, 2, 3]
    assert [e.value for e in ea.Scalars("loss/train")] == pytest.approx([m["train_loss"] for m in epochs], rel=1e-6)
    assert [e.value for e in ea.Scalars("accuracy/val")] == pytest.approx([m["val_acc"] for m in epochs], rel=1e-6)
    assert len(ea.Scalars("loss/step")) == len(ea.Scalars("loss/step")) > 3 and len(ea.Scalars("lr")) == 3
    other = tmp_path / "elsewhere"
    out = subprocess.run([sys.executable, "-m", "chainrule", "train", "--epochs", "1", "--out", str(tmp_path / "r2"),
                          "--tensorboard", str(other)], capture_output=True, text=True)
    assert out.returncode == 0 and [e.step for e in read(other).Scalars("loss/train")] == [1]
    assert not Path(tmp_path / "r2" / "tensorboard").exists()
