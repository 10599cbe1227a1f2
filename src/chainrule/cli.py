"""The ``chainrule`` command: argument parsing and calls into the library, no logic of its own.

Errors a user can fix (bad options, missing or corrupt files) print one line and exit with 1
(2 for a usage error, 130 for Ctrl-C); they never show a traceback unless --debug is given.
All of it happens in one place, :func:`main`.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import traceback
import warnings
from dataclasses import fields
from pathlib import Path

from tqdm.autonotebook import tqdm  # tqdm.auto without asyncio (the commands start faster)

from chainrule import lecture
from chainrule.messages import one_line
from chainrule.nn.layers import ACTIVATIONS
from chainrule.train import app, run, threads
from chainrule.train.config import DATASET_DEFAULTS, DATASETS, OPTIMIZERS, RunConfig
from chainrule.train.distributed import rank
from chainrule.train.sweep import METRICS, PRUNERS, SAMPLERS, SweepWarning, quiet_optuna, report, sweep_command
from chainrule.train.trainer import NonFiniteLoss
from chainrule.viz import draw_graph, explain, render, stepper
from chainrule.viz.expression import evaluate, parse_assignments
from chainrule.viz.health import plot_diagnostics
from chainrule.viz.plots import plot_confusion
from chainrule.viz.plots import plot_history as draw_history


def _hidden(text: str) -> tuple:
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--hidden takes widths separated by commas, like 100,100; got {text!r}")
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"--hidden needs positive widths, got {text!r}")
    return sizes


def _int_list(flag: str):
    """An argparse type for positive integers separated by commas (--channels 16,32)."""
    def parse(text: str) -> tuple:
        try:
            values = tuple(int(s) for s in text.split(",") if s.strip())
        except ValueError:
            values = ()
        if not values or min(values) < 1:
            raise argparse.ArgumentTypeError(f"{flag} takes positive integers separated by commas, like 16,32; "
                                             f"got {text!r}")
        return values
    return parse


def _demo(args) -> int:
    print("\n".join(lecture.demo(args.x, args.y, args.z)))
    return 0


def _train(args) -> int:
    """``train``: the run is chainrule.train.app's; here the drawing of its figures and its one-line errors."""
    try:
        return app.train_command(args, say=_say, plot=plot_history, plot_diagnostics=plot_diagnostics,
                                 warn=_warn).code
    except NonFiniteLoss as e:
        print(f"chainrule train: stopped: {one_line(e)}", file=sys.stderr)
        return 1


def _say(line: str) -> None:
    print(line, flush=True)


def _warn(line: str) -> None:
    print(line, file=sys.stderr)


def plot_history(history, path) -> None:
    """training.png of a run, drawn by chainrule.viz (nothing without matplotlib, an optional extra)."""
    try:
        draw_history(history, path)
    except ImportError:
        return


def _checkpoint_note(slot: str, epoch: int) -> str:
    what = "the run's result: its best epoch" if slot == "best" else "the last epoch's weights"
    return f"checkpoint {slot}/ (epoch {epoch}, {what})"


def _evaluate(args) -> int:
    r = run.evaluate_run(args.run_dir, args.dataset, args.data_dir, checkpoint=args.checkpoint)
    print(f"{r['dataset']} test set: {r['n']} samples, loss {r['loss']:.4f}, accuracy {r['accuracy']:.4f}; "
          f"{_checkpoint_note(r['checkpoint'], r['epoch'])}")
    w = max(len(c) for c in r["classes"])
    print(f"{'class'.ljust(w)}  accuracy  samples")
    for c, a, n in zip(r["classes"], r["per_class"], r["confusion"].sum(axis=1)):
        print(f"{c.ljust(w)}  {a:8.4f}  {n:7d}")
    try:
        path = Path(args.run_dir) / "confusion.png"
        plot_confusion(r["confusion"], r["classes"], path)
        print(f"confusion matrix: {path}")
    except ImportError as e:
        print(f"(no confusion matrix plot: {e})")
    return 0


def _predict(args) -> int:
    slot, epoch, rows = run.predict_files(args.run_dir, args.files, args.top_k, checkpoint=args.checkpoint)
    print(f"using {_checkpoint_note(slot, epoch)}", file=sys.stderr)
    for name, top in rows:
        print(f"{name}: " + ", ".join(f"{c} {p:.3f}" for c, p in top))
    return 0


def _graph(args) -> int:
    f, leaves = evaluate(args.expression, parse_assignments(args.values))
    narration = explain(f, short=4)  # runs the backward pass; long sub-expressions are called t1, t2, ...
    print(f"f = {args.expression} = {f.item():g}")
    for name, t in leaves.items():
        print(f"df/d{name} = {t.grad.item():g}")
    if args.explain:
        print()
        print(narration)
    if args.html:
        print(f"stepper: {stepper(f, title=f'f = {args.expression}', scale=args.scale).save(args.html)}")
    if args.out:
        dot = draw_graph(f, title=f"f = {args.expression}", style=args.style, scale=args.scale)
        try:
            print(f"drawing: {render(dot, args.out)}")
        except RuntimeError as e:
            dot_path = render(dot, Path(args.out).with_suffix(".dot"))
            print(f"chainrule graph: {e}; wrote the DOT source to {dot_path}", file=sys.stderr)
            return 1
    return 0


def _lecture(args) -> int:
    if args.list or not args.name:
        for name, fn in lecture.FIGURES.items():
            print(f"{name:18s} {fn.__doc__.strip().splitlines()[0]}")
        return 0
    for name, files, skipped in lecture.make_each(args.name, args.out, args.data_dir):
        print(f"{name}: skipped ({skipped})" if skipped else f"{name}: " + ", ".join(files))
    return 0


def _sweep(args) -> int:
    quiet_optuna()
    warnings.simplefilter("always", SweepWarning)
    warnings.showwarning = lambda msg, cat, *a, **k: tqdm.write(f"chainrule sweep: warning: {msg}", file=sys.stderr)
    if args.report:
        return _show_report(report(args.report, storage=args.storage), out=Path(args.report))
    metric = args.metric

    def line(t):
        v = t.value if t.value is not None else (t.intermediate_values[max(t.intermediate_values)]
                                                  if t.intermediate_values else None)
        status = t.user_attrs.get("status", t.state.name.lower())
        if t.state.name == "FAIL":
            status = "failed (will be retried)"
        params = " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in t.params.items())
        score = f"{metric} {v:.4f}" if v is not None else ""
        tqdm.write(f"trial {t.number:4d} {status:9s} {score}  {params}".rstrip())

    res, out = sweep_command(args, on_trial=line, plot=plot_history)
    _show_report(res.report, out=Path(out))
    if res.status == "interrupted":
        print(f"interrupted: {res.report['finished']} of {res.report['trials']} trials finished; run the same "
              f"command again to continue", file=sys.stderr)
        return 130
    if res.status in ("timeout", "incomplete"):
        print(f"{res.status}: {res.report['finished']} of {res.report['trials']} trials finished; run the same command "
              f"again to continue")
    return 0


def _show_report(r, out) -> int:
    m = r["metric"]
    print(f"{r['finished']} of {r['trials']} trials finished in {out}")
    if r["top"]:
        cols = ["trial", m, *r["params"], "epoch", "epochs"]
        cells = [[str(row["trial"]), f"{row[m]:.4f}",
                  *[f"{row[p]:.3g}" if isinstance(row[p], float) else str(row[p]) for p in r["params"]],
                  str(row["epoch"]), str(row["epochs"])] for row in r["top"]]
        widths = [max(len(c), *(len(x[i]) for x in cells)) for i, c in enumerate(cols)]
        print(f"best {len(cells)} trials:")
        print("  ".join(c.rjust(w) for c, w in zip(cols, widths)))
        for x in cells:
            print("  ".join(c.rjust(w) for c, w in zip(x, widths)))
        print(f"score: {r['score']}")
    for n in r["notes"]:
        print(f"({n})")
    print("files: " + ", ".join(r["files"]))
    if r["command"]:
        print(f"retrain the best: {r['command']}")
    return 0


def _add_sweep(sub, train_parser) -> None:
    s = sub.add_parser("sweep", help="hyperparameter search: many runs, sampled by Optuna",
                       description="Search hyperparameters: each trial is an ordinary run in SWEEP_DIR/trials/. "
                                   "Every train flag can be fixed, or searched with --search.")
    run_fields = {f.name for f in fields(RunConfig)}
    for a in train_parser._actions:       # the same run flags as `train`
        if a.dest in run_fields:
            s._add_action(a)
    s.add_argument("--config", metavar="FILE", help="fixed settings from a saved config; flags override it")
    s.add_argument("--search", action="append", default=[], metavar="NAME=LOW:HIGH[:log] | NAME=A,B,C",
                   help="a searched setting, e.g. lr=1e-4:1e-1:log, hidden=50,100,100x100 (repeatable)")
    s.add_argument("--trials", type=int, default=20, help="how many trials should finish (default 20)")
    s.add_argument("--jobs", type=int, default=1,
                   help="trials at once, as processes on this machine (default 1; at most its cores)")
    s.add_argument("--storage", metavar="URL", help="an Optuna storage shared by many machines, e.g. "
                   "postgresql://user@host/db (default: a journal file in SWEEP_DIR)")
    s.add_argument("--study", help="the study name (default: the one SWEEP_DIR/sweep.json names, else the name "
                                   "of SWEEP_DIR)")
    s.add_argument("--sampler", choices=SAMPLERS, default="tpe", help="(default tpe)")
    s.add_argument("--sampler-seed", dest="sampler_seed", type=int, help="seed of the sampler (default: fresh)")
    s.add_argument("--prune", nargs="?", const="median", choices=PRUNERS,
                   help="stop hopeless trials early (median, the default, or halving)")
    s.add_argument("--metric", choices=list(METRICS), default="val_acc", help="what to optimize (default val_acc)")
    s.add_argument("--timeout", type=float, help="stop starting trials after SECONDS")
    s.add_argument("--out", help="SWEEP_DIR (default sweeps/DATASET); the same command again continues it")
    s.add_argument("--report", metavar="SWEEP_DIR", help="only write and show the report of a sweep")
    s.set_defaults(func=_sweep)


def build_parser() -> argparse.ArgumentParser:
    d = RunConfig()

    def default(name, show=lambda v: f"{v:g}" if isinstance(v, float) else str(v)):
        """"(default X; cifar10 Y, mnist Y)": the spiral's default, then each dataset's own."""
        own = [f"{ds} {show(v[name])}" for ds, v in DATASET_DEFAULTS.items() if name in v]
        return f"default {show(getattr(d, name))}" + (f"; {', '.join(own)}" if own else "")
    p = _Parser(prog="chainrule", description="Neural networks and backpropagation on NumPy.",
                epilog="Add --debug anywhere to see the traceback behind an error message.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="train a fully connected network (default: spiral data, in seconds)",
                       description="Train an MLP and write a run folder with checkpoints, metrics and plots.")
    t.add_argument("--dataset", choices=DATASETS, help=f"the data (default {d.dataset}; cifar10 and mnist need --data-dir)")
    t.add_argument("--data-dir", dest="data_dir", help="folder with cifar-10-batches-py files or MNIST IDX files")
    t.add_argument("--hidden", type=_hidden, help="hidden widths, comma-separated (default 100: the 2-layer net; "
                   + default("hidden", lambda v: ",".join(map(str, v))).split("; ", 1)[-1] + ")")
    t.add_argument("--model", choices=["mlp", "convnet"],
                   help=f"mlp, or convnet for images: conv blocks, then --hidden layers (default {d.model})")
    t.add_argument("--channels", type=_int_list("--channels"),
                   help=f"convnet: output channels per conv block (default {','.join(map(str, d.channels))})")
    t.add_argument("--kernels", type=_int_list("--kernels"),
                   help=f"convnet: kernel size per block, or one for all (default {','.join(map(str, d.kernels))})")
    t.add_argument("--pool", type=int, help=f"convnet: max-pool size after each block, 1 for none (default {d.pool})")
    t.add_argument("--activation", choices=list(ACTIVATIONS),
                   help=f"hidden activation (default {d.activation})")
    t.add_argument("--loss", choices=["softmax", "svm"], help="softmax cross-entropy or multiclass SVM (default softmax)")
    t.add_argument("--reg", type=float, help=f"lambda of the L2 penalty on weight matrices ({default('reg')})")
    t.add_argument("--optimizer", choices=OPTIMIZERS, help=f"(default {d.optimizer})")
    t.add_argument("--lr", type=float, help=f"learning rate ({default('lr')})")
    t.add_argument("--momentum", type=float, help=f"SGD/RMSprop momentum (default {d.momentum:g})")
    t.add_argument("--lr-step", dest="lr_step", type=int, help=f"multiply the lr by --lr-gamma every N epochs (0: off; {default('lr_step')})")
    t.add_argument("--lr-gamma", dest="lr_gamma", type=float, help=f"step decay factor (default {d.lr_gamma:g})")
    t.add_argument("--epochs", type=int, help=f"({default('epochs')}; with --resume: the new total)")
    t.add_argument("--batch-size", dest="batch_size", type=int, help=f"({default('batch_size')})")
    t.add_argument("--val-fraction", dest="val_fraction", type=float,
                   help=f"share of training data held out for validation (default {d.val_fraction:g})")
    t.add_argument("--seed", type=int, help="seed for weights, split, shuffling and dropout (default 0)")
    t.add_argument("--dtype", choices=["float32", "float64"], help="(default float32)")
    t.add_argument("--preprocess", choices=["auto", "none", "scale", "mean_image", "channel"],
                   help="input preprocessing (default auto: mean image subtraction for images)")
    t.add_argument("--limit", type=int, help="use only the first N training images (quick trials)")
    t.add_argument("--out", help="run folder to create (default runs/DATASET-TIME)")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint "
                   "(from any directory; only --epochs and --data-dir may change)")
    t.add_argument("--reset-optimizer", dest="reset_optimizer", action="store_true",
                   help="with --resume: start the optimizer's buffers fresh (needed if the checkpoint has none)")
    t.add_argument("--reset-scheduler", dest="reset_scheduler", action="store_true",
                   help="with --resume: restart the learning-rate schedule (needed if the checkpoint has none)")
    t.add_argument("--config", metavar="FILE", help="start from a saved config (a sweep's best.json or a run's "
                                                    "config.json); flags given here override it")
    t.add_argument("--nproc", type=int, metavar="K",
                   help="train data-parallel on K processes (starts mpiexec; needs chainrule[distributed])")
    t.add_argument("--compile", nargs="?", const=True, default=None, metavar="MODE",
                   help="trace each step once and replay it (chainrule.compile); eager is the default. "
                        "MODE max-autotune: time the large products on each BLAS engine, fuse with Numba")
    t.add_argument("--tensorboard", nargs="?", const=True, metavar="DIR",
                   help="log the curves for TensorBoard (default DIR: RUN_DIR/tensorboard; needs tensorboardX)")
    t.add_argument("--diagnostics", action="store_true",
                   help="record per-layer gradient norms and dead/saturated units (diagnostics.jsonl) and warn")
    t.add_argument("--quiet", action="store_true", help="show no progress, only the summary at the end")
    t.add_argument("--log-every", dest="log_every", type=int, metavar="N",
                   help="a summary line every N epochs (default 1; the first and last always show)")
    t.set_defaults(func=_train)

    e = sub.add_parser("evaluate", help="loss, accuracy and per-class accuracy of a run on its test set")
    e.add_argument("run_dir", help="a run folder written by `chainrule train`")
    e.add_argument("--dataset", choices=DATASETS, help="evaluate on another dataset of the same input size")
    e.add_argument("--data-dir", dest="data_dir", help="where that dataset's files are")
    e.add_argument("--checkpoint", choices=["best", "last"],
                   help="which weights: best (the run's result, as train's summary says; the default) or last")
    e.set_defaults(func=_evaluate)

    r = sub.add_parser("predict", help="top-k classes for images (PNG/JPEG) or .npy arrays")
    r.add_argument("run_dir", help="a run folder written by `chainrule train`")
    r.add_argument("files", nargs="+", help="images, resized to the model's input, or .npy arrays")
    r.add_argument("--top-k", dest="top_k", type=int, default=3, help="how many classes to show (default 3)")
    r.add_argument("--checkpoint", choices=["best", "last"],
                   help="which weights: best (the run's result, as train's summary says; the default) or last")
    r.set_defaults(func=_predict)

    g = sub.add_parser("graph", help="value, gradients and drawing of an expression, e.g. \"(x + y) * z\" x=-2 y=5 z=-4",
                       description="Evaluate an expression of numbers, variables, + - * / **, parentheses and "
                                   "exp log sqrt tanh sigmoid relu max min abs; print its value and gradients.")
    g.add_argument("expression", help='for example "(x + y) * z"')
    g.add_argument("values", nargs="*", help="variable values as name=number, e.g. x=-2 y=5 z=-4")
    g.add_argument("--out", help="write the drawing (.svg, .png, .pdf or .dot)")
    g.add_argument("--explain", action="store_true", help="narrate the backward pass, edge by edge")
    g.add_argument("--html", help="write the stepper: a page that steps through the forward and backward pass")
    g.add_argument("--style", choices=["boxes", "lecture"], default="boxes",
                   help="boxes (tensors as boxes) or lecture (values above the wires, gradients below)")
    g.add_argument("--scale", type=float, default=1.0, help="text and picture size (default 1; 2 for a big screen)")
    g.set_defaults(func=_graph)
    p.graph_parser = g

    le = sub.add_parser("lecture", help="regenerate the lecture's figures from the library")
    le.add_argument("name", nargs="?", help="a figure name (see --list), or all")
    le.add_argument("--list", action="store_true", help="list the figures")
    le.add_argument("--out", default="lecture", help="folder to write into (default ./lecture)")
    le.add_argument("--data-dir", dest="data_dir", help="CIFAR-10 folder, for the templates figure")
    le.set_defaults(func=_lecture)

    dm = sub.add_parser("demo", help="the lecture's (x + y) * z, forward and backward")
    dm.add_argument("--x", type=float, default=-2.0, help="value of x (default -2)")
    dm.add_argument("--y", type=float, default=5.0, help="value of y (default 5)")
    dm.add_argument("--z", type=float, default=-4.0, help="value of z (default -4)")
    dm.set_defaults(func=_demo)
    _add_sweep(sub, t)
    for command in sub.choices.values():
        command.add_argument("--threads", type=int, metavar="N",
                             help=f"BLAS threads (default ${threads.ENV}, else {threads.DEFAULT}: "
                                  f"the fastest on a busy machine, see README)")
    return p


class UsageError(Exception):
    """A command line argparse cannot parse: one line, then a pointer to --help."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{self.prog}: error: {message}; see {self.prog} --help")


# errors a user can cause (bad flags, missing, damaged or hostile files, a busy run folder): one line
EXPECTED = (ValueError, TypeError, KeyError, FileNotFoundError, FileExistsError, ImportError, RuntimeError, OSError)


def _protect_expressions(parser, argv: list) -> list:
    """``chainrule graph "-x*y" x=2 y=3``: an expression that starts with "-" would be taken for an
    option; a trailing space marks it as a positional argument (argparse's own rule)."""
    graph = getattr(parser, "graph_parser", None)
    if graph is None or not argv or argv[0] != "graph":
        return argv
    takes = {o: a.nargs != 0 for a in graph._actions for o in a.option_strings}
    out, i = list(argv), 1
    while i < len(out):
        tok = out[i]
        if tok == "--":
            break
        name = tok.split("=", 1)[0]
        match = [o for o in takes if o == name or (name.startswith("--") and len(name) > 2 and o.startswith(name))]
        if match:
            if takes[match[0]] and "=" not in tok:
                i += 1  # its value
        elif tok.startswith("-") and len(tok) > 1 and not re.fullmatch(r"-\d+(\.\d*)?([eE][-+]?\d+)?", tok):
            out[i] = tok + " "
        i += 1
    return out


def _fail(line: str, code: int, debug: bool) -> int:
    """Print the one line of an error (after the traceback, with --debug) and give its exit code."""
    if debug:
        traceback.print_exc()
    print(line, file=sys.stderr)
    return code


def main(argv=None) -> int:
    """Run the command; every expected error becomes one line on stderr and an exit code:
    1 for an error, 2 for a usage error, 130 for Ctrl-C; a closed pipe ends quietly.
    ``--debug`` (anywhere before ``--``) shows the traceback as well."""
    argv = list(sys.argv[1:] if argv is None else argv)
    head = argv[:argv.index("--")] if "--" in argv else argv
    debug = "--debug" in head
    if debug:
        argv.remove("--debug")
    prog = "chainrule"
    try:
        parser = build_parser()
        args = parser.parse_args(_protect_expressions(parser, argv))
        args.argv = argv
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        prog = f"chainrule {args.command}"
        threads.use(threads.choose(args.threads))
        if isinstance(getattr(args, "expression", None), str):
            args.expression = args.expression.strip()
        code = args.func(args)
        sys.stdout.flush()
        return code
    except UsageError as e:
        if rank() == 0:    # under mpiexec every rank parsed the same command line: one of them says so
            print(e, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return _fail(f"\n{prog}: interrupted", 130, debug)
    except BrokenPipeError:
        # the reader went away (`chainrule lecture --list | head -1`): stop quietly, and point stdout
        # at /dev/null so that the interpreter's final flush does not complain either
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 141
    except MemoryError:
        return _fail(f"{prog}: error: out of memory; try a smaller model, --batch-size or --limit", 1, debug)
    except EXPECTED as e:
        return _fail(f"{prog}: error: {one_line(e)}", 1, debug)
    except Exception as e:  # a bug: still one line, with the way to see more
        return _fail(f"{prog}: internal error: {type(e).__name__}: {one_line(e)} (run with --debug for the "
                     f"traceback)", 1, debug)


if __name__ == "__main__":
    sys.exit(main())
