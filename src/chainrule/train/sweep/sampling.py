"""How trials are drawn and judged: Optuna's samplers and pruners for a spec, and a trial's score.

With ``--sampler-seed``, each trial's sampler is seeded from (seed, trial number): reproducible,
and never the same draw in two workers or two sweeps that started at once. TPE runs with
``constant_liar`` (trials running elsewhere count as bad), so parallel workers spread out.
"""
from __future__ import annotations

import numpy as np

from chainrule.train.sweep.spec import METRICS, Spec


def trial_seed(seed: int, number: int) -> int:
    """The sampler seed of trial ``number`` in a sweep seeded with ``seed`` (stable, never hash())."""
    return int(np.random.SeedSequence([seed % 2**63, number]).generate_state(1)[0])


def make_sampler(spec: Spec):
    """Optuna's sampler for the spec; with a seed, a fresh one seeded per trial (see the module)."""
    import optuna

    def build(seed):
        if spec.sampler == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if spec.sampler == "grid":
            return optuna.samplers.GridSampler({n: p.choices for n, p in spec.params().items()}, seed=seed)
        # TPE models the trials after a few random ones (Optuna's 10 would leave a 20-trial sweep half random);
        # constant_liar: trials running in other workers count as bad, so that workers spread out
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(4, spec.trials // 4)),
                                          constant_liar=True)

    if spec.sampler_seed is None:
        return build(None)

    class SeedPerTrial(optuna.samplers.BaseSampler):
        def __init__(self):
            self.inner = build(spec.sampler_seed)

        def before_trial(self, study, trial):
            self.inner = build(trial_seed(spec.sampler_seed, trial.number))
            self.inner.before_trial(study, trial)

        def infer_relative_search_space(self, study, trial):
            return self.inner.infer_relative_search_space(study, trial)

        def sample_relative(self, study, trial, search_space):
            return self.inner.sample_relative(study, trial, search_space)

        def sample_independent(self, study, trial, param_name, param_distribution):
            return self.inner.sample_independent(study, trial, param_name, param_distribution)

        def after_trial(self, study, trial, state, values):
            self.inner.after_trial(study, trial, state, values)

        def reseed_rng(self):
            self.inner.reseed_rng()

    return SeedPerTrial()


def make_pruner(spec: Spec):
    import optuna

    if spec.prune == "halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    if spec.prune == "median":
        # early epochs are noisy: judge a trial only after a quarter of its epochs, against 4 finished ones
        return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=max(1, spec.base["epochs"] // 4))
    return optuna.pruners.NopPruner()


class Reporter:
    """Trainer callback: reports the metric after each epoch; on a prune, ends the run after this epoch."""

    def __init__(self, trial, metric: str, prune: bool):
        self.trial, self.metric, self.prune, self.pruned = trial, metric, prune, False

    def on_epoch_end(self, trainer):
        value = getattr(trainer.history, self.metric)[-1]
        self.trial.report(value, trainer.epoch)
        if self.prune and self.trial.should_prune():
            self.pruned = True
            trainer.epochs = trainer.epoch   # the loop ends normally: checkpoints and plot are written


def score(history, metric: str):
    """(value, epoch) of a trial: the metric at its best epoch (the first, on a tie), and that epoch.

    The report's best.json trains to that epoch, so retraining it reproduces this value."""
    h = getattr(history, metric)
    if not h:
        return (0.0 if METRICS[metric] == "maximize" else float("inf")), None
    pick = max if METRICS[metric] == "maximize" else min
    i = pick(range(len(h)), key=h.__getitem__)
    return h[i], history.epoch[i]
