"""staged_dir: the export, `agentgym train` and the disk cache publish a folder only when it is
complete (one rename), with a new folder's permissions, and leave nothing behind on failure."""

from __future__ import annotations

import os

import pytest

from agentgym.staging import leftover_stages, staged_dir


def test_a_finished_block_publishes_the_folder_with_a_new_folders_mode(tmp_path):
    dest = tmp_path / "deep" / "out"
    with staged_dir(dest) as stage:
        assert stage.parent == dest.parent and stage.name.startswith(".out.tmp-") and not dest.exists()
        (stage / "a.txt").write_text("a")
    (tmp_path / "plain").mkdir()
    assert (dest / "a.txt").read_text() == "a" and leftover_stages(dest) == []
    assert dest.stat().st_mode == (tmp_path / "plain").stat().st_mode  # not mkdtemp's 0700
    empty = tmp_path / "empty"
    empty.mkdir()
    with staged_dir(empty) as stage:  # an empty folder (e.g. made by hand for `out`) is replaced
        (stage / "b").write_text("b")
    assert [p.name for p in empty.iterdir()] == ["b"]


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_a_failed_block_leaves_nothing(tmp_path, exc):
    dest = tmp_path / "out"
    with pytest.raises(exc):
        with staged_dir(dest) as stage:
            (stage / "half.txt").write_text("half")
            raise exc("stopped")
    assert os.listdir(tmp_path) == []


def test_a_full_destination_is_refused_and_the_stage_removed(tmp_path):
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "old").write_text("kept")
    with pytest.raises(OSError):
        with staged_dir(dest) as stage:
            (stage / "new").write_text("new")
    assert sorted(os.listdir(tmp_path)) == ["out"] and os.listdir(dest) == ["old"]


def test_leftover_stages_are_a_killed_writers(tmp_path):
    dest = tmp_path / "we[ird]*"  # glob characters in the name match only themselves
    killed = tmp_path / f".{dest.name}.tmp-123-abcd"
    killed.mkdir()
    (tmp_path / ".we.tmp-1").mkdir()
    assert leftover_stages(dest) == [killed]
