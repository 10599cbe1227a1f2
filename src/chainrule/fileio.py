"""Files in one place: reading a file that may be hostile, and writing one atomically.

Reading: regular files only, never more bytes than a limit, JSON of bounded depth. A FIFO, a
device such as /dev/zero, a directory or a symbolic link where a data or checkpoint file belongs
is refused before a byte is read, so it can neither hang the reader nor fill memory.

Writing: :func:`write_atomic` is the one way chainrule writes a file (checkpoints,
``chainrule.save``, run and sweep files): a unique temporary name, fsync, rename, fsync of the
folder, so that a reader or a crash never meets half a file.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import stat
from pathlib import Path

import numpy as np


def describe_kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path, error=ValueError, follow_symlinks: bool = True, shown=None) -> int:
    """An open file descriptor for ``path``, which must be a regular file (else ``error`` naming it,
    or ``shown``: the name the user knows it by, such as ``RUN/last/state.json``).

    Opened non-blocking, so that a FIFO cannot stall the open; the check is made on the open
    descriptor, so the file cannot be swapped between the check and the read.
    """
    name = path if shown is None else shown
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except ValueError as e:  # a NUL byte in the name
        raise error(f"{name!r}: not a valid file name ({e})") from None
    except FileNotFoundError:
        raise FileNotFoundError(f"{name}: no such file") from None
    except OSError as e:
        if not follow_symlinks and os.path.islink(path):
            raise error(f"{name}: is a symbolic link; only regular files are read here") from None
        raise error(f"{name}: cannot be opened ({e.strerror})") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise error(f"{name}: is {describe_kind(st.st_mode)}, not a regular file")
    return fd


def read_regular(path, max_bytes: int | None = None, error=ValueError, follow_symlinks: bool = True,
                 shown=None) -> bytes:
    """The bytes of the regular file ``path``; ``error`` (one line naming the file, as ``shown`` if
    given) if it is not a regular file or is larger than ``max_bytes``, checked before a byte is read."""
    fd = open_regular(path, error, follow_symlinks, shown)
    name = path if shown is None else shown
    try:
        size = os.fstat(fd).st_size
        if max_bytes is not None and size > max_bytes:
            raise error(f"{name}: {size} bytes, more than the {max_bytes} bytes a file of this kind may have")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(size + 1)
        if len(data) != size:
            raise error(f"{name}: changed while it was read ({size} bytes expected, {len(data)} read)")
        return data
    finally:
        os.close(fd)


# ------------------------------------------------------------------ JSON of bounded depth and size
JSON_MAX_DEPTH = 400         # below Python's recursion limit with room to spare; chainrule's own files nest < 10 deep
JSON_MAX_VALUES = 1 << 23    # numbers, strings, lists, ...: a few hundred MB as Python objects at most
# a string, or an unterminated one up to the end (as the parser reads it): every match succeeds, so
# the scan is linear (a pattern that can fail from each escaped quote is quadratic)
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.S)
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")


def json_structure(text: str) -> tuple[int, int]:
    """(how deeply ``[`` and ``{`` nest, about how many values there are) in the JSON ``text``, strings
    left out. Linear, without recursion and in chunks, so that it can be asked before parsing a
    hostile file: its parse could recurse too deep or make Python objects of many times its size."""
    skeleton = _STRING.sub("0", text)
    brackets = np.frombuffer(skeleton.encode("utf-8", "surrogatepass").translate(None, _NOT_BRACKETS), np.uint8)
    values = skeleton.count(",") + skeleton.count(":") + len(brackets) // 2 + 1
    depth = top = 0
    for i in range(0, len(brackets), 1 << 20):
        b = brackets[i:i + (1 << 20)]
        level = depth + np.cumsum(2 * ((b == 0x5B) | (b == 0x7B)).astype(np.int32) - 1)
        top, depth = max(top, int(level.max())), int(level[-1])
    return top, values


def _no_duplicates(pairs):
    d = dict(pairs)
    if len(d) != len(pairs):
        seen = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ValueError(f"the key {dup[:60]!r} appears twice in one object")
    return d


def load_json(text, where, error=ValueError, max_depth: int = JSON_MAX_DEPTH, max_values: int = JSON_MAX_VALUES):
    """``text`` (str or bytes) parsed as JSON; ``error`` naming ``where`` (a file) in one line if it is
    not JSON, nests more than ``max_depth`` deep, holds more than about ``max_values`` values, or
    repeats a key within one object."""
    if not isinstance(text, str):
        try:
            text = bytes(text).decode("utf-8")  # JSON in chainrule's files is UTF-8, never UTF-16 or -32
        except UnicodeDecodeError as e:
            raise error(f"{where}: not valid JSON (not UTF-8 text: {e.reason} at byte {e.start})") from None
    depth, values = json_structure(text)
    if depth > max_depth:
        raise error(f"{where}: JSON nested {depth} levels deep, more than the {max_depth} a file of this kind "
                    f"may have; the file is damaged or not written by chainrule")
    if values > max_values:
        raise error(f"{where}: JSON of about {values} values, more than the {max_values} chainrule reads; the "
                    f"file is damaged or not written by chainrule")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as e:
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise error(f"{where}: not valid JSON ({why[:200]})") from None


# ------------------------------------------------------------------ writing: atomic, durable
def fsync_dir(path) -> None:
    """Make a folder's entries (a new or renamed file in it) durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _replacing(path: Path):
    """Yield a unique temporary name beside ``path``; when the block ends, rename it over ``path`` in one
    step and make that durable; if the block or the rename fails, remove the temporary instead."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.errno is not None:  # name the file asked for, not the temporary
            raise type(e)(e.errno, e.strerror, str(path)) from None
        raise
    fsync_dir(path.parent)


def write_atomic(path, data) -> dict:
    """Write ``data`` (bytes, str, or an iterable of bytes-like chunks) to ``path`` atomically and durably;
    return its ``{"size": bytes, "sha256": hex digest}``.

    The data goes to a temporary file of a unique name beside ``path`` (so that two writers never
    share one), which is flushed and fsynced, renamed over ``path`` in one step, and the folder is
    fsynced: a reader sees the old file or the new one, never a part, even after a crash. If
    anything fails, the temporary file is removed and the old file is left as it was.
    """
    chunks = [data.encode()] if isinstance(data, str) else [data] if isinstance(data, (bytes, bytearray,
                                                                                         memoryview)) else data
    h, size = hashlib.sha256(), 0
    with _replacing(Path(path)) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
                h.update(chunk)
                size += memoryview(chunk).nbytes
            f.flush()
            os.fsync(f.fileno())
    return {"size": size, "sha256": h.hexdigest()}


def append_durably(fd: int, data: bytes) -> None:
    """Write all of ``data`` to the file open as ``fd`` (opened with O_APPEND: an append-only log, such as
    a sweep's journal) and fsync it, so that a record is on disk once this returns."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.fsync(fd)


def link_atomic(target: str, path) -> None:
    """Make ``path`` a symbolic link to ``target``, replacing what was there in one atomic, durable step."""
    with _replacing(Path(path)) as tmp:
        os.symlink(target, tmp)
