"""Reading a file that may be hostile: regular files only, never more bytes than a limit.

A FIFO, a device such as /dev/zero, a directory or a symbolic link where a data or checkpoint
file belongs is refused before a byte is read, so it can neither hang the reader nor fill memory.
"""
from __future__ import annotations

import os
import stat


def describe_kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path, error=ValueError, follow_symlinks: bool = True) -> int:
    """An open file descriptor for ``path``, which must be a regular file (else ``error`` naming it).

    Opened non-blocking, so that a FIFO cannot stall the open; the check is made on the open
    descriptor, so the file cannot be swapped between the check and the read.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except OSError as e:
        if not follow_symlinks and os.path.islink(path):
            raise error(f"{path}: is a symbolic link; only regular files are read here") from None
        raise error(f"{path}: cannot be opened ({e.strerror})") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise error(f"{path}: is {describe_kind(st.st_mode)}, not a regular file")
    return fd


def read_regular(path, max_bytes: int | None = None, error=ValueError, follow_symlinks: bool = True) -> bytes:
    """The bytes of the regular file ``path``; ``error`` (one line naming the file) if it is not a
    regular file or is larger than ``max_bytes``."""
    fd = open_regular(path, error, follow_symlinks)
    try:
        size = os.fstat(fd).st_size
        if max_bytes is not None and size > max_bytes:
            raise error(f"{path}: {size} bytes, more than the {max_bytes} bytes a file of this kind may have")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(size + 1)
        if len(data) != size:
            raise error(f"{path}: changed while it was read ({size} bytes expected, {len(data)} read)")
        return data
    finally:
        os.close(fd)
