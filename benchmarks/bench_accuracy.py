"""Accuracy on real data, side by side with PyTorch (not part of the test run).

1. The built-in spiral (3 classes), 2-layer net of 100 hidden units: training accuracy, as
   `chainrule train` with its defaults gives it.
2. The CIFAR-10 subset in ../shared/data (5170 train / 1017 test), MLP([3072, 100, 10]), mean-image
   subtraction, SGD with momentum, the same initial weights and the same batches in chainrule and
   PyTorch: test accuracy and wall time per epoch for both.

    python benchmarks/bench_accuracy.py [CIFAR_DIR]
"""
import _common  # noqa: F401  (one BLAS thread)
import sys
import time
from pathlib import Path

import numpy as np

import chainrule as cr
from chainrule.data import DataLoader, Preprocess, load_cifar10
from chainrule.data.loader import ArrayDataset
from chainrule.nn import functional as F
from chainrule.train import run
from chainrule.train.trainer import evaluate

HERE = Path(__file__).resolve().parent
CIFAR = HERE.parents[1] / "shared" / "data" / "cifar-10-subset-py"
EPOCHS, BATCH, LR, MOMENTUM, REG = 10, 64, 1e-3, 0.9, 1e-3


def spiral_accuracy():
    cfg = run.RunConfig()
    trainer, data = run.make_trainer(cfg, "/tmp/chainrule-bench-spiral", progress=False)
    trainer.run_dir, trainer.callbacks = None, []
    t = time.perf_counter()
    trainer.fit()
    seconds = time.perf_counter() - t
    train_acc = evaluate(trainer.model, DataLoader(data.train, 1024))["accuracy"]
    test_acc = evaluate(trainer.model, DataLoader(data.test, 1024))["accuracy"]
    return train_acc, test_acc, seconds


def cifar(root):
    import torch
    torch.set_num_threads(1)
    Xtr, ytr, Xte, yte, _ = load_cifar10(root)
    pre = Preprocess.fit(Xtr, "mean_image")
    Xtr, Xte = pre(Xtr).reshape(len(Xtr), -1), pre(Xte).reshape(len(Xte), -1)
    cr.manual_seed(0)
    net = cr.nn.MLP([3072, 100, 10])
    tnet = torch.nn.Sequential(torch.nn.Linear(3072, 100), torch.nn.ReLU(), torch.nn.Linear(100, 10))
    tnet.load_state_dict({k: torch.tensor(np.array(v)) for k, v in net.state_dict().items()})
    opt = cr.optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM)
    topt = torch.optim.SGD(tnet.parameters(), lr=LR, momentum=MOMENTUM)
    loader = DataLoader(ArrayDataset(Xtr, ytr), BATCH, shuffle=True, seed=0)
    t_cr = t_torch = 0.0
    for epoch in range(EPOCHS):
        loader.set_epoch(epoch)
        batches = [(X, y) for X, y in loader]
        t = time.perf_counter()
        for X, y in batches:
            opt.zero_grad()
            loss = F.cross_entropy(net(X), y) + REG * F.l2_penalty(net)
            loss.backward()
            opt.step()
        t_cr += time.perf_counter() - t
        tb = [(torch.from_numpy(X.numpy()), torch.from_numpy(y.numpy())) for X, y in batches]
        t = time.perf_counter()
        for X, y in tb:
            topt.zero_grad()
            loss = torch.nn.functional.cross_entropy(tnet(X), y) + REG * sum(
                (p ** 2).sum() for n, p in tnet.named_parameters() if n.endswith("weight"))
            loss.backward()
            topt.step()
        t_torch += time.perf_counter() - t
    acc = evaluate(net, DataLoader(ArrayDataset(Xte, yte), 1024))["accuracy"]
    with torch.no_grad():
        tacc = float((tnet(torch.from_numpy(Xte)).argmax(1).numpy() == yte).mean())
    return acc, tacc, t_cr / EPOCHS, t_torch / EPOCHS


def main():
    tr, te, s = spiral_accuracy()
    print(_common.table(["spiral, 3 classes, MLP [2, 100, 3], `chainrule train` defaults", "train acc", "test acc",
                         "seconds"], [["chainrule", f"{tr:.4f}", f"{te:.4f}", f"{s:.1f}"]]))
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else CIFAR
    if not root.exists():
        print(f"\n(no CIFAR-10 folder at {root}; pass one as an argument)")
        return
    acc, tacc, ep, tep = cifar(root)
    print()
    print(_common.table([f"CIFAR-10 subset, MLP [3072, 100, 10], {EPOCHS} epochs SGD+momentum, batch {BATCH}",
                         "test accuracy", "seconds / epoch"],
                        [["chainrule", f"{acc:.4f}", f"{ep:.3f}"], ["PyTorch", f"{tacc:.4f}", f"{tep:.3f}"]]))


if __name__ == "__main__":
    main()
