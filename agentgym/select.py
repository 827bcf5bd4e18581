"""Selection among k rollouts of a task: best-of-n by verifier score, majority vote over final
answers, and verifiers with known error rates to measure what imperfect verification costs.

Selectors have the signature ``(samples, rng) -> index`` used by metrics.selected_accuracy, so
the same function selects in a sweep and is evaluated in a report. "Inference Scaling fLaws":
with a verifier that accepts wrong answers at rate fp, best-of-k accuracy is capped below
coverage; ``verifier_ceiling`` is that cap, for tests and for reports to draw next to the curve.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, Field

from agentgym.metrics import Sample, Selector
from agentgym.models.base import ModelBackend
from agentgym.rollout import Trajectory


def final_answer(traj: Trajectory, tool: str = "submit") -> str | None:
    """The arguments of the last `tool` call, canonical JSON (so equal answers vote together)."""
    for step in reversed(traj.steps):
        actions = step.action if isinstance(step.action, list) else [step.action]
        for a in reversed(actions):
            if isinstance(a, dict):
                name = a.get("name") or (a.get("function") or {}).get("name")
                if name == tool:
                    args = a.get("arguments", (a.get("function") or {}).get("arguments", {}))
                    if isinstance(args, str):
                        try:
                            args = json.loads(args)
                        except json.JSONDecodeError:
                            return args
                    return json.dumps(args, sort_keys=True)
    return None


def sample_from_trajectory(traj: Trajectory, score: float | None = None, cost: float = 0.0) -> Sample:
    return Sample(passed=traj.passed, answer=final_answer(traj), score=score, cost=cost, error=traj.error is not None)


def majority_vote(samples: Sequence[Sample], rng: np.random.Generator | None = None) -> int:
    """The first sample carrying the most common non-empty answer (ties: earliest answer seen)."""
    counts = Counter(s.answer for s in samples if s.answer is not None)
    if not counts:
        return 0
    top = max(counts.values())
    winner = next(s.answer for s in samples if s.answer is not None and counts[s.answer] == top)
    return next(i for i, s in enumerate(samples) if s.answer == winner)


def best_of_n(samples: Sequence[Sample], rng: np.random.Generator | None = None) -> int:
    """The highest verifier score (ties: the earliest). Unscored samples rank last."""
    scores = [s.score if s.score is not None else -np.inf for s in samples]
    return int(np.argmax(scores))


class NoisyVerifier(BaseModel):
    """A verifier with known error rates, drawn from the rng it is given: it accepts a correct
    sample with probability 1 - fn_rate and a wrong one with probability fp_rate."""

    fp_rate: float = Field(0.0, ge=0, le=1)
    fn_rate: float = Field(0.0, ge=0, le=1)

    def score(self, sample: Sample, rng: np.random.Generator) -> float:
        accept = rng.random() >= self.fn_rate if sample.passed else rng.random() < self.fp_rate
        return 1.0 if accept else 0.0

    def selector(self) -> Selector:
        """Best-of-n over this verifier's scores (first accepted sample; none: the first)."""
        def select(samples: Sequence[Sample], rng: np.random.Generator) -> int:
            scored = [s.model_copy(update={"score": self.score(s, rng)}) for s in samples]
            return best_of_n(scored)
        return select


def verifier_ceiling(p: float, k: int, fp_rate: float, fn_rate: float = 0.0) -> float:
    """Expected accuracy of NoisyVerifier.selector() on k samples that are each correct with
    probability p. Sample i is picked when all before it are rejected (each with probability
    r) and it is accepted; if all k are rejected the first is returned."""
    accept_correct = p * (1 - fn_rate)
    r = p * fn_rate + (1 - p) * (1 - fp_rate)
    p_correct_given_rejected = (p * fn_rate / r) if r > 0 else 0.0
    picked_correct = sum(accept_correct * r**i for i in range(k))
    return picked_correct + r**k * p_correct_given_rejected


def select_trajectories(trajs: Sequence[Trajectory], selector: Selector, scores: Sequence[float] | None = None, seed: int = 0) -> Trajectory:
    """Apply a selector to rollouts of one task."""
    if not trajs:
        raise ValueError("nothing to select from")
    samples = [sample_from_trajectory(t, score=None if scores is None else scores[i]) for i, t in enumerate(trajs)]
    return trajs[selector(samples, np.random.default_rng(seed))]




# -- model-based verifiers (LLM judges) and the hybrid (R2E-Gym: judge filter, then execution) ------

JUDGE_YES_NO = (
    "You are a strict reviewer. Below is a task and the transcript of an agent's attempt. Did the "
    "agent solve the task correctly? Answer with exactly one word: YES or NO."
)
JUDGE_LISTWISE = (
    "You are a strict reviewer. Below is a task and {n} candidate attempts, numbered from 1. Which "
    "candidate most likely solves the task correctly? Answer with the candidate's number only."
)


def transcript(traj: Trajectory, max_chars: int = 6000) -> str:
    """A trajectory as text for a judge; the tail is kept (the end is where answers are)."""
    lines = [f"OBSERVATION: {traj.first_observation}"]
    for step in traj.steps:
        lines += [f"ACTION: {json.dumps(step.action, default=str)}", f"OBSERVATION: {step.observation}"]
    text = "\n".join(lines)
    return text if len(text) <= max_chars else "...(earlier steps cut)...\n" + text[-max_chars:]


async def judge_score(backend: ModelBackend, task: str, traj: Trajectory, *, n: int = 1, temperature: float = 0.0) -> float:
    """Yes/no scoring: the fraction of n judge samples that answer YES (n > 1 smooths the score)."""
    messages = [{"role": "system", "content": JUDGE_YES_NO}, {"role": "user", "content": f"TASK:\n{task}\n\nTRANSCRIPT:\n{transcript(traj)}"}]
    result = await backend.chat(messages, n=n, temperature=temperature, max_tokens=4)
    votes = [(c.message.content or "").strip().upper().startswith("YES") for c in result.choices]
    return sum(votes) / len(votes) if votes else 0.0


async def judge_listwise(backend: ModelBackend, task: str, trajs: Sequence[Trajectory], *, temperature: float = 0.0) -> int:
    """List-wise choice: the judge sees every candidate at once and names one. An answer that is
    not a valid number falls back to candidate 0 (recorded by the caller, not guessed here)."""
    if not trajs:
        raise ValueError("nothing to choose from")
    per = max(500, 12000 // len(trajs))
    body = "\n\n".join(f"CANDIDATE {i + 1}:\n{transcript(t, per)}" for i, t in enumerate(trajs))
    messages = [{"role": "system", "content": JUDGE_LISTWISE.format(n=len(trajs))}, {"role": "user", "content": f"TASK:\n{task}\n\n{body}"}]
    result = await backend.chat(messages, temperature=temperature, max_tokens=8)
    match = re.search(r"\d+", result.message.content or "")
    idx = int(match.group()) - 1 if match else -1
    return idx if 0 <= idx < len(trajs) else 0


def hybrid_select(judge_scores: Sequence[float], exec_scores: Sequence[float], keep: int = 3) -> int:
    """Keep the `keep` candidates the judge likes best, then take the best execution score among
    them (ties: the judge's order). Each verifier covers the other's blind spots."""
    if len(judge_scores) != len(exec_scores) or not judge_scores:
        raise ValueError("need one judge score and one execution score per candidate")
    kept = sorted(range(len(judge_scores)), key=lambda i: -judge_scores[i])[: max(1, keep)]
    return max(kept, key=lambda i: (exec_scores[i], -kept.index(i)))


__all__ = [
    "NoisyVerifier", "best_of_n", "final_answer", "hybrid_select", "judge_listwise", "judge_score", "majority_vote",
    "sample_from_trajectory", "select_trajectories", "transcript", "verifier_ceiling",
]
