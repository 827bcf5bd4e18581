"""What `agentgym train` keeps of a run that did not end as OUT: Ctrl-C, or OUT filled meanwhile.

Why its own module: a training run is hours of work, and its staging folder is deleted when the
run does not end normally (agentgym.staging). Two endings must not throw that work away:

- Ctrl-C: checkpoints already written are moved, with the step log, to OUT.interrupted. Only a
  complete checkpoint counts as kept: transformers' Trainer writes checkpoint-N in place (config
  first, then weights, optimizer, and ``trainer_state.json`` last), so Ctrl-C during a save leaves a
  folder with a config.json and partial weights that loads as nothing. The line names it
  incomplete, and `--check` refuses it as a ``model:`` (:func:`incomplete_checkpoint`).
- OUT filled by someone else while the run trained (another run, a copy): the final rename fails
  and staging would delete the finished run, final model included. :func:`keep_finished` moves it
  to OUT.done (OUT.done-2 ...) instead, and the run ends with one line saying where it is.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

#: what transformers' Trainer writes last into checkpoint-N: a checkpoint without it was cut mid-save
COMPLETE_MARK = "trainer_state.json"
CHECKPOINT = re.compile(r"checkpoint-(\d+)")


class TrainInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run: ``step`` of ``total`` steps logged; ``kept`` the folder holding the
    checkpoints written so far (None: no complete one was written, nothing kept); ``incomplete``
    the checkpoints cut mid-save (kept in that folder too, but no model)."""

    def __init__(self, step: int, total: int, kept: Path | None, checkpoints: list[str], incomplete: list[str] | None = None):
        super().__init__(step, total, kept)
        self.step, self.total, self.kept, self.checkpoints = step, total, kept, checkpoints
        self.incomplete = list(incomplete or [])

    def line(self, rerun: str) -> str:
        at = f"interrupted at step {self.step}/{self.total}"
        cut = (f" ({', '.join(self.incomplete)} incomplete: cut mid-save, no model)" if self.incomplete else "")
        if self.kept is None:
            return f"{at}: nothing kept (no checkpoint written yet; save_steps: N keeps them){cut}; rerun `{rerun}`"
        return (f"{at}: {', '.join(self.checkpoints)} kept in {self.kept} with the step log (a checkpoint is a model "
                f"directory for `model:`){cut}; rerun `{rerun}`")


def incomplete_checkpoint(folder: Path) -> bool:
    """Whether ``folder`` is a trainer checkpoint (checkpoint-N) cut before its last file was written."""
    return CHECKPOINT.fullmatch(folder.name) is not None and not (folder / COMPLETE_MARK).is_file()


def _checkpoints(stage: Path) -> tuple[list[str], list[str]]:
    """Complete and incomplete checkpoint-N folders of a staging folder, in step order."""
    ckpt = stage / "checkpoints"
    found = [c for c in ckpt.iterdir() if c.is_dir() and CHECKPOINT.fullmatch(c.name)] if ckpt.is_dir() else []
    found.sort(key=lambda c: int(c.name.rsplit("-", 1)[1]))
    return [c.name for c in found if not incomplete_checkpoint(c)], [c.name for c in found if incomplete_checkpoint(c)]


def logged_steps(stage: Path) -> list[dict[str, Any]]:
    """The step rows of ``stage``'s train_log.jsonl (a line cut by an interrupt is skipped)."""
    try:
        lines = (stage / "train_log.jsonl").read_text().splitlines()
    except OSError:
        return []
    rows = []
    for x in lines:
        try:
            row = json.loads(x)
        except ValueError:  # a line cut by the interrupt
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def _free_name(out: Path, suffix: str) -> Path:
    kept, n = out.with_name(f"{out.name}.{suffix}"), 1
    while kept.exists() or kept.is_symlink():
        n += 1
        kept = out.with_name(f"{out.name}.{suffix}-{n}")
    return kept


def keep_interrupted(stage: Path, out: Path, total: int) -> TrainInterrupted:
    """After Ctrl-C: the staging folder renamed to OUT.interrupted (OUT.interrupted-2 ...) when it
    holds a complete checkpoint, so hours of training are not deleted with it; else left to be removed."""
    steps = logged_steps(stage)
    step = max((int(r.get("step", 0)) for r in steps), default=0)
    complete, incomplete = _checkpoints(stage)
    if not complete:
        return TrainInterrupted(step, total, None, [], incomplete)
    kept = _free_name(out, "interrupted")
    os.rename(stage, kept)  # staged_dir then finds nothing to remove
    return TrainInterrupted(step, total, kept, complete, incomplete)


def out_taken(out: Path) -> bool:
    """Whether ``out`` can no longer receive the finished run (it became a file or a non-empty folder)."""
    try:
        if not (out.exists() or out.is_symlink()):
            return False
        return not out.is_dir() or out.is_symlink() or any(out.iterdir())
    except OSError:
        return True


def keep_finished(stage: Path, out: Path) -> Path:
    """A finished run whose OUT was filled meanwhile: the staging folder renamed to OUT.done (OUT.done-2
    ...), where staged_dir will not delete it; returns that folder."""
    kept = _free_name(out, "done")
    os.rename(stage, kept)
    return kept


__all__ = ["COMPLETE_MARK", "TrainInterrupted", "incomplete_checkpoint", "keep_finished", "keep_interrupted",
           "logged_steps", "out_taken"]
