"""Optimizers and learning-rate schedules with torch.optim's names, rules and defaults."""
from chainrule.optim import lr_scheduler  # noqa: F401
from chainrule.optim.lbfgs import LBFGS  # noqa: F401
from chainrule.optim.optimizer import Optimizer  # noqa: F401
from chainrule.optim.sgd import (SGD, Adadelta, Adagrad, Adam, Adamax, AdamW, NAdam, RAdam,  # noqa: F401
                                RMSprop)


from chainrule._missing import missing_names as _missing_names  # noqa: E402

__getattr__ = _missing_names("chainrule.optim", "torch.optim", globals())
