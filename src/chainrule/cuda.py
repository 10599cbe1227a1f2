"""``chainrule.cuda``: there is no GPU in chainrule (it computes with NumPy), as code that checks asks.

    >>> import chainrule as cr
    >>> cr.cuda.is_available(), cr.cuda.device_count()
    (False, 0)
"""


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0


def manual_seed(seed: int) -> None:
    """Nothing to seed (no GPU); accepted so that seeding code runs unchanged."""


def manual_seed_all(seed: int) -> None:
    """Nothing to seed (no GPU); accepted so that seeding code runs unchanged."""
