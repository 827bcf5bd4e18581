"""swe-synth bug injection: every mutator fires, mutants parse, diffs touch only the mutated span."""

from __future__ import annotations

import ast
import difflib
import tarfile
from pathlib import Path

import pytest

from agentgym.envs.swe.synth.mutate import find_mutations, sample_mutations
from agentgym.envs.swe.synth.projects import load_projects, unpack_tree

SAMPLE = '''"""A module."""
import os

LIMIT = 10


def clamp(values, low=0, strict=False):
    """Doc with 3 numbers 4."""
    out = []
    for i in range(len(values)):
        v = values[i]
        if v < low and not strict:
            out.append(low)
        elif v > LIMIT or strict:
            out.append(LIMIT)
        else:
            out.append(v)
    total = 0
    total += len(out)
    head = out[1:total]
    return out


class Box:
    def scale(self, a, b):
        if a is None:
            return b
        result = a * b + 1
        return max(a, b) - result
'''

KINDS = {
    "flip_comparison", "wrong_boolean_operator", "negated_condition", "off_by_one_constant",
    "off_by_one_bound", "wrong_arithmetic_operator", "swapped_arguments", "wrong_default",
    "wrong_return_value", "removed_branch",
}


def _changed_lines(old: str, new: str) -> set[int]:
    changed: set[int] = set()
    sm = difflib.SequenceMatcher(a=old.splitlines(), b=new.splitlines(), autojunk=False)
    for tag, i1, i2, _j1, _j2 in sm.get_opcodes():
        if tag != "equal":
            changed.update(range(i1 + 1, max(i2, i1 + 1) + 1) if i2 == i1 else range(i1 + 1, i2 + 1))
    return changed


def test_every_mutator_kind_fires_and_mutants_are_valid_minimal_edits() -> None:
    muts = find_mutations("pkg/mod.py", SAMPLE)
    assert {m.kind for m in muts} == KINDS
    original = ast.dump(ast.parse(SAMPLE))
    for m in muts:
        new = m.apply(SAMPLE)
        assert m.is_valid(SAMPLE), (m.kind, m.mutated_snippet)
        assert ast.dump(ast.parse(new)) != original, m
        changed = _changed_lines(SAMPLE, new)
        assert changed and changed <= set(range(m.line, m.end_line + 2)), (m.kind, m.line, changed)
        # nothing outside the edited span moved: prefix and suffix are byte-identical
        assert new[: m.start] == SAMPLE[: m.start] and new[m.start + len(m.replacement):] == SAMPLE[m.end:]
    # module-level code, docstrings and imports are never mutated
    assert all(m.function in {"clamp", "Box.scale"} for m in muts)
    assert not any(m.line <= 5 for m in muts)


def test_specific_mutations_look_right() -> None:
    muts = find_mutations("pkg/mod.py", SAMPLE)
    snippets = {(m.kind, m.mutated_snippet.strip()) for m in muts}
    assert ("flip_comparison", "if v >= low and not strict:") in snippets
    assert ("wrong_boolean_operator", "if v < low or not strict:") in snippets
    assert ("wrong_default", "def clamp(values, low=0, strict=True):") in snippets
    assert ("swapped_arguments", "return max(b, a) - result") in snippets
    assert ("wrong_arithmetic_operator", "total -= len(out)") in snippets
    assert ("off_by_one_bound", "for i in range(len(values) - 1):") in snippets
    removed_else = [m for m in muts if m.kind == "removed_branch" and "else:" in m.original_snippet]
    assert removed_else and "out.append(v)" not in removed_else[0].apply(SAMPLE)


def test_sampling_is_deterministic_and_mixes_kinds() -> None:
    muts = find_mutations("pkg/mod.py", SAMPLE)
    a = [(m.kind, m.start, m.replacement) for m in sample_mutations(list(muts), 7)]
    b = [(m.kind, m.start, m.replacement) for m in sample_mutations(list(muts), 7)]
    c = [(m.kind, m.start, m.replacement) for m in sample_mutations(list(muts), 8)]
    assert a == b and a != c and sorted(a) == sorted(c)
    assert len({k for k, _, _ in a[: len(KINDS)]}) == len(KINDS)  # the first round has one of each kind


def test_real_project_files_give_parseable_single_span_mutants(tmp_path: Path) -> None:
    project = next(p for p in load_projects() if p.name == "cachetools")
    root = unpack_tree(project, tmp_path / "tree")
    files = project.source_files(root)
    assert files and not any("tests/" in f for f in files)
    text = (root / files[0]).read_text()
    muts = sample_mutations(find_mutations(files[0], text), 1)[:40]
    assert len(muts) == 40
    for m in muts:
        if m.is_valid(text):
            new = m.apply(text)
            assert len(new.splitlines()) >= len(text.splitlines()) - (m.end_line - m.line + 1)
            assert _changed_lines(text, new) <= set(range(m.line, m.end_line + 2))


def test_non_ascii_columns_are_handled() -> None:
    text = 'def f(x):\n    s = "é€"; return x < 1\n'
    muts = [m for m in find_mutations("m.py", text) if m.kind == "flip_comparison"]
    assert muts and muts[0].apply(text) == 'def f(x):\n    s = "é€"; return x >= 1\n'


def test_unpack_refuses_a_tampered_sdist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agentgym.envs.swe.synth import projects as P

    project = load_projects()[0]
    bad = tmp_path / project.filename
    with tarfile.open(bad, "w:gz") as tar:
        tar.add(__file__, arcname=f"{project.slug}/x.py")
    monkeypatch.setattr(P, "SDIST_DIR", tmp_path)
    with pytest.raises(P.SynthError, match="sha256"):
        unpack_tree(project, tmp_path / "dest")
