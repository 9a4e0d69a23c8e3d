"""Advisory locks that keep two photomatch runs off one file or folder.

A lock is an ``flock`` on a small lock file. The kernel releases it when its
holder dies, even by ``kill -9``, so a crashed run never leaves a stale lock.
Threads of one process are kept apart too (``flock`` alone would let them share).
A thread that already holds the lock gets ``LockError`` instead of waiting for
itself forever. Where ``fcntl`` is missing (Windows) only threads are kept apart.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import BinaryIO, ClassVar

try:
    import fcntl
except ImportError:  # Windows: no advisory lock
    fcntl = None  # type: ignore[assignment]

from .errors import PhotomatchError


class LockError(PhotomatchError):
    """The lock cannot be taken (a file-system error, or this thread holds it already)."""


class FileLock:
    """An exclusive lock on ``lock_path``, held from construction until ``release()``.

    ``what`` names the locked thing in the one message printed on stderr while
    waiting for another holder (``waiting for another photomatch run on WHAT``).
    """

    _holders: ClassVar[dict[str, int]] = {}
    _changed: ClassVar[threading.Condition] = threading.Condition()

    def __init__(self, lock_path: str, what: str) -> None:
        self.path = os.path.realpath(lock_path)
        self.what = what
        self._fh: BinaryIO | None = None
        self._mine = False
        me = threading.get_ident()
        with self._changed:
            if self._holders.get(self.path) == me:
                raise LockError(f"{what} is already open in this thread; close it first")
            if self.path in self._holders:
                self._say_waiting()
                while self.path in self._holders:
                    self._changed.wait()
            self._holders[self.path] = me
            self._mine = True
        try:
            if fcntl is not None:
                # O_NOFOLLOW: a link planted at the lock's name is not followed.
                fd = os.open(
                    self.path,
                    os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0),
                    0o666,
                )
                self._fh = os.fdopen(fd, "ab")
                try:
                    fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    self._say_waiting()
                    fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX)
        except OSError as exc:
            self.release()
            raise LockError(f"cannot lock {what}: {exc.strerror or exc}") from None
        except BaseException:
            self.release()
            raise

    def _say_waiting(self) -> None:
        print(
            f"photomatch: waiting for another photomatch run on {self.what}...",
            file=sys.stderr,
            flush=True,
        )

    def __enter__(self) -> FileLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:
        try:
            self.release()
        except Exception:  # noqa: BLE001 - interpreter shutdown: the OS releases the lock
            pass

    def release(self) -> None:
        """Release the lock (idempotent)."""
        if self._fh is not None:
            self._fh.close()  # closing the file releases the lock
            self._fh = None
        if self._mine:
            self._mine = False
            with self._changed:
                self._holders.pop(self.path, None)
                self._changed.notify_all()
