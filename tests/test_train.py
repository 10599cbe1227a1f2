"""Training: history, checkpoints (atomic, loadable by PyTorch), exact resume, Ctrl-C, NaN."""
import json
import os
import signal

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule.data import DataLoader, spiral
from chainrule.nn import functional as F
from chainrule.train import NonFiniteLoss, Trainer, load_checkpoint, predict, save_checkpoint
from chainrule.train import checkpoint as ckpt


def make(run_dir=None, epochs=4, dropout=0.3, lr=0.1, callbacks=()):
    cr.manual_seed(0)
    ds = spiral(40, 3)
    model = cr.nn.MLP([2, 32, 3], dropout=dropout)
    opt = cr.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    sched = cr.optim.lr_scheduler.StepLR(opt, 2, 0.5)
    return Trainer(model, F.cross_entropy, opt, DataLoader(ds, 16, shuffle=True, seed=1), DataLoader(ds, 64),
                   scheduler=sched, epochs=epochs, reg=1e-3, run_dir=run_dir, progress=False,
                   config={"model": model.config()}, callbacks=callbacks)


def same_history(a, b):
    """Histories are equal in everything but wall-clock seconds."""
    strip = lambda h: {k: v for k, v in h.to_dict().items() if k != "seconds"}  # noqa: E731
    return strip(a) == strip(b)


def weights(model):
    return {k: np.array(v) for k, v in model.state_dict().items()}


def test_fit_records_history_and_learns(tmp_path):
    t = make(tmp_path, epochs=6)
    h = t.fit()
    assert t.status == "finished"
    assert len(h.iter_loss) == 6 * 8 and h.epoch == [1, 2, 3, 4, 5, 6]
    assert len(h.val_acc) == 6 and h.lr == [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]
    assert h.train_loss[-1] < h.train_loss[0]
    assert (tmp_path / "last" / "model.safetensors").exists() and (tmp_path / "best" / "state.json").exists()
    p = predict(t.model, spiral(40, 3).X[:5])
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-5)


def test_checkpoint_loads_into_pytorch_sequential(tmp_path):
    from safetensors.torch import load_file
    t = make(tmp_path, epochs=1, dropout=0.0)
    t.fit()
    tnet = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3))
    tnet.load_state_dict(load_file(str(tmp_path / "last" / "model.safetensors")))
    x = spiral(40, 3).X[:7]
    with torch.no_grad():
        ours = t.model.eval()(cr.tensor(x)).detach().numpy()
        np.testing.assert_allclose(tnet(torch.tensor(x)).numpy(), ours, rtol=1e-5, atol=1e-6)


def test_resume_between_epochs_matches_uninterrupted(tmp_path):
    full = make(epochs=5)
    full.fit()
    a = make(tmp_path, epochs=2)
    a.fit()
    b = make(tmp_path, epochs=5).resume()
    b.fit()
    assert same_history(b.history, full.history)
    for k, v in weights(full.model).items():
        np.testing.assert_array_equal(weights(b.model)[k], v, err_msg=k)


def test_ctrl_c_mid_epoch_saves_and_resume_is_exact(tmp_path):
    class SendSigint:
        def on_step(self, trainer, loss):
            if len(trainer.history.iter_loss) == 11:  # in the middle of epoch 2
                os.kill(os.getpid(), signal.SIGINT)

    full = make(epochs=4)
    full.fit()
    a = make(tmp_path, epochs=4, callbacks=[SendSigint()])
    a.fit()
    assert a.status == "interrupted" and a.epoch == 1 and a.batch == 3
    _, _, info = load_checkpoint(tmp_path, "last")
    assert info["batch"] == 3 and len(info["history"]["iter_loss"]) == 11
    b = make(tmp_path, epochs=4).resume()
    b.fit()
    assert same_history(b.history, full.history)
    for k, v in weights(full.model).items():
        np.testing.assert_array_equal(weights(b.model)[k], v, err_msg=k)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored


def test_nan_loss_stops_with_message_and_keeps_last_good_checkpoint(tmp_path):
    t = make(tmp_path, epochs=1, dropout=0.0)
    t.fit()
    good = (tmp_path / "last" / "model.safetensors").read_bytes()
    t2 = make(tmp_path, epochs=3, dropout=0.0).resume()
    t2.optimizer.param_groups[0]["lr"] = 1e30  # after resume, which restores the saved lr
    with np.errstate(all="ignore"), pytest.raises(NonFiniteLoss, match=r"at step \d+ .*lower learning rate"):
        t2.fit()
    assert (tmp_path / "last" / "model.safetensors").read_bytes() == good


def test_a_write_killed_midway_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    state = {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}
    save_checkpoint(tmp_path, "last", state, None, {"epoch": 1})
    calls = {"n": 0}
    real = ckpt.write_atomic

    def dies_on_second_file(path, data):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")  # as if the process died here
        return real(path, data)

    monkeypatch.setattr(ckpt, "write_atomic", dies_on_second_file)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path, "last", {"w": np.zeros((2, 3), np.float32)}, None, {"epoch": 2})
    model, _, info = load_checkpoint(tmp_path, "last")
    assert info["epoch"] == 1 and model["w"][1, 2] == 5
    monkeypatch.setattr(ckpt, "write_atomic", real)
    save_checkpoint(tmp_path, "last", {"w": np.zeros((2, 3), np.float32)}, None, {"epoch": 3})
    assert load_checkpoint(tmp_path, "last")[2]["epoch"] == 3
    assert len(list(tmp_path.glob(".last-*"))) == 1  # the half-written folder was cleaned up


def test_missing_checkpoint_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint here"):
        load_checkpoint(tmp_path, "last")
    (tmp_path / "last").mkdir()
    (tmp_path / "last" / "state.json").write_text("{not json")
    with pytest.raises(ValueError, match="manifest.json: missing, so the checkpoint cannot be verified"):
        load_checkpoint(tmp_path, "last")


def test_checkpoint_files_hold_no_pickles(tmp_path):
    t = make(tmp_path, epochs=1)
    t.fit()
    json.loads((tmp_path / "last" / "state.json").read_text())  # plain JSON
    for f in (tmp_path / "last").iterdir():
        assert not f.read_bytes().startswith(b"\x80")  # no pickle protocol header


def test_progress_without_a_terminal_writes_plain_lines_during_a_long_epoch():
    import io
    from chainrule.train.progress import Progress
    out = io.StringIO()
    t = make(epochs=2)
    t.callbacks.append(Progress(out, live=None, seconds=0.0))   # "a long epoch": a line at every step
    t.fit()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()   # a StringIO is not a terminal
    steps = [line for line in lines if "steps/s" in line]
    assert len(steps) == 16 and steps[0].startswith("epoch 1/2  batch 1/8  loss ") and "ETA " in steps[0]
    assert "val acc" in steps[-1]              # known from epoch 1 on
    epochs = [line for line in lines if "steps/s" not in line]
    assert [line.split()[1] for line in epochs] == ["1/2", "2/2"]


def test_train_imports_no_viz():
    """Plots receive data: the training package never imports chainrule.viz (the sweep's trial plots
    come from the command too, by name in its worker processes)."""
    import ast
    from pathlib import Path
    import chainrule.train
    for path in Path(chainrule.train.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.startswith("chainrule.viz") for n in names), (path.name, names)


def test_one_step_for_one_process_and_for_ranks():
    """Trainer.step is the only place that computes a training step (the distributed run adds its
    Allreduce through two hooks, it has no step of its own)."""
    from chainrule.train.distributed import DistributedRun
    t = make(epochs=1, dropout=0.0)
    X, y = next(iter(t.train_loader))
    before = weights(t.model)
    value, correct, n = t.step(X, y)
    assert n == 16 and 0 <= correct <= 16 and np.isfinite(value)
    assert any(not np.array_equal(before[k], v) for k, v in weights(t.model).items())
    assert not hasattr(DistributedRun, "step")
