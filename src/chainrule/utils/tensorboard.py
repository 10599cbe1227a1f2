"""TensorBoard logging with PyTorch's ``SummaryWriter``: event files that TensorBoard reads.

The files are written by tensorboardX (``pip install 'chainrule[tensorboard]'``); chainrule Tensors
are handed to it as NumPy arrays. View them with ``tensorboard --logdir runs``.

Example:
    >>> import tempfile
    >>> from chainrule.utils.tensorboard import SummaryWriter
    >>> with SummaryWriter(tempfile.mkdtemp()) as w:             # doctest: +SKIP
    ...     for step in range(3):
    ...         w.add_scalar("loss/train", 1.0 / (step + 1), step)
"""
from __future__ import annotations

import sys

import numpy as np

from chainrule.tensor import Tensor
from chainrule.utils._arrays import as_array

INSTALL = "pip install 'chainrule[tensorboard]' (or pip install tensorboardX)"


def _tensorboardx():
    """Import tensorboardX without letting it import torch (it does when torch is installed; chainrule
    hands it NumPy arrays only, and never loads torch)."""
    if "tensorboardX" in sys.modules or "torch" in sys.modules:
        blocked = False
    else:
        sys.modules["torch"], blocked = None, True       # `import torch` raises ImportError meanwhile
    try:
        import tensorboardX
    except ImportError as e:
        if e.name == "torch" or "tensorboardX" not in str(e):
            raise
        raise ImportError(f"SummaryWriter needs tensorboardX, which is not installed: {INSTALL}") from None
    finally:
        if blocked:
            del sys.modules["torch"]
    return tensorboardX


def _np(x):
    """A chainrule Tensor (or a torch tensor, or a list) as a NumPy array; numbers stay numbers."""
    if isinstance(x, Tensor) or (hasattr(x, "detach") and hasattr(x, "numpy")):
        return as_array(x.detach() if isinstance(x, Tensor) else x)
    if isinstance(x, (list, tuple)):
        return np.asarray(x)
    return x


def _number(x) -> float:
    a = _np(x)
    return float(a.item() if isinstance(a, np.ndarray) else a)


class SummaryWriter:
    """Write scalars, histograms, images, text and hyperparameters as TensorBoard event files.

    Args:
        log_dir (str, None): the folder (None: ``runs/<date>_<host><comment>``, as PyTorch).
        comment (str, ""): appended to the default folder name.
        purge_step (int, None): after a crash, drop events at or after this step.
        max_queue (int, 10): events kept in memory before a write.
        flush_secs (int, 120): seconds between writes to disk.
        filename_suffix (str, "").
    """

    def __init__(self, log_dir=None, comment: str = "", purge_step=None, max_queue: int = 10, flush_secs: int = 120,
                 filename_suffix: str = ""):
        self._tbx = tbx = _tensorboardx()
        self._sub = {}           # add_scalars' writers, one folder per curve
        self._w = tbx.SummaryWriter(logdir=None if log_dir is None else str(log_dir), comment=comment,
                                    purge_step=purge_step, max_queue=max_queue, flush_secs=flush_secs,
                                    filename_suffix=filename_suffix)
        self.log_dir = self._w.logdir

    def get_logdir(self) -> str:
        """The folder the event files are written to."""
        return self.log_dir

    def add_scalar(self, tag: str, scalar_value, global_step=None, walltime=None, new_style: bool = False,
                   double_precision: bool = False) -> None:
        """One point of the curve ``tag`` (a number or a one-element Tensor) at ``global_step``."""
        self._w.add_scalar(tag, _number(scalar_value), global_step, walltime)

    def add_scalars(self, main_tag: str, tag_scalar_dict: dict, global_step=None, walltime=None) -> None:
        """Several curves on one chart: each is written under ``main_tag`` to its own subfolder
        ``LOG_DIR/<main_tag>_<key>``, as PyTorch does."""
        for key, v in tag_scalar_dict.items():
            folder = f"{self.log_dir}/{main_tag.replace('/', '_')}_{key}"
            if folder not in self._sub:
                self._sub[folder] = self._tbx.SummaryWriter(logdir=folder)
            self._sub[folder].add_scalar(main_tag, _number(v), global_step, walltime)

    def add_histogram(self, tag: str, values, global_step=None, bins="tensorflow", walltime=None,
                      max_bins=None) -> None:
        """The distribution of ``values`` (weights, gradients, activations) at ``global_step``."""
        self._w.add_histogram(tag, np.asarray(_np(values)), global_step, bins, walltime, max_bins)

    def add_image(self, tag: str, img_tensor, global_step=None, walltime=None, dataformats: str = "CHW") -> None:
        """One image: floats in [0, 1] or uint8 in [0, 255], laid out as ``dataformats`` (CHW, HWC, HW)."""
        self._w.add_image(tag, np.asarray(_np(img_tensor)), global_step, walltime, dataformats)

    def add_images(self, tag: str, img_tensor, global_step=None, walltime=None, dataformats: str = "NCHW") -> None:
        """A batch of images shown as a grid."""
        self._w.add_images(tag, np.asarray(_np(img_tensor)), global_step, walltime, dataformats)

    def add_figure(self, tag: str, figure, global_step=None, close: bool = True, walltime=None) -> None:
        """A matplotlib figure (or a list of them) as an image."""
        self._w.add_figure(tag, figure, global_step, close, walltime)

    def add_text(self, tag: str, text_string: str, global_step=None, walltime=None) -> None:
        """Text (Markdown) shown in TensorBoard's text tab."""
        self._w.add_text(tag, text_string, global_step, walltime)

    def add_pr_curve(self, tag: str, labels, predictions, global_step=None, num_thresholds: int = 127,
                     weights=None, walltime=None) -> None:
        """A precision-recall curve from 0/1 ``labels`` and ``predictions`` in [0, 1]."""
        self._w.add_pr_curve(tag, np.asarray(_np(labels)), np.asarray(_np(predictions)), global_step,
                             num_thresholds, None if weights is None else np.asarray(_np(weights)), walltime)

    def add_hparams(self, hparam_dict: dict, metric_dict: dict, hparam_domain_discrete=None, run_name=None,
                    global_step=None) -> None:
        """One run's hyperparameters and final metrics for TensorBoard's HPARAMS tab (written to a
        subfolder ``run_name``, a timestamp by default, with the metrics as scalars, as PyTorch does).
        ``hparam_domain_discrete`` is accepted; the domains are not written."""
        if type(hparam_dict) is not dict or type(metric_dict) is not dict:
            raise TypeError("hparam_dict and metric_dict should be dictionary.")
        hp = {k: (_number(v) if isinstance(v, Tensor) else v) for k, v in hparam_dict.items()}
        self._w.add_hparams(hp, {k: _number(v) for k, v in metric_dict.items()}, name=run_name,
                            global_step=global_step)

    def add_graph(self, model, input_to_model=None, verbose: bool = False, use_strict_trace: bool = True):
        raise NotImplementedError("SummaryWriter.add_graph traces a torch model with the JIT, which chainrule does "
                                  "not have; draw the graph with chainrule.viz.draw_graph instead")

    def flush(self) -> None:
        """Write pending events to disk now."""
        for w in (self._w, *self._sub.values()):
            w.flush()

    def close(self) -> None:
        """Write pending events and close the files."""
        for w in (self._w, *self._sub.values()):
            w.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
