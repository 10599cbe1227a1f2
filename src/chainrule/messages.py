"""How an error reads in one line: the one place that turns an exception into text for a message."""
from __future__ import annotations


def first_line(e: BaseException) -> str:
    """The first non-empty line of the exception's message, or its class name if it has none."""
    for line in str(e).splitlines():
        if line.strip():
            return line.strip()
    return type(e).__name__


def one_line(e: BaseException) -> str:
    """The whole message on one line (its lines joined by spaces), or the class name if empty."""
    text = " ".join(line.strip() for line in str(e).splitlines() if line.strip())
    return text or type(e).__name__
