"""``chainrule.accelerator``: no accelerator exists (chainrule computes with NumPy on the CPU).

    >>> import chainrule as cr
    >>> cr.accelerator.is_available(), cr.accelerator.current_accelerator()
    (False, None)
"""


def is_available() -> bool:
    return False


def current_accelerator(check_available: bool = False):
    return None


def device_count() -> int:
    return 0
