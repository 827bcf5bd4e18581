"""On-disk caches that many threads and processes may fill at once (AGENTGYM_CACHE).

Why: rollouts run in threads and in worker processes, and on a cold cache they all ask for the
same entry at the same moment. Building an entry in a shared, predictable place (a temp folder
named by process id, a fixed `.partial` name) lets one builder delete or overwrite another's
half-made work. The rules every cache here follows:

- one lock per entry, held while it is built: a thread lock (threads of one process queue on it
  instead of spinning) and an flock on a lock file in the cache (other processes);
- the entry is built in a private temp folder next to it (unique per build, same file
  system) and published with one atomic rename, so a reader sees either nothing or all of it;
- readers check for the published entry before taking the lock, and again after getting it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from agentgym.staging import leftover_stages, staged_dir

T = TypeVar("T")

_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


class CacheLockTimeout(TimeoutError):
    """Another builder held an entry's lock for longer than the caller would wait."""


def cache_root() -> Path:
    """AGENTGYM_CACHE, else ~/.cache/agentgym (read at call time, so tests can point it elsewhere)."""
    override = os.environ.get("AGENTGYM_CACHE")
    return Path(override).expanduser() if override else Path.home() / ".cache" / "agentgym"


def _thread_lock(key: str) -> threading.Lock:
    with _thread_locks_guard:
        return _thread_locks.setdefault(key, threading.Lock())


@contextmanager
def entry_lock(lock_path: str | os.PathLike[str], timeout: float | None = None, what: str = "") -> Iterator[None]:
    """Hold lock_path exclusively against other threads of this process and other processes.

    timeout: seconds to wait in all (None: as long as it takes); past it CacheLockTimeout says who
    to wait for. The lock file is created (with its folder) and never deleted: deleting it would let
    two processes lock two different files of the same name.
    """
    path = Path(lock_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = None if timeout is None else time.monotonic() + timeout
    tlock = _thread_lock(os.path.realpath(path))
    if not tlock.acquire(timeout=-1 if deadline is None else max(0.0, deadline - time.monotonic())):
        raise CacheLockTimeout(_timeout_message(path, timeout, what))
    try:
        with open(path, "a+") as handle:
            pause = 0.005
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if deadline is not None and time.monotonic() > deadline:
                        raise CacheLockTimeout(_timeout_message(path, timeout, what)) from None
                    time.sleep(pause)
                    pause = min(pause * 2, 0.25)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        tlock.release()


def _timeout_message(path: Path, timeout: float | None, what: str) -> str:
    return (f"another agentgym thread or process held {path} for over {timeout:.0f} s"
            f"{' (' + what + ')' if what else ''}; wait for it to finish, or stop it")


def lock_path_for(entry: Path) -> Path:
    """The lock file of a cache entry: a hidden sibling, so `ls` of the cache shows entries only."""
    return entry.with_name(f".{entry.name}.lock")


def publish_dir(dest: str | os.PathLike[str], make: Callable[[Path], T], *, ready: str,
                timeout: float | None = None) -> T | None:
    """Make the folder dest once: make(tmp) fills a private temp folder, which is renamed to dest.

    ready: a file make() writes last; dest counts as published only when dest/ready exists. Returns
    make()'s value when this call built dest, None when it was already there (or another thread or
    process built it while this one waited). A dest without ready (an older version's leftovers, a
    copy made by hand) is moved aside and rebuilt; temp folders of builders that were killed are
    deleted (under the lock no other builder of dest can be running).
    """
    dest = Path(dest)
    if (dest / ready).exists():
        return None
    dest.parent.mkdir(parents=True, exist_ok=True)
    with entry_lock(lock_path_for(dest), timeout=timeout, what=f"building {dest.name}"):
        if (dest / ready).exists():
            return None
        if dest.exists():
            _discard(dest)
        _drop_orphans(dest)
        with staged_dir(dest) as tmp:  # renamed to dest, which does not exist (we hold its lock): atomic
            value = make(tmp)
            if not (tmp / ready).exists():
                raise RuntimeError(f"building cache entry {dest} wrote no {ready}")
        return value


def _discard(path: Path) -> None:
    """Move a stale entry out of the way (one rename), then delete it."""
    aside = Path(tempfile.mkdtemp(prefix=f".{path.name}.stale-", dir=path.parent))
    os.rename(path, aside / "entry")
    shutil.rmtree(aside, ignore_errors=True)


def _drop_orphans(dest: Path) -> None:
    """Delete temps a killed builder of dest left; call only while holding dest's lock."""
    for left in leftover_stages(dest):
        if left.is_dir() and not left.is_symlink():
            shutil.rmtree(left, ignore_errors=True)
        else:
            left.unlink(missing_ok=True)
