"""The networks ``chainrule train`` builds, by name: ``mlp`` (nn.MLP) and ``convnet`` (a small
convolutional net for image data), each rebuilt from the ``config()`` a checkpoint records."""
from __future__ import annotations

from chainrule import nn
from chainrule.nn.layers import ACTIVATIONS

MODELS = ("mlp", "convnet")


class ConvNet(nn.Sequential):
    """Convolution blocks, then a fully connected head: the course's ConvNet and LeNet's family.

    The input arrives flattened, as the data pipeline gives it, and is unflattened to ``in_shape``;
    each block is Conv2d(k x k, padding "same") -> BatchNorm2d -> activation -> MaxPool2d(pool) (no
    batch norm with ``batchnorm=False``, no pooling when pool is 1); then Flatten -> Linear(hidden)
    -> activation ... -> Linear(n_classes).

    Args:
        in_shape (tuple): (C, H, W) of an image.
        channels (list of int): output channels of each convolution block, e.g. [16, 32].
        kernels (list of int): kernel size of each block (one entry repeats for all), e.g. [5].
        pool (int): max-pooling window and stride after each block (1: none).
        hidden (list of int): widths of the fully connected hidden layers (may be empty).
        n_classes (int), activation (str, "relu").
        batchnorm (bool, True): batch normalisation after each convolution (it trains several times
            faster on images; False gives the course's plain ConvNet).

    Example:
        >>> from chainrule.train.models import ConvNet
        >>> import chainrule as cr
        >>> ConvNet((1, 28, 28), [8, 16], [5], 2, [100], 10)(cr.zeros(4, 784)).shape
        (4, 10)
    """

    def __init__(self, in_shape, channels, kernels, pool: int, hidden, n_classes: int, activation: str = "relu",
                 batchnorm: bool = True):
        in_shape, channels, kernels, hidden = tuple(in_shape), list(channels), list(kernels), list(hidden)
        if len(kernels) == 1:
            kernels = kernels * len(channels)
        if not channels or len(kernels) != len(channels):
            raise ValueError(f"ConvNet: give one kernel size, or one per convolution block ({len(channels)}), "
                             f"got {kernels}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"ConvNet: unknown activation {activation!r}; choose from {sorted(ACTIVATIONS)}")
        c, h, w = in_shape
        layers = [nn.Unflatten(1, in_shape)]
        for out, k in zip(channels, kernels):
            layers += [nn.Conv2d(c, out, k, padding="same")] + ([nn.BatchNorm2d(out)] if batchnorm else []) + \
                [ACTIVATIONS[activation]()]
            if pool > 1:
                if h < pool or w < pool:
                    raise ValueError(f"ConvNet: {len(channels)} blocks with --pool {pool} shrink a {in_shape[1]}x"
                                     f"{in_shape[2]} image below one pixel; use fewer channels or a smaller pool")
                layers.append(nn.MaxPool2d(pool))
                h, w = h // pool, w // pool
            c = out
        layers.append(nn.Flatten())
        width = c * h * w
        for n in hidden:
            layers += [nn.Linear(width, n), ACTIVATIONS[activation]()]
            width = n
        layers.append(nn.Linear(width, n_classes))
        super().__init__(*layers)
        self._config = {"in_shape": list(in_shape), "channels": channels, "kernels": kernels, "pool": pool,
                        "hidden": hidden, "n_classes": n_classes, "activation": activation,
                        "batchnorm": bool(batchnorm)}

    def config(self) -> dict:
        """What it takes to rebuild this network (saved in checkpoints)."""
        return dict(self._config)


def build(cfg, n_in: int, n_classes: int, image_shape=None):
    """The network ``cfg.model`` names, for inputs of ``n_in`` features (``image_shape`` (C, H, W))."""
    if getattr(cfg, "model", "mlp") == "convnet":
        if image_shape is None:
            raise ValueError(f"--model convnet needs image data (cifar10 or mnist), not {cfg.dataset}")
        return ConvNet(image_shape, cfg.channels, cfg.kernels, cfg.pool, cfg.hidden, n_classes, cfg.activation)
    return nn.MLP([n_in, *cfg.hidden, n_classes], activation=cfg.activation)


def from_config(d: dict):
    """A network rebuilt from its ``config()`` (a TypeError or ValueError if it describes none)."""
    if not isinstance(d, dict):
        raise TypeError(f"a model config is a dict, got {type(d).__name__}")
    return ConvNet(**d) if "channels" in d else nn.MLP(**d)


def describe(model) -> str:
    """One line for the CLI: ``MLP [784, 100, 10]`` or ``ConvNet 1x28x28 conv 16,32 k5 pool 2 fc [100] -> 10``."""
    c = model.config()
    if "sizes" in c:
        return f"MLP {c['sizes']}"
    kernels = sorted(set(c["kernels"]))
    return (f"ConvNet {'x'.join(map(str, c['in_shape']))} conv {','.join(map(str, c['channels']))} "
            f"k{','.join(map(str, kernels))} pool {c['pool']} fc {c['hidden']} -> {c['n_classes']}")


def first_layer_weight(model):
    """The first layer's weight: (O, C, KH, KW) filters of a ConvNet, (H, D) templates of an MLP."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            return m.weight
    raise ValueError("the model has no convolution or linear layer")
