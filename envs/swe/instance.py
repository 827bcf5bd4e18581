"""SWE instances in the SWE-bench schema, and the loaders that read them.

The same model serves SWE-bench Verified (loaded from a JSONL/JSON/Parquet file, or from a Hugging
Face dataset when one is reachable) and the offline synthesized suite (swe-synth). SWE-bench files
store FAIL_TO_PASS / PASS_TO_PASS as JSON-encoded strings; both that and real lists are accepted.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class SWEInstance(BaseModel):
    """One task: a repository at base_commit, an issue, a gold patch and the tests that judge it."""

    model_config = ConfigDict(extra="allow")

    repo: str = Field(description="owner/name, e.g. 'astropy/astropy' (swe-synth: 'pypi/<project>')")
    instance_id: str
    base_commit: str = Field(description="the commit the agent starts from")
    patch: str = Field(description="the gold fix, a unified diff against base_commit (never shown to the agent)")
    test_patch: str = Field("", description="diff adding/updating the judging tests (applied at grading only)")
    problem_statement: str
    hints_text: str = ""
    created_at: str = ""
    version: str = ""
    FAIL_TO_PASS: list[str] = Field(default_factory=list, description="tests that must go from failing to passing")
    PASS_TO_PASS: list[str] = Field(default_factory=list, description="tests that must keep passing")
    environment_setup_commit: str = ""

    @field_validator("FAIL_TO_PASS", "PASS_TO_PASS", mode="before")
    @classmethod
    def _json_list(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = json.loads(v) if v.strip() else []
        return v
