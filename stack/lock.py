"""`DATA_DIR/run.lock`: one `dhl run` per data directory.

The holder keeps an exclusive flock(2) on the file for its whole life, so the lock of a
crashed stack frees itself with its last process, and nothing stale needs clearing.
The file also says who holds it (pid, web URL), for the refusal line of a second run.
The file itself is never removed: a new one would let two holders lock two inodes.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

from core.errors import ConfigConflict

LOCK_FILE = "run.lock"


class DataDirLock:
    """An exclusive lock on a data directory, held until `release()`."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd

    def describe(self, **facts: str) -> None:
        """Write who holds the lock (this pid, then `facts`) into the lock file."""
        text = "".join(f"{k}={v}\n" for k, v in {"pid": str(os.getpid()), **facts}.items())
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, text.encode(), 0)

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the last descriptor releases the flock
            self._fd = -1

    def __enter__(self) -> "DataDirLock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def acquire(data_dir: Path) -> DataDirLock:
    """Lock `data_dir` for this process, or raise ConfigConflict naming the holder."""
    path = data_dir / LOCK_FILE
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as error:
        raise ConfigConflict("DATA_DIR", f"{data_dir} cannot be used ({error.strerror}); "
                                         "give a directory this user may write") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        os.close(fd)
        if not isinstance(error, BlockingIOError):  # e.g. no locks on this file system
            raise ConfigConflict("DATA_DIR", f"{data_dir} cannot be locked ({error.strerror})"
                                 ) from None
        holder = read_holder(data_dir)
        where = f"web {holder['web']}" if holder.get("web") else "still starting"
        raise ConfigConflict("DATA_DIR", f"{data_dir} is in use by the stack running as pid "
                                         f"{holder.get('pid', '?')} ({where}); stop it, or give "
                                         "this one another DATA_DIR") from None
    lock = DataDirLock(path, fd)
    lock.describe()
    return lock


def read_holder(data_dir: Path) -> dict[str, str]:
    """What the lock file says about its holder (may be stale: see `is_held`)."""
    try:
        text = (data_dir / LOCK_FILE).read_text()
    except OSError:
        return {}
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def is_held(data_dir: Path) -> bool:
    """Whether a running stack holds `data_dir` (from any process, this one included)."""
    try:
        fd = os.open(data_dir / LOCK_FILE, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
