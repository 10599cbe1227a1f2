"""Data: datasets (built-in, CIFAR-10, MNIST), preprocessing, and PyTorch's datasets, samplers and
DataLoader from :mod:`chainrule.utils.data` (the same classes, under both names)."""
from chainrule.data.builtin import blobs, spiral, xor  # noqa: F401
from chainrule.data.files import (CIFAR10_CLASSES, DataFileError, SafeUnpickler, load_cifar10,  # noqa: F401
                                  load_mnist)
from chainrule.data.loader import ArrayDataset, DataLoader, Dataset, TensorDataset  # noqa: F401
from chainrule.utils.data import (BatchSampler, ConcatDataset, IterableDataset, RandomSampler,  # noqa: F401
                                  SequentialSampler, Subset, default_collate, get_worker_info, random_split)
from chainrule.data.transforms import Preprocess, train_val_split  # noqa: F401
from chainrule.data.distributed import DistributedSampler  # noqa: F401,E402
