"""One writer per run folder: an advisory lock on ``RUN_DIR/.lock`` held for the life of a run.

The lock is ``fcntl.flock``: the kernel releases it when the process ends however it ends (even
SIGKILL), so a crashed run never leaves a stale lock behind. The file holds the holder's PID so
that a second process can say who is in the way.
"""
from __future__ import annotations

import os
import time
from pathlib import Path


class RunFolderBusy(RuntimeError):
    """Another process holds the run folder's lock."""


class RunLock:
    """Exclusive lock of a run folder; ``acquire()`` fails at once if another process holds it."""

    def __init__(self, run_dir):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / ".lock"
        self.fd = None

    def acquire(self) -> "RunLock":
        try:
            import fcntl
        except ImportError:  # not POSIX: no locking
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = "unknown"
            for _ in range(20):  # the holder writes its PID right after locking
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or holder
                if holder != "unknown":
                    break
                time.sleep(0.01)
            os.close(fd)
            who = (f"another run of this process (PID {holder})" if holder == str(os.getpid())
                   else f"another chainrule process (PID {holder})")
            raise RunFolderBusy(f"{self.run_dir}: in use by {who}; wait for it to finish or stop it, "
                                f"or choose another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the only descriptor releases the flock
            self.fd = None

    def __del__(self):  # a trainer dropped in-process (one sweep trial after another) frees its folder
        self.release()

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
        return False
