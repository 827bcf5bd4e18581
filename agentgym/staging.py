"""A folder that appears only when it is complete: fill a staging folder, then rename it into place.

Why one helper: an export, a training run and a cache entry all write many files that a reader
must never see half-written (a crashed run that looks finished, a cache entry missing a file). All
three stage the same way: a fresh folder beside the target (same filesystem, so the final rename
is one atomic step), made with mkdir so it gets the permissions any new folder gets (0755 under
the usual umask; mkdtemp's 0700 would stay on the result after the rename, unreadable to a
trainer or grader running as another user), renamed onto the target on success, deleted on any
failure (an exception, Ctrl-C). Staging names are hidden siblings, ``.NAME.tmp-*``: ``ls`` of the
parent shows finished folders only, and ``leftover_stages`` finds what a killed writer left.

A writer stopped without running Python's cleanup (SIGTERM from ``timeout`` or a batch system's
time limit, SIGKILL, the OOM killer) leaves its stage behind, and a training run's holds GBs of
checkpoints. So a stage's name records its owner, as the sandbox reaper's labels do: the host, the
pid and the pid's start time (a reused pid has another). ``stage_owner_alive`` tells a dead
owner's stage from one still being written (or one of another host's, unknowable: kept), and
``leftover_note`` names the dead ones in one line (and removes them, for a new run of the same
output).
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import secrets
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

from agentgym.sandbox.reaper import owner_alive, pid_start

_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _stage_prefix(dest: Path) -> str:
    return f".{dest.name}.tmp-"


def _owner_tag() -> str:
    """PID-START-HOST of this process: what names its stages' owner (see stage_owner_alive)."""
    pid = os.getpid()
    return f"{pid}-{pid_start(pid) or 0}-{_HOST}"


@contextlib.contextmanager
def staged_dir(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty staging folder beside ``dest``; when the block ends without an exception
    it is renamed to ``dest``, otherwise deleted.

    ``dest`` must not exist when the block ends, or be an empty folder (POSIX rename replaces
    one); its parent folders are made. Raises OSError from the rename (e.g. ``dest`` is not empty:
    the staging folder is deleted then too).
    """
    dest = Path(dest)
    made = [p for p in reversed(dest.parents) if not p.exists()]  # outermost first: removed again on failure
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        while True:
            stage = dest.parent / f"{_stage_prefix(dest)}{_owner_tag()}-{secrets.token_hex(4)}"
            try:
                stage.mkdir()
                break
            except FileExistsError:  # another writer's name: draw again
                continue
            except FileNotFoundError:  # another writer's failure removed the empty parents meanwhile
                dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            yield stage
            os.rename(stage, dest)
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
    except BaseException:
        for parent in reversed(made):  # innermost first; one another writer filled meanwhile stays
            with contextlib.suppress(OSError):
                parent.rmdir()
        raise


def leftover_stages(dest: str | os.PathLike[str], *, dead_only: bool = False) -> list[Path]:
    """Staging folders of ``dest`` that still exist: a killed writer's, or one still writing
    (``dead_only``: only those whose owner is known to be gone, see stage_owner_alive)."""
    dest = Path(dest)
    found = sorted(dest.parent.glob(glob.escape(_stage_prefix(dest)) + "*"))
    return [p for p in found if stage_owner_alive(p) is False] if dead_only else found


def stage_owner_alive(stage: str | os.PathLike[str]) -> bool | None:
    """Whether the process that made ``stage`` still runs: True/False on this host, None when it was
    made on another host (a shared filesystem: unknowable here) or its name records no owner."""
    tag = Path(stage).name.rpartition(".tmp-")[2].split("-")
    if not tag[0].isdigit():
        return None
    if len(tag) >= 4:  # PID-START-HOST-RANDOM
        if tag[2] != _HOST:
            return None
        # the reaper's rule for a labelled owner: gone, or a reused pid with another start time, is dead
        return owner_alive({"agentgym.pid": tag[0], "agentgym.pidstart": "" if tag[1] == "0" else tag[1]})
    return bool(pid_start(int(tag[0])))  # PID-RANDOM (before owners were recorded): the pid alone


def _size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def leftover_note(dest: str | os.PathLike[str], *, remove: bool = False) -> str | None:
    """One line naming the staging folders of ``dest`` whose writer was killed (their size), or None
    when there are none; with ``remove`` they are deleted (a new run of ``dest`` does this)."""
    dead = leftover_stages(dest, dead_only=True)
    if not dead:
        return None
    size = sum(_size(p) for p in dead)
    names = ", ".join(str(p) for p in dead[:3]) + (f" and {len(dead) - 3} more" if len(dead) > 3 else "")
    if remove:
        for p in dead:
            shutil.rmtree(p, ignore_errors=True)
    did = "removed" if remove else "remove them with `rm -r` (a new run of this output removes them)"
    return (f"note: {len(dead)} staging folder{'s' if len(dead) > 1 else ''} of {dest} left by a killed run "
            f"({size / 1e6:.1f} MB): {names}; {did}")


__all__ = ["leftover_note", "leftover_stages", "stage_owner_alive", "staged_dir"]
