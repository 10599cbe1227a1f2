"""Run under mpiexec by tests/test_distributed.py: K ranks vs one process, several configurations.

Every rank trains each configuration data-parallel (global batch B, each rank its share) and,
independently, alone on the whole batch (the one-process reference); rank 0 prints one JSON
line with, per configuration, the largest relative difference of the parameters and of the loss
history, and the number of Allreduce calls. The collectives are checked on the way.
"""
import json
import sys

import numpy as np

import chainrule as cr
import chainrule.distributed as dist
from chainrule.data import DataLoader
from chainrule.nn.parallel import DistributedDataParallel
from chainrule.train import run
from chainrule.train.trainer import Trainer

CONFIGS = [
    dict(name="sgd-momentum-l2-float64", optimizer="sgd", lr=0.3, momentum=0.9, reg=1e-3, loss="softmax", dtype="float64"),
    dict(name="adam-l2-float64", optimizer="adam", lr=1e-2, reg=1e-3, loss="softmax", dtype="float64"),
    dict(name="sgd-svm-l2-float64", optimizer="sgd", lr=0.1, momentum=0.9, reg=1e-3, loss="svm", dtype="float64"),
    dict(name="sgd-momentum-float32", optimizer="sgd", lr=0.3, momentum=0.9, reg=1e-5, loss="softmax", dtype="float32"),
    dict(name="adam-svm-float32", optimizer="adam", lr=1e-2, reg=1e-4, loss="svm", dtype="float32"),
]


def train(cfg, distributed):
    data = run.load_data(cfg)
    model = run.build_model(cfg, data.train.X.shape[1], len(data.classes))
    opt, sched = run.build_optimizer(cfg, model)
    tr = Trainer(model, run.LOSSES[cfg.loss], opt, DataLoader(data.train, cfg.batch_size, shuffle=True, seed=cfg.seed),
                 DataLoader(data.val, 64), scheduler=sched, epochs=cfg.epochs, reg=cfg.reg, progress=False,
                 config={"run": cfg.__dict__ | {"hidden": list(cfg.hidden)}}, distributed=distributed)
    tr.fit()
    calls = tr.dist.ddp.allreduce_calls if tr.dist else 0
    return {k: np.array(v) for k, v in model.state_dict().items()}, tr.history, calls


def rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


def check_collectives(rank, k):
    t = cr.tensor([float(rank + 1), -float(rank)], dtype="float64")
    dist.all_reduce(t)                                   # SUM by default
    assert t.data.tolist() == [k * (k + 1) / 2, -k * (k - 1) / 2], t
    t = cr.tensor([float(rank + 1)], dtype="float64")
    dist.all_reduce(t, op=dist.ReduceOp.AVG)
    assert t.data.tolist() == [(k + 1) / 2], t
    t = cr.tensor(np.array(float(rank)))                  # 0-d
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    assert t.item() == k - 1
    b = np.full(3, rank, dtype=np.int64)
    dist.broadcast(b, src=k - 1)
    assert b.tolist() == [k - 1] * 3
    dist.barrier()
    cr.manual_seed(rank)                                 # different weights on every rank ...
    ddp = DistributedDataParallel(cr.nn.MLP([2, 4, 3]))
    w = np.ascontiguousarray(ddp.module.state_dict()["0.weight"])
    dist.broadcast(w, src=0)                             # ... until the wrapper broadcast rank 0's
    assert np.array_equal(w, ddp.module.state_dict()["0.weight"])
    assert list(ddp.state_dict())[0] == "module.0.weight"
    # a few buckets (a few Allreduces) give the same gradients as one flat buffer
    X = np.random.default_rng(rank).normal(size=(5 + rank, 2))
    y = np.arange(5 + rank) % 3
    grads = []
    for cap in (None, 1e-4):
        m = cr.nn.MLP([2, 4, 3]).to("float64")
        m.load_state_dict(ddp.module.state_dict())
        d = DistributedDataParallel(m, bucket_cap_mb=cap)
        cr.nn.functional.cross_entropy(d(cr.tensor(X)), y).backward()
        grads.append(np.concatenate([p.grad.detach().numpy().ravel() for p in m.parameters()]))
        assert d.allreduce_calls == (1 if cap is None else 3), d.allreduce_calls
    assert np.allclose(grads[0], grads[1], rtol=1e-14, atol=0)


def check_different_models_are_refused(rank):
    try:
        DistributedDataParallel(cr.nn.MLP([2, 4 + rank, 3]))
    except ValueError as e:
        assert "rank 1's model differs from rank 0's (['0.weight', [4, 2], 'float32'] vs ['0.weight', [5, 2]" \
            in str(e), e
    else:
        raise AssertionError("different models on the ranks were not refused")


def empty_shares():
    """5 samples in batches of 4: the last batch has 1 sample, so some ranks have no share of it
    (and of every validation batch of 1): they still join each step's Allreduce."""
    rng = np.random.default_rng(0)
    ds = cr.data.ArrayDataset(rng.normal(size=(5, 2)), np.array([0, 1, 2, 0, 1]))
    out = []
    for distributed in (True, False):
        cr.manual_seed(0)
        model = cr.nn.MLP([2, 8, 3]).to("float64")
        opt = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        tr = Trainer(model, cr.nn.functional.cross_entropy, opt, DataLoader(ds, 4, shuffle=True, seed=1),
                     DataLoader(ds, 1), epochs=5, reg=1e-3, progress=False, distributed=distributed)
        tr.fit()
        out.append(({k: np.array(v) for k, v in model.state_dict().items()}, tr.history))
    (a, ha), (b, hb) = out
    return max([rel(a[n], b[n]) for n in b] + [rel(np.array(ha.val_loss), np.array(hb.val_loss)),
                                              rel(np.array(ha.iter_loss), np.array(hb.iter_loss))])


def main():
    dist.init_process_group("mpi")
    rank, k = dist.get_rank(), dist.get_world_size()
    check_collectives(rank, k)
    check_different_models_are_refused(rank)
    out = {"world_size": k, "configs": {}, "empty_shares": empty_shares()}
    for c in CONFIGS:
        cfg = run.RunConfig(dataset="spiral", hidden=(16,), epochs=int(sys.argv[1]) if len(sys.argv) > 1 else 40,
                            batch_size=32, lr_step=0, **{key: v for key, v in c.items() if key != "name"})
        many, h_many, calls = train(cfg, True)
        one, h_one, _ = train(cfg, False)
        out["configs"][c["name"]] = {
            "params": max(rel(many[n], one[n]) for n in one),
            "loss": rel(np.array(h_many.iter_loss), np.array(h_one.iter_loss)),
            "val_acc": rel(np.array(h_many.val_acc), np.array(h_one.val_acc)),
            "steps": len(h_one.iter_loss), "allreduce_calls": calls,
            "same_on_every_rank": None}
        # the parameters are identical on every rank (not just close)
        w = np.concatenate([v.ravel() for v in many.values()]).astype(np.float64)
        hi, lo = w.copy(), w.copy()
        dist.all_reduce(hi, op=dist.ReduceOp.MAX)
        dist.all_reduce(lo, op=dist.ReduceOp.MIN)
        out["configs"][c["name"]]["same_on_every_rank"] = bool(np.array_equal(hi, lo))
    if rank == 0:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
