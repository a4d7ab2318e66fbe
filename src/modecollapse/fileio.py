"""Files written and read the same way everywhere: atomic writes, image files, the checks
of an ``--out`` path, JSON files read against what they must hold, and the one-writer lock
of a directory (:class:`DirLock`).

A leaf module (it imports nothing of the package but :mod:`errors`), shared by the run
directory, the digit classifier's cache, the image-folder benchmark and ``measure``'s input
reader, so each concern has one implementation.
"""
from __future__ import annotations

import json
import math
import os
import re
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError

#: the image files Pillow reads that the toolkit looks for in a folder
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


#: what the temporary files of :func:`atomic_write` (and the write probes) carry in their names:
#: a writer killed mid-write leaves one, which the next holder of the folder's lock removes
TMP_MARK = ".tmp-"
LEFTOVER = re.compile(r"^\..+" + re.escape(TMP_MARK) + r"[A-Za-z0-9_]+$|^\.write-test-[A-Za-z0-9_]+$")


def atomic_write(path: Path, write: Callable[[str], Any]) -> None:
    """Calls ``write(tmp)`` on a temporary file beside ``path``, then renames it to ``path``:
    an interrupted write never leaves half a file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}{TMP_MARK}")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file private; give it the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` through :func:`atomic_write`."""
    import torch  # here, not above: the command line imports this module before it needs torch

    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def image_files(folder: Path, *, recursive: bool = True) -> list[Path]:
    """The image files in ``folder`` (and its subfolders when ``recursive``), sorted."""
    pattern = folder.rglob("*") if recursive else folder.glob("*")
    return sorted(p for p in pattern if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_image(path: Path, *, mode: str = "RGB", side: int | None = None) -> np.ndarray:
    """One image as uint8 (H, W) for mode "L" or (H, W, C), resized to ``side`` x ``side``
    (bilinear) when given; an unreadable file is a :class:`ConfigError` naming it."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:  # pragma: no cover - Pillow is a dependency
        raise ConfigError("reading images needs Pillow; pip install pillow.") from None
    try:
        with Image.open(path) as im:
            im = im.convert(mode)
            if side:
                im = im.resize((side, side), Image.BILINEAR)
            return np.asarray(im, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as err:
        raise ConfigError(f"cannot read image {path} ({type(err).__name__}); remove it or replace it.") from None


def json_text(result: Any) -> str:
    """``result`` as one line of JSON text: NaN becomes null and infinities the strings
    "inf" / "-inf" (JSON has neither), so every reader can parse it."""

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(result))



# -- --out paths ---------------------------------------------------------------------------------
def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_out_dir(path: Path, flag: str = "--out", *, shown: Path | None = None) -> None:
    """Refuses, in one sentence, an output folder that cannot be made: ``path`` is a file,
    lies under a file, or its nearest existing folder is not writable (tried with a
    temporary folder, removed at once). Leaves nothing behind."""
    path = Path(path)
    shown = shown or path
    if path.exists() and not path.is_dir() and shown == path:
        raise ConfigError(f"{flag} {path} exists and is a file, not a folder; choose another {flag}.")
    base = _nearest_existing(path)
    if not base.is_dir():
        raise ConfigError(f"{flag} {shown} lies under {base}, which is a file; choose another {flag}.")
    try:  # a real probe: os.access says yes to root on /proc and on read-only mounts
        os.rmdir(tempfile.mkdtemp(dir=base, prefix=".write-test-"))
    except OSError as err:
        raise ConfigError(f"{flag} {shown}: cannot create files in {base} ({err.strerror}); choose a writable {flag}.") from None


def check_out_file(path: Path, flag: str = "--out") -> None:
    """Refuses, in one sentence, an output file that cannot be written: ``path`` is a folder,
    lies under a file, or its folder is not writable. Leaves nothing behind."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{flag} {path} is a folder; give a file path, e.g. {path / 'report.html'}.")
    if path.exists() and not os.access(path, os.W_OK):
        raise ConfigError(f"{flag} {path} is not writable; choose another {flag}.")
    check_out_dir(path.parent, flag, shown=path)


def make_dir(path: Path, flag: str = "--out", *, shown: Path | None = None) -> Path:
    """Creates the folder ``path`` (and its parents) with the user's umask and proves it
    writable; any failure is one sentence naming ``flag`` and ``shown`` (default ``path``)."""
    path = Path(path)
    check_out_dir(path, flag, shown=shown)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as err:
        raise ConfigError(f"cannot write to {flag} {shown or path} ({err.strerror}); choose a writable {flag}.") from None
    return path


def dir_mode() -> int:
    """The mode a folder made with the user's umask has (``mkdtemp`` makes 0700 folders)."""
    return 0o777 & ~_umask()


# -- reading JSON files against what they must hold ----------------------------------------------
def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)


def read_json(path: Path, *, kind: type = dict) -> Any:
    """The JSON value in ``path``, which must be a ``kind`` (an object by default); a missing,
    unreadable or malformed file is a :class:`ConfigError` naming it."""
    path = Path(path)
    try:
        value = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path} cannot be read ({getattr(err, 'strerror', None) or type(err).__name__}).") from None
    except ValueError as err:
        raise ConfigError(f"{path} is not valid JSON ({str(err).splitlines()[0][:100]}).") from None
    if not isinstance(value, kind):
        raise ConfigError(f"{path} must hold {_kind(kind())} in JSON, not {_kind(value)}.")
    return value


def read_jsonl(path: Path, *, notice: bool = True) -> tuple[list[dict[str, Any]], bool]:
    """The records of the JSON-lines file ``path`` (each an object) and whether its last line
    was torn. A last line cut short by an interrupted append (no newline, not parseable) is
    dropped, with a one-line notice on stderr; any other bad line is a :class:`ConfigError`
    naming the file and the line."""
    path = Path(path)
    try:
        text = path.read_bytes().decode()
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path} cannot be read ({getattr(err, 'strerror', None) or type(err).__name__}).") from None
    lines = text.split("\n")
    torn = False
    records = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            if i == len(lines):  # the last line, without its newline: an append cut short
                torn = True
                if notice:
                    sys.stderr.write(f"modecollapse: note: {path}: dropped a torn last line (an interrupted write).\n")
                break
            raise ConfigError(f"{path} line {i} is not valid JSON; repair or delete the file.") from None
        if not isinstance(rec, dict):
            raise ConfigError(f"{path} line {i} must be a JSON object, not {_kind(rec)}.")
        records.append(rec)
    return records, torn


def check_fields(obj: dict[str, Any], types: dict[str, tuple[type, ...]], where: str, *,
                 required: tuple[str, ...] = ()) -> None:
    """Checks that ``obj`` has every key of ``required`` and that each key of ``types`` it
    has holds one of the given JSON types (a bool is never a number); one sentence naming
    ``where`` and the key otherwise."""
    for key in required:
        if key not in obj:
            raise ConfigError(f"{where} has no {key!r}.")
    for key, allowed in types.items():
        if key not in obj:
            continue
        value = obj[key]
        number = float in allowed or int in allowed
        ok = isinstance(value, allowed) and not (isinstance(value, bool) and bool not in allowed)
        if not ok:
            names = {int: "an integer", float: "a number", str: "a string", bool: "true or false", list: "a list",
                     dict: "an object", type(None): "null"}
            want = " or ".join(dict.fromkeys(names.get(t, t.__name__) for t in allowed if not (t is int and float in allowed)))
            raise ConfigError(f"{where}: {key!r} must be {want}, got {_kind(value)}.")
        if number and isinstance(value, float) and not math.isfinite(value) and key in ("step", "steps"):
            raise ConfigError(f"{where}: {key!r} must be finite.")


# -- one writer per directory -------------------------------------------------------------------
# One writer per directory: ``DIR/.modecollapse.lock``, held by ``train`` (and ``--resume``,
# bench's workers, the monitor's rollback inside a run) on a run directory and by ``bench``
# on a bench directory (issue 21: two resumes at once wrote every step twice).

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

    def acquire(self) -> DirLock:
        import fcntl  # POSIX only: the module itself imports everywhere

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

    def __enter__(self) -> DirLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()
