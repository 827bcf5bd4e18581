"""Checks that a token-level record is what the model saw and sampled (the prefix property).

Why: a record whose ids drifted from the model's real input (a re-tokenized turn, a template
glue token missing) trains the policy on sequences it never produced, silently. Two checks a
user can run on their own backend and template, and that tests/test_rl_tokens.py runs on a real
tokenizer: the inputs a backend was given, turn by turn, against the record's prefixes; and the
recorded logprobs against the model's teacher-forced logprobs over the recorded sequence (equal
only when every id before each sampled one is what the model was conditioned on).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentgym.rl.records import TokenEpisode


def prefix_mismatches(episode: TokenEpisode, inputs: Sequence[Sequence[int]]) -> list[int]:
    """Turns whose generate input differs from ``episode.conditioned_on(turn)`` (or is missing)."""
    bad = [k for k in range(len(episode.turns)) if k >= len(inputs) or list(inputs[k]) != episode.conditioned_on(k)]
    return bad + list(range(len(episode.turns), len(inputs)))  # calls the record does not account for


def logprob_gap(episode: TokenEpisode, backend: Any) -> float:
    """Largest |recorded - teacher-forced| logprob over the sampled ids; ``backend.logprobs_of``
    (TransformersBackend has it) scores the whole recorded sequence in one forward pass."""
    seq = episode.prompt_ids + episode.response_ids
    if not episode.turns:
        return 0.0
    forced = backend.logprobs_of(seq, len(episode.prompt_ids), temperature=episode.temperature)
    return max((abs(r - f) for r, f, m in zip(episode.response_logprobs, forced, episode.response_mask) if m), default=0.0)


__all__ = ["logprob_gap", "prefix_mismatches"]
