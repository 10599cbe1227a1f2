"""PyTorch's ``torch.utils``: ``data`` (datasets, samplers, the DataLoader) and ``tensorboard``
(``from chainrule.utils.tensorboard import SummaryWriter``, with the optional tensorboardX)."""
from chainrule.utils import data  # noqa: F401
