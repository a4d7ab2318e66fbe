"""One writer per directory: ``DIR/.modecollapse.lock``, held by ``train`` (and ``--resume``,
bench's workers, the monitor's rollback inside a run) on a run directory and by ``bench``
on a bench directory (issue 21: two resumes at once wrote every step twice).

A leaf beside :mod:`fileio` (it imports only that and :mod:`errors`).
"""
from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .fileio import LEFTOVER

LOCK_NAME = ".modecollapse.lock"


class Locked(ConfigError):
    """Another live process holds the directory's lock."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


class DirLock:
    """An exclusive lock on a directory for one writer (``train``, ``--resume``, a bench
    worker), held through ``DIR/.modecollapse.lock``.

    The lock is the kernel's ``flock`` on that file (opened close-on-exec), with the holder's
    PID and host written in it. The kernel releases it when its holder exits, however it
    exits (kill -9 included), so the lock file a dead writer leaves behind is stale by
    construction and the next writer takes it over, with a one-line notice naming the dead
    PID; there is no timeout to guess and no live writer's lock can be broken. A writer
    re-checks after locking that the file it locked is still the one in the directory (a
    holder unlinks it when it releases). A second writer gets one sentence naming the
    holder's PID (:class:`Locked`, exit 2 on the CLI).
    """

    def __init__(self, directory: Path, what: str = "run directory") -> None:
        self.path = Path(directory) / LOCK_NAME
        self.what = what
        self.fd: int | None = None

    def _holder(self, fd: int) -> dict[str, Any]:
        for _ in range(20):  # the holder writes its PID just after locking
            info = self._holder_now(fd)
            if info:
                return info
            time.sleep(0.01)
        return {}

    def acquire(self) -> "DirLock":
        import fcntl

        for _ in range(50):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            except OSError as err:
                raise ConfigError(f"cannot lock {self.path.parent} ({err.strerror}); is it a writable folder?") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = self._holder(fd)
                pid, host = holder.get("pid"), holder.get("host")
                os.close(fd)
                who = f"process {pid}" + (f" on {host}" if host and host != socket.gethostname() else "") if pid else "another process"
                raise Locked(f"{self.path.parent} is in use: {who} is writing to this {self.what}; wait for it to "
                             "finish (or stop it), then try again.") from None
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # replaced or released between our open and our lock: lock the file there now
                os.close(fd)
                continue
            old = self._holder_now(fd)
            if old and old.get("pid") != os.getpid() and old.get("host") == socket.gethostname() and not _alive(old["pid"]):
                sys.stderr.write(f"modecollapse: note: {self.path.parent}: took over the lock of process {old['pid']}, "
                                 "which is no longer running.\n")
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}).encode(), 0)
            self.fd = fd
            self._remove_leftovers()
            return self
        raise Locked(f"could not lock {self.path.parent}: its lock file keeps changing; try again.")

    @staticmethod
    def _holder_now(fd: int) -> dict[str, Any]:
        try:
            info = json.loads(os.pread(fd, 4096, 0).decode() or "null")
        except (OSError, ValueError, UnicodeDecodeError):
            return {}
        return info if isinstance(info, dict) and isinstance(info.get("pid"), int) else {}

    def _remove_leftovers(self) -> None:
        """Removes the temporary files a writer killed mid-write left (only the lock's holder
        writes here, so none of them is being written now): in the folder and its ``grids/``."""
        folder = self.path.parent
        for sub in (folder, folder / "grids"):
            try:
                names = os.listdir(sub)
            except OSError:
                continue
            for name in names:
                if LEFTOVER.match(name) and (sub / name).is_file():
                    (sub / name).unlink(missing_ok=True)

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.unlink(self.path)  # before unlocking: a waiter then sees a replaced file and retries
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None

    def __enter__(self) -> "DirLock":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()
