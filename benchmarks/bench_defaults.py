"""How the per-dataset defaults of ``chainrule train`` were chosen: a small grid on CIFAR-10.

    python benchmarks/bench_defaults.py [CIFAR10_DIR] [EPOCHS]

Every setting trains README's network (MLP [3072, 100, 100, 10], SGD with momentum 0.9, batch 64,
seed 0) on the CIFAR-10 subset in ``../shared/data`` (5170 training images, 20% of them held out
for validation, 1017 test images) and reports the best validation accuracy (its epoch is the one
``best/`` holds), the test accuracy of that best checkpoint and of the last one. The default is the setting with the best validation
accuracy; the test column is only read afterwards.
"""
import sys
import tempfile
from pathlib import Path

from chainrule.data import DataLoader
from chainrule.train import threads
from chainrule.train.run import LOSSES, RunConfig, load_run, start_run
from chainrule.train.trainer import evaluate
from _common import table

HERE = Path(__file__).resolve().parent
DEFAULT_DIR = HERE.parent.parent / "shared" / "data" / "cifar-10-subset-py"

GRID = [  # (lr, reg, lr_step): README's old command first
    (1e-3, 1e-3, 5), (3e-3, 1e-3, 5), (1e-2, 1e-3, 5), (3e-2, 1e-3, 5), (1e-1, 1e-3, 5),
    (1e-2, 1e-4, 5), (1e-2, 1e-2, 5), (3e-2, 1e-4, 5), (1e-2, 1e-3, 0), (3e-2, 1e-3, 0),
]


def main(data_dir=DEFAULT_DIR, epochs=10):
    threads.use(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (lr, reg, step) in enumerate(GRID):
            cfg = RunConfig(dataset="cifar10", data_dir=str(data_dir), hidden=(100, 100), lr=lr, reg=reg,
                            lr_step=step, epochs=epochs, batch_size=64)
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
    print(f"CIFAR-10 subset {data_dir}, MLP [3072, 100, 100, 10], SGD momentum 0.9, batch 64, {epochs} epochs")
    print(table(["lr", "reg", "lr_step", "train loss", "best val acc", "test acc (best)", "test acc (last)"], rows))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DIR, int(sys.argv[2]) if len(sys.argv) > 2 else 10)
