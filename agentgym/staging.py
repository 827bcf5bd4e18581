"""A folder that appears only when it is complete: fill a staging folder, then rename it into place.

Why one helper: an export, a training run and a cache entry all write many files that a reader
must never see half-written (a crashed run that looks finished, a cache entry missing a file). All
three stage the same way: a fresh folder beside the target (same filesystem, so the final rename
is one atomic step), made with mkdir so it gets the permissions any new folder gets (0755 under
the usual umask; mkdtemp's 0700 would stay on the result after the rename, unreadable to a
trainer or grader running as another user), renamed onto the target on success, deleted on any
failure (an exception, Ctrl-C). Staging names are hidden siblings, ``.NAME.tmp-*``: ``ls`` of the
parent shows finished folders only, and ``leftover_stages`` finds what a killed writer left.
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path


def _stage_prefix(dest: Path) -> str:
    return f".{dest.name}.tmp-"


@contextlib.contextmanager
def staged_dir(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty staging folder beside ``dest``; when the block ends without an exception
    it is renamed to ``dest``, otherwise deleted.

    ``dest`` must not exist when the block ends, or be an empty folder (POSIX rename replaces
    one); its parent folders are made. Raises OSError from the rename (e.g. ``dest`` is not empty:
    the staging folder is deleted then too).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    while True:
        stage = dest.parent / f"{_stage_prefix(dest)}{os.getpid()}-{secrets.token_hex(4)}"
        try:
            stage.mkdir()
            break
        except FileExistsError:  # another writer's name: draw again
            continue
    try:
        yield stage
        os.rename(stage, dest)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def leftover_stages(dest: str | os.PathLike[str]) -> list[Path]:
    """Staging folders of ``dest`` that still exist: a killed writer's, or one still writing."""
    dest = Path(dest)
    return sorted(dest.parent.glob(glob.escape(_stage_prefix(dest)) + "*"))


__all__ = ["leftover_stages", "staged_dir"]
