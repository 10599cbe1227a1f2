"""Training: the Trainer loop, evaluation and prediction helpers, and atomic checkpoints."""
from chainrule.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint  # noqa: F401
from chainrule.train.progress import Progress  # noqa: F401
from chainrule.train.trainer import History, NonFiniteLoss, Trainer, evaluate, predict  # noqa: F401
from chainrule.train.sweep import SweepResult, sweep  # noqa: F401,E402  (the function shadows the module)
