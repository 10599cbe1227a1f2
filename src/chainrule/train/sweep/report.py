"""The report of a sweep: results.csv, best.json, the retrain command, and the plots.

A trial's score is its metric at its best epoch, and best.json is the winner's settings with
``epochs`` set to that epoch: ``chainrule train --config best.json`` retrains exactly that
checkpoint (the same seed, data and schedule), so the score it ends with is the score shown.
"""
from __future__ import annotations

import csv
import io
import json
import os
import warnings
from dataclasses import asdict, replace
from pathlib import Path

from chainrule.fileio import write_atomic
from chainrule.train.sweep.journal import JournalError
from chainrule.train.sweep.spec import METRICS, Spec
from chainrule.train.sweep.storage import open_study


def _run_dir(t, out: Path):
    """The trial's run folder as an absolute path: where it was recorded, or, if it is not there (older
    sweeps recorded it relative to where they started; a moved sweep folder), the one in ``out``."""
    d = t.user_attrs.get("run_dir")
    if d is None or (os.path.isabs(d) and os.path.isdir(d)):
        return d
    own = out / "trials" / f"{t.number:04d}"
    return str(own) if own.is_dir() else d


def _rows(study, spec: Spec) -> list:
    rows = []
    out = Path(spec.out)
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("status") == "skipped":
            continue
        value = t.value if t.state.name == "COMPLETE" else None
        if t.state.name == "PRUNED" and t.intermediate_values:
            value = t.intermediate_values[max(t.intermediate_values)]
        rows.append({"trial": t.number, "state": t.state.name.lower(),
                     "status": t.user_attrs.get("status", t.state.name.lower()),
                     spec.metric: value, **{n: t.params.get(n) for n in spec.space},
                     "epoch": t.user_attrs.get("best_epoch"), "epochs": t.user_attrs.get("epochs"),
                     "seconds": t.user_attrs.get("seconds"), "run_dir": _run_dir(t, out)})
    return rows


def report(out, study=None, top: int = 10, plots: bool = True, storage: str | None = None) -> dict:
    """Write results.csv, best.json and the plots of a sweep folder; return what to show.

    Returns a dict: ``rows`` (every trial), ``top`` (the best finished ones), ``best`` (the winning
    RunConfig as a dict, or None), ``finished``, ``trials``, ``files`` and ``command`` (the retrain
    command), ``score`` (what the numbers are: the metric at each trial's best epoch), ``notes``
    (plots that could not be drawn, and why).
    """
    spec = Spec.load(out)
    if storage is not None:
        spec.storage = storage
    if study is None:
        try:
            study = open_study(spec)
        except JournalError:
            raise
        except ValueError as e:      # a study made for other settings than sweep.json says
            raise ValueError(f"{Path(spec.out) / 'sweep.json'}: disagrees with its study: {e}") from None
    out = Path(spec.out)
    rows = _rows(study, spec)
    maximize = METRICS[spec.metric] == "maximize"
    ranked = sorted((r for r in rows if r["state"] == "complete" and r[spec.metric] is not None),
                    key=lambda r: -r[spec.metric] if maximize else r[spec.metric])
    files, notes = [], []
    cols = ["trial", "state", "status", spec.metric, *spec.space, "epoch", "epochs", "seconds", "run_dir"]
    text = _csv(cols, rows)
    write_atomic(out / "results.csv", text)
    files.append(str(out / "results.csv"))
    best, command = None, None
    if ranked:
        b = ranked[0]
        space = spec.params()
        cfg = replace(spec.config(), **{n: space[n].to_config(b[n]) for n in spec.space if b[n] is not None})
        if b["epoch"]:
            cfg.epochs = b["epoch"]     # the checkpoint that scored: the retrain ends there
        best = json.loads(json.dumps(asdict(cfg)))
        write_atomic(out / "best.json", json.dumps(best, indent=1) + "\n")
        files.append(str(out / "best.json"))
        command = f"chainrule train --config {out / 'best.json'} --out {out / 'best-run'}"
    if plots:
        try:
            files += _plots(study, spec, rows, ranked, out, notes)
        except ImportError as e:
            notes.append(f"no plots: {e}")
    finished = sum(r["state"] in ("complete", "pruned") for r in rows)
    return {"rows": rows, "top": ranked[:top], "best": best, "best_trial": ranked[0] if ranked else None,
            "finished": finished, "trials": spec.trials, "metric": spec.metric, "files": files,
            "command": command, "notes": notes, "params": list(spec.space),
            "score": f"{spec.metric} at each trial's best epoch (column epoch); best.json trains to that epoch, "
                     f"so the retrain command reproduces the score"}


def _csv(cols, rows) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, cols, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def _plots(study, spec: Spec, rows, ranked, out: Path, notes: list) -> list:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'chainrule[viz]'") from None
    files = []
    m = spec.metric
    space = spec.params()
    scored = [r for r in rows if r[m] is not None]
    numeric = [n for n, p in space.items() if p.kind != "choice"]
    # the lecture's tuning scatter: lr against reg, colour = the metric, the best marked
    pair = ("lr", "reg") if {"lr", "reg"} <= set(numeric) else tuple(numeric[:2])
    if len(pair) == 2 and scored:
        fig, ax = plt.subplots(figsize=(6, 4.8))
        done = [r for r in scored if r["state"] == "complete"]
        pruned = [r for r in scored if r["state"] == "pruned"]
        vals = [r[m] for r in scored]
        sc = ax.scatter([r[pair[0]] for r in done], [r[pair[1]] for r in done], c=[r[m] for r in done],
                        cmap="viridis", vmin=min(vals), vmax=max(vals), s=60, edgecolors="k", linewidths=0.4,
                        label="finished")
        if pruned:
            ax.scatter([r[pair[0]] for r in pruned], [r[pair[1]] for r in pruned], c=[r[m] for r in pruned],
                       cmap="viridis", vmin=min(vals), vmax=max(vals), s=40, marker="x", label="pruned")
        if ranked:
            b = ranked[0]
            ax.scatter([b[pair[0]]], [b[pair[1]]], s=320, marker="*", facecolors="none", edgecolors="red",
                       linewidths=1.8, label=f"best: trial {b['trial']} ({b[m]:.3f})")
        for axis, n in zip("xy", pair):
            if space[n].log:
                getattr(ax, f"set_{axis}scale")("log")
        ax.set_xlabel(pair[0] + (" (log)" if space[pair[0]].log else ""))
        ax.set_ylabel(pair[1] + (" (log)" if space[pair[1]].log else ""))
        fig.colorbar(sc if done else ax.collections[0], ax=ax, label=m)
        ax.set_title(f"{len(scored)} trials: {pair[0]} vs {pair[1]}, colour = {m}")
        ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "tuning.png", dpi=110)
        plt.close(fig)
        files.append(str(out / "tuning.png"))
    else:
        notes.append("no tuning scatter: it needs two searched ranges (like lr and reg)")
    # the metric over trials, with the best so far
    if scored:
        fig, ax = plt.subplots(figsize=(6.5, 4))
        for state, style in (("complete", dict(marker="o", color="tab:blue")),
                             ("pruned", dict(marker="x", color="tab:gray"))):
            rs = [r for r in scored if r["state"] == state]
            if rs:
                ax.scatter([r["trial"] for r in rs], [r[m] for r in rs], label=state if state != "complete"
                           else "finished", **style)
        best_so_far, xs, ys = None, [], []
        for r in sorted(scored, key=lambda r: r["trial"]):
            if r["state"] != "complete":
                continue
            v = r[m]
            if best_so_far is None or (v > best_so_far if METRICS[m] == "maximize" else v < best_so_far):
                best_so_far = v
            xs.append(r["trial"])
            ys.append(best_so_far)
        if xs:
            ax.step(xs, ys, where="post", color="tab:red", label="best so far")
        ax.set_xlabel("trial")
        ax.set_ylabel(m)
        ax.set_title(f"{m} over trials")
        ax.legend(loc="best", fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / "trials.png", dpi=110)
        plt.close(fig)
        files.append(str(out / "trials.png"))
    # parameter importances
    imp = importances(study, spec)
    if isinstance(imp, str):
        notes.append(f"no importances: {imp}")
    else:
        fig, ax = plt.subplots(figsize=(6, 0.5 + 0.5 * len(imp)))
        names = list(imp)[::-1]
        ax.barh(names, [imp[n] for n in names], color="tab:green")
        ax.set_xlabel(f"importance for {m}")
        ax.set_title("parameter importances")
        fig.tight_layout()
        fig.savefig(out / "importances.png", dpi=110)
        plt.close(fig)
        files.append(str(out / "importances.png"))
    return files


def importances(study, spec: Spec):
    """{param: importance} (fANOVA with scikit-learn, else PED-ANOVA), or a string saying why there are none."""
    import optuna
    from optuna.trial import TrialState

    if len(spec.space) < 2:
        return "only one parameter is searched"
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    if len(complete) < 4:
        return f"{len(complete)} finished trials; importances need at least 4"
    try:
        import sklearn  # noqa: F401
        evaluator = None
    except ImportError:
        evaluator = optuna.importance.PedAnovaImportanceEvaluator()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            imp = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except Exception as e:  # noqa: BLE001 - an evaluator's limits (too few trials, one value) are not fatal
        return str(e).splitlines()[0] if str(e) else type(e).__name__
    return dict(imp) if imp else "the evaluator found nothing"
