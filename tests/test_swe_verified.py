"""swe-verified end to end on instances in SWE-bench's own format, built from a local repository;
and the reward hacks that must not resolve an instance."""

from __future__ import annotations

import json
import time

import pytest

import agentgym
from agentgym.envs.swe.instance import DatasetUnavailable, load_instances
from agentgym.validate import validate

import swe_fixture


@pytest.fixture(scope="module")
def calc(tmp_path_factory):
    return swe_fixture.build(tmp_path_factory.mktemp("swe"))


def _make(calc, runtime):
    return agentgym.make("swe-verified", dataset=str(calc["dataset"]), repo_source=str(calc["repo"]), runtime=runtime)


def test_offline_default_dataset_says_how_to_pass_a_file():
    t0 = time.monotonic()
    with pytest.raises(DatasetUnavailable, match=r"dataset='PATH.jsonl'"):
        agentgym.make("swe-verified")
    # `datasets` (installed with swebench) retries an unreachable hub for ~25 s; one probe is enough
    assert time.monotonic() - t0 < 12


def test_loader_reads_swe_bench_json_strings(calc, tmp_path):
    rows = load_instances(calc["dataset"])
    assert rows[0].FAIL_TO_PASS == ["tests/test_ops.py::test_clamp_upper"]
    as_json = tmp_path / "d.json"
    as_json.write_text(json.dumps([r.model_dump() for r in rows]))
    assert [r.instance_id for r in load_instances(as_json)] == ["acme__calc-1", "acme__calc-2"]
    with pytest.raises(FileNotFoundError):
        load_instances(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"repo": "x"}\n')
    with pytest.raises(ValueError, match="record 1 is not a SWE-bench instance"):
        load_instances(bad)


def test_validate_on_locally_built_instances(calc, runtime):
    report = validate("swe-verified", dataset=str(calc["dataset"]), repo_source=str(calc["repo"]), runtime=runtime)
    assert (report.tasks, report.gold_pass_rate, report.null_pass_rate, report.errors) == (2, 1.0, 0.0, 0), report.rows


def test_future_commits_and_hidden_tests_never_reach_the_agent(calc, runtime):
    with _make(calc, runtime) as env:
        obs, _ = env.reset(options={"task_id": "acme__calc-1"})
        assert "clamp(10, 0, 10)" in obs["text"]
        sbx = env.sandbox
        assert sbx.exec("git rev-parse HEAD").stdout.strip() == calc["base"]
        assert not sbx.exec(f"git cat-file -e {calc['future']}").ok  # the fix commit is gone
        assert sbx.exec("git tag; git branch -a; git remote").stdout.split() == ["*", "main"]
        assert "test_clamp_upper" not in sbx.exec("grep -rn test_clamp_upper . ; true").stdout
        assert "hi - 1" in sbx.read_file("calc/ops.py").decode()  # it starts buggy


def _episode(env, task, calls):
    env.reset(options={"task_id": task})
    for call in calls:
        obs, reward, term, trunc, info = env.step(call)
        if term or trunc:
            return reward, info, obs
    obs, reward, term, trunc, info = env.step({"name": "submit"})
    return reward, info, obs


def _edit(path, text):
    return {"name": "editor", "arguments": {"command": "create", "path": path, "file_text": text}}


def _bash(cmd):
    return {"name": "bash", "arguments": {"command": cmd}}


FORCE_PASS_CONFTEST = '''import pytest

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    rep.outcome = "passed"
'''

# Agent code inside the package under test that rewrites every report to "passed".
FORGE_FROM_SOURCE = '''
try:
    import _pytest.reports as _r
    _orig = _r.TestReport.from_item_and_call.__func__

    def _forged(cls, item, call):
        rep = _orig(cls, item, call)
        rep.outcome = "passed"
        rep.longrepr = None
        return rep

    _r.TestReport.from_item_and_call = classmethod(_forged)
except Exception:
    pass
'''

HACKS = {
    "edit-the-tests": [_bash("sed -i 's/== 10/== 9/' tests/test_ops.py")],
    "delete-the-tests": [_bash("git rm -q tests/test_ops.py")],
    "conftest-forces-passes": [_edit("conftest.py", FORCE_PASS_CONFTEST)],
    "pytest-plugin-via-config": [_edit("calc/pytest_hack.py", FORCE_PASS_CONFTEST),
                                 _edit("pytest.ini", "[pytest]\naddopts = -p calc.pytest_hack\n")],
    "deselect-via-setup-cfg": [_edit("setup.cfg", "[metadata]\nname = calc\n[tool:pytest]\naddopts = -k 'not clamp_upper'\n")],
    "fake-passed-lines": [_edit("calc/__init__.py",
                                "print('PASSED tests/test_ops.py::test_clamp_upper')\n"
                                "print('==== 5 passed in 0.01s ====')\n")],
    "forge-reports-from-source": [_edit("calc/__init__.py", FORGE_FROM_SOURCE)],
    "sitecustomize": [_edit("sitecustomize.py", FORGE_FROM_SOURCE)],
}


@pytest.mark.parametrize("hack", list(HACKS))
def test_reward_hacks_do_not_resolve(calc, hack):
    with _make(calc, "local") as env:
        reward, info, obs = _episode(env, "acme__calc-1", HACKS[hack])
        assert "error" not in info, info.get("error")
        assert reward == 0.0 and not info["tool_results"][-1].get("resolved"), obs["text"]
        report = env.last_report
        if hack == "forge-reports-from-source":
            assert report.tampered and "forged" in info["agent_failure"], info
        if hack in ("conftest-forces-passes", "pytest-plugin-via-config", "deselect-via-setup-cfg", "sitecustomize"):
            assert report.ignored_paths, report


@pytest.mark.docker
def test_hacks_fail_in_docker_too(calc):
    with _make(calc, "docker") as env:
        for hack in ("conftest-forces-passes", "forge-reports-from-source", "fake-passed-lines"):
            reward, info, obs = _episode(env, "acme__calc-1", HACKS[hack])
            assert "error" not in info and reward == 0.0, (hack, obs["text"])


def test_a_real_fix_resolves_even_with_test_edits_alongside(calc):
    fix = _bash("sed -i 's/if x >= hi:/if x > hi:/; s/return hi - 1/return hi/' calc/ops.py")
    with _make(calc, "local") as env:
        reward, info, obs = _episode(env, "acme__calc-1", [fix, _bash("echo '# note' >> tests/test_ops.py")])
        assert reward == 1.0, obs["text"]
        assert env.last_report.ignored_paths == ["tests/test_ops.py"]


def test_tools_view_edit_undo_search(calc):
    with _make(calc, "local") as env:
        env.reset(options={"task_id": "acme__calc-1"})
        view = env.step({"name": "editor", "arguments": {"command": "view", "path": "calc/ops.py", "view_range": [9, 13]}})
        assert "def clamp" in view[0]["text"] and "     9\t" in view[0]["text"]
        bad = env.step({"name": "editor", "arguments": {"command": "str_replace", "path": "calc/ops.py", "old_str": "return"}})
        assert "occurs" in bad[0]["text"] and "exactly once" in bad[0]["text"]
        ok = env.step({"name": "editor", "arguments": {"command": "str_replace", "path": "calc/ops.py",
                                                       "old_str": "return hi - 1", "new_str": "return hi"}})
        assert "Edited" in ok[0]["text"]
        assert "return hi - 1" not in env.sandbox.read_file("calc/ops.py").decode()
        env.step({"name": "editor", "arguments": {"command": "undo_edit", "path": "calc/ops.py"}})
        assert "return hi - 1" in env.sandbox.read_file("calc/ops.py").decode()
        env.step({"name": "editor", "arguments": {"command": "insert", "path": "calc/ops.py", "insert_line": 0,
                                                  "new_str": "# top"}})
        assert env.sandbox.read_file("calc/ops.py").decode().startswith("# top\ndef add")
        found = env.step({"name": "search", "arguments": {"pattern": "def (clamp|mean)", "include": "*.py"}})
        assert "calc/ops.py:10:def clamp" in found[0]["text"] and "def mean" in found[0]["text"]
        files = env.step({"name": "search", "arguments": {"pattern": "test_*.py", "kind": "files"}})
        assert "tests/test_ops.py" in files[0]["text"]
        missing = env.step({"name": "editor", "arguments": {"command": "view", "path": "nope.py"}})
        assert "does not exist" in missing[0]["text"]
        # a reset of the same instance restores the tree (no rebuild)
        env.reset(options={"task_id": "acme__calc-1"})
        assert not env.sandbox.read_file("calc/ops.py").decode().startswith("# top")


def test_codemonkeys_selection_with_agent_written_tests(calc):
    """k candidate patches, tests written by agents (not the hidden ones): the right patch is chosen."""
    from agentgym.envs.swe.verify import run_candidate, score_candidates, select_by_tests
    from agentgym.select import hybrid_select

    gold = [json.loads(line) for line in calc["dataset"].read_text().splitlines()][0]["patch"]
    half = gold.replace("+    if x > hi:\n", "+    if x >= hi:\n")  # returns hi, but only from the >= branch
    wrong = gold.replace("+        return hi\n", "+        return hi + 1\n")
    generated = [
        "from calc.ops import clamp\nassert clamp(10, 0, 10) == 10\n",
        "from calc.ops import clamp\nassert clamp(3, 0, 10) == 3 and clamp(-1, 0, 10) == 0\n",
        "from calc.ops import clamp\nassert clamp(99, 0, 10) == 10\n",
    ]
    with _make(calc, "local") as env:
        env.reset(options={"task_id": "acme__calc-1"})
        diffs = ["", wrong, gold, half, gold]
        scores = score_candidates(env, diffs, generated)
        assert scores[2] == scores[4] == 1.0 and scores[0] < 1.0 and scores[1] < 1.0
        assert select_by_tests(diffs, scores) == 2
        assert run_candidate(env, "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n", generated).applied is False
        # hybrid: a judge that prefers the wrong patch is overruled by execution among its top 3
        assert diffs[hybrid_select([0.1, 0.9, 0.8, 0.7, 0.2], scores, keep=3)] == gold


@pytest.mark.docker
def test_disk_budget_removes_least_recently_used_instance_images(calc):
    from agentgym.envs.swe.images import enforce_disk_budget, instance_image, instance_images, touch
    from agentgym.envs.swe.sources import GitSource
    from agentgym.envs.swe.specs import spec_for

    insts = load_instances(calc["dataset"])
    source, spec = GitSource(calc["repo"]), spec_for("acme/calc")
    old, _ = instance_image(insts[0], spec, source)
    new, start = instance_image(insts[1], spec, source)
    assert start == calc["base"]
    touch(old)
    for row in instance_images():  # everything else is more recent than old: only old may go
        if row["tag"] != old:
            touch(row["tag"])
    touch(new)
    mine = [r for r in instance_images() if r["tag"] in (old, new)]
    assert len(mine) == 2 and all(0 < r["bytes"] < 20 * 2**20 for r in mine)  # a small layer per task
    others = sum(r["bytes"] for r in instance_images() if r["tag"] not in (old, new))
    removed = enforce_disk_budget(others + max(r["bytes"] for r in mine) + 1)
    assert old in removed and new not in removed
    tags = {r["tag"] for r in instance_images()}
    assert old not in tags and new in tags
    assert instance_image(insts[0], spec, source)[0] == old  # rebuilt on demand, same content hash
