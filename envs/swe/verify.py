"""Execution-based verification of candidate patches, CodeMonkeys style, without the hidden tests.

Given k candidate diffs for one instance (from k rollouts) and tests that agents wrote themselves
(small Python scripts that exit 0 when the issue is fixed), each candidate is applied in a fresh
sandbox at the instance's start state and every generated test is run against it. The repository's
own visible tests can be run too (a regression check the agent is allowed at test time). The
hidden FAIL_TO_PASS/PASS_TO_PASS tests and the gold patch are never used.

    scores = score_candidates(env, diffs, tests)          # fraction of generated tests passed
    best = select_by_tests(diffs, scores)                 # ties: the most common candidate wins

The scores plug into agentgym.select.hybrid_select (judge filter, then execution).
"""

from __future__ import annotations

import shlex
from collections import Counter
from collections.abc import Sequence

from pydantic import BaseModel, Field

from agentgym.envs.swe import local_env
from agentgym.envs.swe.diffs import filter_diff
from agentgym.envs.swe.grading import GIT_SAFE, scratch_dir, tool_path


class CandidateResult(BaseModel):
    applied: bool
    passed: list[bool] = Field(default_factory=list, description="one per generated test")
    visible_ok: bool | None = Field(None, description="the visible test command passed (None: not run)")

    @property
    def score(self) -> float:
        if not self.applied or not self.passed:
            return 0.0
        return sum(self.passed) / len(self.passed)


def run_candidate(env, diff: str, tests: Sequence[str], *, visible_cmd: str | None = None,  # noqa: ANN001
                  timeout: float = 60.0) -> CandidateResult:
    """Apply diff in a fresh sandbox of env's current instance and run each generated test there."""
    inst = env.instance()
    diff, _ = filter_diff(diff)
    sbx = env._grading_sandbox(inst)
    try:
        scratch = scratch_dir(sbx, "agentgym-verify")
        sbx.exec(f"mkdir -p {shlex.quote(scratch)}", timeout=30)
        if diff.strip():
            sbx.write_file(f"{scratch}/candidate.diff", diff)
            git = f"{tool_path(sbx, 'git')} {GIT_SAFE}"
            if not sbx.exec(f"{git} apply --whitespace=nowarn {shlex.quote(scratch)}/candidate.diff", timeout=60).ok:
                return CandidateResult(applied=False)
        python = "python3"  # docker: the image's
        spec = env._spec_for(inst)
        if env.runtime == "local" and not local_env.uses_sandbox_python(spec):
            python = shlex.quote(str(local_env.ensure(spec, inst.repo)[0]))  # the spec's venv, never agentgym's
        passed = []
        for n, test in enumerate(tests):
            path = f"{scratch}/gen_test_{n}.py"
            sbx.write_file(path, test)
            res = sbx.exec(f"PYTHONPATH=. {python} {shlex.quote(path)}", timeout=timeout)
            passed.append(res.ok)
        visible = None
        if visible_cmd:
            visible = sbx.exec(visible_cmd, timeout=max(timeout, 300)).ok
        return CandidateResult(applied=True, passed=passed, visible_ok=visible)
    finally:
        sbx.close()


def score_candidates(env, diffs: Sequence[str], tests: Sequence[str], **kw) -> list[float]:  # noqa: ANN001
    """Fraction of the generated tests each candidate passes (0 for a diff that does not apply)."""
    cache: dict[str, float] = {}
    out = []
    for diff in diffs:
        if diff not in cache:  # identical candidates are run once
            cache[diff] = run_candidate(env, diff, tests, **kw).score
        out.append(cache[diff])
    return out


def select_by_tests(diffs: Sequence[str], scores: Sequence[float]) -> int:
    """Index of the best-scoring candidate; among ties, the one most rollouts agree on, then the first."""
    if not diffs:
        raise ValueError("no candidates to select from")
    votes = Counter(d.strip() for d in diffs)
    best = max(scores)
    tied = [i for i, s in enumerate(scores) if s == best]
    return max(tied, key=lambda i: (votes[diffs[i].strip()], -i))
