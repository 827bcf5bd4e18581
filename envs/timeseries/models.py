"""Pydantic models at the domain's boundaries: task specs (the catalog), submission specs, the
grade report, and the built task instance (whose hidden part never leaves the host process)."""

from __future__ import annotations

from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

Family = Literal["forecast", "classify", "anomaly", "impute", "engineering"]


class TaskSpec(BaseModel):
    """One catalog entry: enough to rebuild the task deterministically from its seed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    family: Family
    variant: str = Field(description="generator recipe, e.g. synth, exog, quantile, real, repair, tune")
    seed: int
    params: dict[str, Any] = Field(default_factory=dict)
    pass_reward: float | None = Field(None, description="override of the threshold derived from baselines")


class SubmissionSpec(BaseModel):
    """What the agent hands in and where."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["csv", "module", "json", "npz"] = Field(description="json: a tuning config or a model artifact "
                                                                      "(by the task's variant); npz: a model artifact")
    path: str = Field(description="path relative to the working directory")
    columns: list[str] = Field(default_factory=list, description="csv: exact column set, 'id' first")
    numeric: list[str] = Field(default_factory=list, description="csv columns that must be finite floats")
    binary: list[str] = Field(default_factory=list, description="csv columns that must be 0 or 1")
    labels: list[str] = Field(default_factory=list, description="csv 'label' values allowed")
    function: str | None = Field(None, description="module: the function the grader calls")


class GradeReport(BaseModel):
    """What submit() reports (also in info['grade'])."""

    valid: bool
    message: str
    metric: str
    score: float | None = None
    lower_is_better: bool = True
    reward: float = 0.0
    passed: bool = False
    pass_reward: float = 1.0
    medals: list[str] = Field(default_factory=list)
    baselines: dict[str, float] = Field(default_factory=dict)
    floor: float | None = Field(None, description="best trivial predictor's score (reward 0 at or below it)")
    reference: float | None = None
    per_series: dict[str, float] = Field(default_factory=dict)
    extra: dict[str, float] = Field(default_factory=dict, description="secondary metrics (e.g. auc_pr for anomalies)")


class TaskInstance(BaseModel):
    """A built task. `answers` and `hidden_inputs` stay in the host process: never written to a sandbox."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    spec: TaskSpec
    statement: str
    public_files: dict[str, str]
    submission: SubmissionSpec
    metric: str
    lower_is_better: bool
    answers: pd.DataFrame = Field(exclude=True, repr=False)
    context: dict[str, Any] = Field(default_factory=dict, exclude=True, repr=False)
    hidden_inputs: dict[str, str] = Field(default_factory=dict, exclude=True, repr=False)
    floor: float
    baselines: dict[str, float]
    reference: float
    pass_reward: float
    reference_files: dict[str, str] = Field(default_factory=dict)
    reference_command: str = ""
