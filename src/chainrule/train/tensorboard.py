"""The Trainer's curves in TensorBoard: a callback that writes each step's loss and each epoch's
losses, accuracies and learning rate through :class:`chainrule.utils.tensorboard.SummaryWriter`."""
from __future__ import annotations

from chainrule.utils.tensorboard import SummaryWriter


class TensorBoardLogger:
    """A Trainer callback: ``Trainer(..., callbacks=[TensorBoardLogger("runs/x/tensorboard")])``.

    Tags: ``loss/step`` (every step, x = the step number), ``loss/train``, ``loss/val``,
    ``accuracy/train``, ``accuracy/val`` and ``lr`` (every epoch, x = the epoch number). A resumed run
    continues the same curves (the history it restores gives the numbers).
    """

    def __init__(self, log_dir):
        self.writer = SummaryWriter(log_dir)

    def on_step(self, trainer, loss: float) -> None:
        self.writer.add_scalar("loss/step", loss, len(trainer.history.iter_loss))

    def on_epoch_end(self, trainer) -> None:
        h = trainer.history
        epoch = h.epoch[-1]
        for tag, values in (("loss/train", h.train_loss), ("accuracy/train", h.train_acc), ("loss/val", h.val_loss),
                            ("accuracy/val", h.val_acc), ("lr", h.lr)):
            if values:
                self.writer.add_scalar(tag, values[-1], epoch)
        self.writer.flush()

    def on_fit_end(self, trainer) -> None:
        self.writer.close()
