"""What a training run shows while it runs: a Trainer callback that writes progress to a stream.

On a terminal: one live line, redrawn in place at most ``refresh`` times a second (epoch i/N,
batch, loss, train and validation accuracy, steps/s, ETA), and one summary line per epoch (every
``every`` epochs, and always the first and the last) that stays above it. Without a terminal (a
pipe, a log file): the same summary lines as plain lines, plus a plain progress line every
``seconds`` during an epoch that runs longer than that. Nothing is shown with ``quiet``.
"""
from __future__ import annotations

import sys
import time


def duration(seconds: float) -> str:
    """0:07, 3:25, 1:02:09."""
    s = int(round(max(seconds, 0)))
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """Trainer callback showing a run's progress.

    Args:
        stream (file, sys.stdout): where to write.
        live (bool, None): redraw one line in place (None: when ``stream`` is a terminal).
        every (int, 1): a summary line every ``every`` epochs (and the first and the last).
        seconds (float, 10): without a live line, a progress line this often during a long epoch.
        refresh (float, 10): live-line redraws per second, at most.
    """

    def __init__(self, stream=None, live: bool | None = None, every: int = 1, seconds: float = 10.0,
                 refresh: float = 10.0):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"--log-every must be a positive integer (epochs), got {every!r}")
        self.stream = stream if stream is not None else sys.stdout
        if live is None:
            isatty = getattr(self.stream, "isatty", None)
            live = bool(isatty and isatty())
        self.live, self.every, self.seconds, self.interval = live, every, seconds, 1.0 / refresh
        self._shown = False   # a live line is on screen
        self._closed = False  # the stream went away: show nothing more

    # ------------------------------------------------------------------ the callback
    def on_fit_start(self, trainer):
        self.t_fit = self.t_epoch = self._last = time.perf_counter()
        self.steps, self.epoch_steps = 0, 0
        per_epoch = len(trainer.train_loader)
        self.total = max((trainer.epochs - trainer.epoch) * per_epoch - trainer.batch, 0)

    def on_step(self, trainer, loss):
        self.steps += 1
        self.epoch_steps += 1
        now = time.perf_counter()
        if self.live:
            if now - self._last >= self.interval:
                self._write("\r" + self._status(trainer, now) + "\x1b[K")
                self._shown, self._last = True, now
        elif now - self._last >= self.seconds:
            self._write(self._status(trainer, now) + "\n")
            self._last = now

    def on_epoch_end(self, trainer):
        now = time.perf_counter()
        e = trainer.epoch
        if e % self.every == 0 or e == trainer.epochs or e == trainer.history.epoch[0]:
            self._clear()
            self._write(self._summary(trainer) + "\n")
        if not self.live:
            self._last = now
        self.t_epoch, self.epoch_steps = now, 0

    def on_fit_end(self, trainer):
        self._clear()

    # ------------------------------------------------------------------ lines
    def _summary(self, trainer) -> str:
        h, n = trainer.history, len(str(trainer.epochs))
        line = (f"epoch {h.epoch[-1]:>{n}}/{trainer.epochs}  loss {h.train_loss[-1]:.4f}  "
                f"train acc {h.train_acc[-1]:.4f}")
        if h.val_acc:
            line += f"  val loss {h.val_loss[-1]:.4f}  val acc {h.val_acc[-1]:.4f}"
        line += f"  lr {h.lr[-1]:.3g}  {h.seconds[-1]:.2f} s"
        if trainer.best_epoch == h.epoch[-1]:
            line += "  (best)"
        return line

    def _status(self, trainer, now: float) -> str:
        loss_sum, correct, seen = trainer._partial
        rate = self.epoch_steps / max(now - self.t_epoch, 1e-9)
        overall = self.steps / max(now - self.t_fit, 1e-9)
        left = max(self.total - self.steps, 0) / max(overall, 1e-9)
        line = (f"epoch {trainer.epoch + 1}/{trainer.epochs}  batch {trainer.batch}/{len(trainer.train_loader)}  "
                f"loss {loss_sum / max(seen, 1):.4f}  train acc {correct / max(seen, 1):.4f}")
        if trainer.history.val_acc:
            line += f"  val acc {trainer.history.val_acc[-1]:.4f}"
        return line + f"  {rate:.0f} steps/s  ETA {duration(left)}"

    def _write(self, text: str) -> None:
        if self._closed:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):   # a closed stream (the reader went away) ends the display, not the run
            self._closed = True

    def _clear(self) -> None:
        if self._shown:
            self._write("\r\x1b[K")
            self._shown = False
