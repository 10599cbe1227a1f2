"""``chainrule.backends``: the switches PyTorch code sets or asks about its backends, answered for
chainrule, which computes with NumPy on the CPU.

    >>> import chainrule as cr
    >>> cr.backends.mps.is_available(), cr.backends.cuda.is_built()
    (False, False)
    >>> cr.backends.cudnn.deterministic = True   # accepted: chainrule's CPU results are deterministic
"""
from types import SimpleNamespace


def _false() -> bool:
    return False


# No GPU backend exists; flags that seeding and speed code sets are accepted and change nothing.
mps = SimpleNamespace(is_available=_false, is_built=_false)
cuda = SimpleNamespace(is_built=_false, matmul=SimpleNamespace(allow_tf32=False))
cudnn = SimpleNamespace(is_available=_false, enabled=True, benchmark=False, deterministic=False,
                        allow_tf32=True)
