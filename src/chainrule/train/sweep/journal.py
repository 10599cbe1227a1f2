"""The sweep's journal file (SWEEP_DIR/study.journal), made to hold up to crashes and damage.

Optuna's journal storage keeps a study as one JSON operation per line, appended under a lock.
This backend writes the same lines, readable by Optuna itself, and adds what a crash or a
damaged file needs:

- The lock is ``fcntl.flock`` on ``study.journal.flock``: the kernel releases it when a writer
  dies, however it dies, so a kill -9 never leaves a lock behind for the next sweep to wait on
  (Optuna's own lock is a symbolic link that a kill can leave pointing nowhere).
- Each line ends with a CRC-32 of the rest (``,"crc32":N}``; Optuna ignores the extra field):
  a flipped bit or an edited value is found, not replayed.
- A writer first cuts a last line that a crash left without its newline, and says so
  (:class:`SweepWarning`); appending to it would have made the study unreadable.
- Only a regular file is read (never a FIFO or a device), a line at most ``MAX_LINE`` bytes,
  and every damage is one :class:`JournalError` naming the file and the line.
"""
from __future__ import annotations

import errno
import json
import os
import re
import stat
import time
import warnings
import zlib
from pathlib import Path

from chainrule.fileio import append_durably, describe_kind, open_regular

MAX_LINE = 64 << 20               # bytes of one record; Optuna's lines are a few hundred
LOCK_WAIT = 120.0                 # seconds to wait for a writer that holds the lock
_CRC = re.compile(rb',"crc32":(\d{1,10})\}\n\Z')


class JournalError(ValueError):
    """The journal file is not a readable study: one line naming the file (and the line)."""


class SweepWarning(UserWarning):
    """Something a sweep repaired or changed on its own (a cut-off journal line, a capped --jobs)."""


def _open_regular_rw(path, flags: int, purpose: str) -> int:
    """A read-write descriptor of the regular file ``path`` (never blocks on a FIFO); else a JournalError."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC | flags, 0o644)
    except OSError as e:
        raise JournalError(f"{path}: cannot be opened {purpose} ({e.strerror})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise JournalError(f"{path}: is {describe_kind(mode)}, not a regular file")
    return fd


class FileLock:
    """Optuna's journal lock interface (acquire/release) on ``fcntl.flock``, bounded in time.

    The lock file stays open for the life of the object (``release`` unlocks it, the kernel
    unlocks it when the process dies); nothing is written into it."""

    def __init__(self, path):
        self.path = str(path)
        self.fd = None

    def _open(self) -> int:
        if self.fd is None:
            self.fd = _open_regular_rw(self.path, os.O_CREAT | os.O_NOFOLLOW, "as the journal's lock")
        return self.fd

    def acquire(self) -> bool:
        import fcntl
        fd = self._open()
        deadline, pause = time.monotonic() + LOCK_WAIT, 0.001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
            if time.monotonic() > deadline:
                raise JournalError(f"{self.path}: held by another process for over {LOCK_WAIT:g} s; is it stopped "
                                   f"(kill -STOP)? end it, then run the sweep again")
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def release(self) -> None:
        import fcntl
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __del__(self):
        self.close()

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()
        return False


def _damaged(path, n: int, why: str) -> JournalError:
    keep = (f"; the {n - 1} lines before it are intact: keep a copy, then `head -n {n - 1}` of it continues the "
            f"sweep from there" if n > 1 else "")
    return JournalError(f"{path}: line {n} is damaged ({why}){keep}")


def _has_newline(fd: int, start: int, end: int) -> bool:
    """Whether bytes ``start:end`` of the file hold a newline (read 1 MiB at a time)."""
    while start < end:
        chunk = os.pread(fd, min(1 << 20, end - start), start)
        if not chunk:
            return False
        if b"\n" in chunk:
            return True
        start += len(chunk)
    return False


class JournalFile:
    """An Optuna journal backend on one file (``read_logs``/``append_logs``), hardened as the module says."""

    def __init__(self, path):
        self.path = Path(path)
        self.lock = FileLock(str(self.path) + ".flock")
        self._offsets = {0: 0}        # line number -> byte offset of its start
        self._checksums = None        # True/False once the first line is read: every line must agree
        self._unfinished = None       # (offset, file size) of a last line too long to be a record
        try:                          # create it, never open an existing FIFO for writing
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644))
        except FileExistsError:
            pass

    # ------------------------------------------------------------------ reading
    def read_logs(self, log_number_from: int):
        fd = open_regular(self.path, JournalError)
        with os.fdopen(fd, "rb") as f:
            size = os.fstat(f.fileno()).st_size     # lines appended after this are read next time
            n = max(k for k in self._offsets if k <= log_number_from)
            pos = self._offsets[n]
            if self._unfinished == (pos, size):
                return          # the same huge unfinished last line as last time: not read again
            f.seek(pos)
            while pos < size:
                line = f.readline(MAX_LINE + 1)
                if len(line) > MAX_LINE:
                    if _has_newline(f.fileno(), pos + len(line), size):
                        raise _damaged(self.path, n + 1, f"longer than {MAX_LINE} bytes")
                    self._unfinished = (pos, size)
                    break       # a huge unfinished last line (zeros a crash left): the next writer cuts it
                if not line.endswith(b"\n") or pos + len(line) > size:
                    break       # a line being written, or cut off by a crash: the next writer removes it
                pos += len(line)
                n += 1
                self._offsets[n] = pos
                if n > log_number_from:
                    yield self._decode(line, n)

    def _decode(self, line: bytes, n: int) -> dict:
        m = _CRC.search(line)
        if n == 1:
            self._checksums = m is not None
        if m is not None:
            body = line[:m.start()] + b"}"
            if not self._checksums:
                raise _damaged(self.path, n, "it has a checksum where line 1 has none; one of them is damaged")
            if zlib.crc32(body) != int(m.group(1)):
                raise _damaged(self.path, n, "its checksum does not match: changed bytes")
        else:
            body = line
            if self._checksums:
                raise _damaged(self.path, n, "no checksum where every line has one: garbage or cut bytes")
        try:
            record = json.loads(body)
        except ValueError as e:        # JSON or UTF-8
            raise _damaged(self.path, n, f"not a JSON record: {str(e).splitlines()[0]}") from None
        if not isinstance(record, dict) or not isinstance(record.get("op_code"), int):
            raise _damaged(self.path, n, "not an Optuna journal operation")
        return record

    # ------------------------------------------------------------------ writing
    def _open_for_append(self) -> int:
        return _open_regular_rw(self.path, os.O_APPEND, "for writing")

    def _cut_partial_line(self, fd: int) -> str | None:
        """Truncate a last line without its newline (hold the lock); the message saying so, or None."""
        size = os.fstat(fd).st_size
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return None
        end = size
        keep = 0
        while end > 0:                  # look back for the last newline, 64 KiB at a time
            start = max(0, end - (1 << 16))
            k = os.pread(fd, end - start, start).rfind(b"\n")
            if k >= 0:
                keep = start + k + 1
                break
            end = start
        os.ftruncate(fd, keep)
        return (f"{self.path}: its last line was cut off mid-write ({size - keep} bytes without a newline, left by "
                f"a crash or a full disk); removed it, and kept the {keep} bytes of complete lines before it")

    def repair(self) -> str | None:
        """Cut a partial last line now (under the lock); the message saying so, or None."""
        with self.lock:
            fd = self._open_for_append()
            try:
                return self._cut_partial_line(fd)
            finally:
                os.close(fd)

    def append_logs(self, logs: list) -> None:
        if self._checksums is None:     # the journal's format: the first line says (a new file: checksums)
            self._checksums = True
            for _ in self.read_logs(0):
                break
        lines = []
        for log in logs:
            text = json.dumps(log, separators=(",", ":")).encode()
            if self._checksums:
                text = text[:-1] + b',"crc32":%d}' % zlib.crc32(text)
            lines.append(text + b"\n")
        data = b"".join(lines)
        with self.lock:
            fd = self._open_for_append()
            try:
                cut = self._cut_partial_line(fd)
                if cut:
                    warnings.warn(cut, SweepWarning, stacklevel=2)
                append_durably(fd, data)
            finally:
                os.close(fd)


def journal_storage(path):
    """An Optuna JournalStorage on :class:`JournalFile`; a record Optuna cannot replay is a JournalError."""
    from optuna.storages.journal import BaseJournalBackend, JournalStorage

    class Backend(JournalFile, BaseJournalBackend):
        pass

    class Storage(JournalStorage):
        def _sync_with_backend(self):
            try:
                super()._sync_with_backend()
            except JournalError:
                raise
            except Exception as e:  # noqa: BLE001 - a record that parses but does not replay: damaged
                n = self._replay_result.log_number_read
                raise _damaged(path, n, f"Optuna cannot replay it: {type(e).__name__}: {e}") from None

    return Storage(Backend(path))
