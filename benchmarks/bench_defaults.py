"""How the per-dataset defaults of ``chainrule train`` were chosen: a small grid per dataset.

    python benchmarks/bench_defaults.py [DATA_DIR] [EPOCHS] [--dataset cifar10|mnist] [--limit N]

Every setting trains README's network (MLP [inputs, 100, 100, 10], SGD with momentum 0.9, batch 64,
seed 0), 20% of the training images held out for validation, and reports the best validation
accuracy (its epoch is the one ``best/`` holds), the test accuracy of that best checkpoint and of the
last one. The default is the setting with the best validation accuracy; the test column is only
read afterwards.

- CIFAR-10: the subset in ``../shared/data`` (5170 training images, 1017 test images).
- MNIST: ``--dataset mnist --limit 10000`` on the IDX files (the first 10000 training images: an
  8000/2000 split; the 10000 test images).
"""
import argparse
import sys
import tempfile
from pathlib import Path

from _common import table

from chainrule.data import DataLoader
from chainrule.train import threads
from chainrule.train.run import LOSSES, RunConfig, load_run, start_run
from chainrule.train.trainer import evaluate

HERE = Path(__file__).resolve().parent
DEFAULT_DIR = HERE.parent.parent / "shared" / "data" / "cifar-10-subset-py"
INPUTS = {"cifar10": 3072, "mnist": 784}

GRID = [  # (lr, reg, lr_step): README's old CIFAR-10 command first
    (1e-3, 1e-3, 5), (3e-3, 1e-3, 5), (1e-2, 1e-3, 5), (3e-2, 1e-3, 5), (1e-1, 1e-3, 5),
    (1e-2, 1e-4, 5), (1e-2, 1e-2, 5), (3e-2, 1e-4, 5), (1e-2, 1e-3, 0), (3e-2, 1e-3, 0),
]
# MNIST's best lr in GRID is its largest: the grid goes on past it
MORE = {"mnist": [(1e-1, 1e-4, 5), (1e-1, 1e-3, 0), (3e-1, 1e-3, 5), (3e-1, 1e-4, 5)]}


def main(data_dir=DEFAULT_DIR, epochs=10, dataset="cifar10", limit=0):
    threads.use(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (lr, reg, step) in enumerate(GRID + MORE.get(dataset, [])):
            cfg = RunConfig(dataset=dataset, data_dir=str(data_dir), hidden=(100, 100), lr=lr, reg=reg,
                            lr_step=step, epochs=epochs, batch_size=64, limit=limit)
            trainer, data = start_run(cfg, Path(tmp) / str(i), progress=False)
            h = trainer.fit()
            trainer.run_lock.release()
            test = {}
            for slot in ("best", "last"):
                model, _ = load_run(trainer.run_dir, slot)
                test[slot] = evaluate(model, DataLoader(data.test, 1024), LOSSES[cfg.loss])["accuracy"]
            best_epoch = h.epoch.index(trainer.best_epoch)
            rows.append([f"{lr:g}", f"{reg:g}", str(step), f"{h.train_loss[0]:.3f} -> {h.train_loss[-1]:.3f}",
                         f"{h.val_acc[best_epoch]:.3f} (epoch {best_epoch + 1})", f"{test['best']:.3f}",
                         f"{test['last']:.3f}"])
            print(" ".join(rows[-1]), file=sys.stderr, flush=True)
    print(f"{dataset} {data_dir}{f' --limit {limit}' if limit else ''}, MLP [{INPUTS[dataset]}, 100, 100, 10], "
          f"SGD momentum 0.9, batch 64, {epochs} epochs")
    print(table(["lr", "reg", "lr_step", "train loss", "best val acc", "test acc (best)", "test acc (last)"], rows))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data_dir", nargs="?", default=DEFAULT_DIR)
    p.add_argument("epochs", nargs="?", type=int, default=10)
    p.add_argument("--dataset", choices=list(INPUTS), default="cifar10")
    p.add_argument("--limit", type=int, default=0, help="the first N training images (0: all)")
    a = p.parse_args()
    main(Path(a.data_dir), a.epochs, a.dataset, a.limit)
