"""PyTorch's ``torch.utils.data``: datasets, samplers, collation and the DataLoader (with worker processes).

Example:
    >>> import chainrule as cr
    >>> from chainrule.utils.data import DataLoader, TensorDataset, random_split
    >>> ds = TensorDataset(cr.randn(100, 3), cr.randint(0, 2, (100,)))
    >>> train, val = random_split(ds, [80, 20], generator=cr.Generator().manual_seed(0))
    >>> xb, yb = next(iter(DataLoader(train, batch_size=16, shuffle=True)))
    >>> tuple(xb.shape), tuple(yb.shape)
    ((16, 3), (16,))
"""
from chainrule.utils.data.collate import default_collate, default_convert  # noqa: F401
from chainrule.utils.data.dataloader import DataLoader  # noqa: F401
from chainrule.utils.data.dataset import (ChainDataset, ConcatDataset, Dataset, IterableDataset,  # noqa: F401
                                          Subset, TensorDataset, random_split)
from chainrule.utils.data.sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler,  # noqa: F401
                                          SubsetRandomSampler, WeightedRandomSampler)
from chainrule.utils.data.worker import WorkerInfo, get_worker_info  # noqa: F401


from chainrule._missing import missing_names as _missing_names  # noqa: E402

__getattr__ = _missing_names("chainrule.utils.data", "torch.utils.data", globals())
