"""The committed swe-synth data: sdists, repos.json, instances.jsonl and `materialize`."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest

from agentgym.envs.swe.synth import load_instances, load_projects, materialize
from agentgym.envs.swe.synth.generate import plain_id
from agentgym.envs.swe.synth.projects import SDIST_DIR, SynthError, project_for, sha256_file, unpack_tree
from agentgym.envs.swe.synth.snapshot import apply_patch, git

MIN_INSTANCES = 110
MIN_PROJECTS = 6


@pytest.fixture(scope="module")
def instances() -> list:
    return load_instances()


def test_sdists_are_committed_small_and_match_their_sha256() -> None:
    projects = load_projects()
    assert len({p.name for p in projects}) >= MIN_PROJECTS
    total = 0
    for p in projects:
        path = SDIST_DIR / p.filename
        assert path.is_file(), path
        assert sha256_file(path) == p.sha256
        assert path.stat().st_size < 1.5e6
        total += path.stat().st_size
    assert total < 8e6


def test_suite_size_and_spread(instances: list) -> None:
    assert len(instances) >= MIN_INSTANCES
    per_repo = collections.Counter(i.repo for i in instances)
    assert len(per_repo) >= MIN_PROJECTS
    assert max(per_repo.values()) <= 0.35 * len(instances), per_repo
    assert len({i.instance_id for i in instances}) == len(instances)


def test_every_instance_is_well_formed(instances: list) -> None:
    for i in instances:
        p = project_for(i.repo, i.version)
        assert i.instance_id.startswith(f"{p.name}-{p.version}__synth-")
        assert i.FAIL_TO_PASS and len(i.FAIL_TO_PASS) <= 20
        assert not set(i.FAIL_TO_PASS) & set(i.PASS_TO_PASS)
        assert all(plain_id(t) for t in i.FAIL_TO_PASS + i.PASS_TO_PASS)
        assert {t.split("::")[0] for t in i.FAIL_TO_PASS + i.PASS_TO_PASS} <= set(i.test_files)
        assert i.test_cmd.endswith(" ".join(i.test_files)) and i.test_cmd.startswith(p.test_cmd)
        assert i.patch.startswith("diff --git a/") and i.test_patch == ""
        assert len(i.base_commit) == 40 and i.split in ("full", "lite")
        assert i.mutation["file"] in i.patch


def test_statements_do_not_leak_the_fix(instances: list) -> None:
    for i in instances:
        changed = [ln[1:].strip() for ln in i.patch.splitlines()
                   if ln[:1] in "+-" and not ln.startswith(("+++", "---")) and len(ln[1:].strip()) >= 6]
        assert i.problem_statement.strip()
        assert "diff --git" not in i.problem_statement
        for line in changed:
            assert line not in i.problem_statement, (i.instance_id, line)
    assert len({i.problem_statement.splitlines()[0].split("`")[0] for i in instances}) >= 4  # varied titles


def test_lite_split_covers_every_project(instances: list) -> None:
    lite = [i for i in instances if i.split == "lite"]
    assert 20 <= len(lite) <= 28
    assert {i.repo for i in lite} == {i.repo for i in instances}


def test_materialize_reproduces_base_commit_and_patch_restores_original(instances: list, tmp_path: Path) -> None:
    sample = {}
    for i in instances:
        sample.setdefault(i.repo, i)  # one per project
    for n, inst in enumerate(sample.values()):
        dest = tmp_path / f"t{n}"
        assert materialize(inst, dest) == inst.base_commit
        assert git(dest, "status", "--porcelain").strip() == ""
        apply_patch(dest, inst.patch)
        original = unpack_tree(project_for(inst.repo, inst.version), tmp_path / f"o{n}")
        rel = inst.mutation["file"]
        assert (dest / rel).read_text() == (original / rel).read_text()
        assert sum(f.stat().st_size for f in dest.rglob("*") if f.is_file() and ".git" not in f.parts) < 5e6


def test_materialize_refuses_a_changed_patch_or_unknown_project(instances: list, tmp_path: Path) -> None:
    inst = instances[0].model_copy()
    inst.patch = inst.patch.replace("\n-", "\n-#", 1).replace("\n+", "\n+#", 1)
    with pytest.raises(SynthError):
        materialize(inst, tmp_path / "a")
    other = instances[0].model_copy(update={"repo": "pypi/not-a-project"})
    with pytest.raises(SynthError, match="no swe-synth project"):
        materialize(other, tmp_path / "b")
