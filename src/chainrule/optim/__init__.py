"""Optimizers and learning-rate schedules with torch.optim's names, rules and defaults."""
from chainrule.optim import lr_scheduler  # noqa: F401
from chainrule.optim.optimizer import Optimizer  # noqa: F401
from chainrule.optim.sgd import SGD, Adagrad, Adam, AdamW, RMSprop  # noqa: F401
