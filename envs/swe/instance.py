"""SWE instances in the SWE-bench schema, and the loaders that read them.

The same model serves SWE-bench Verified (loaded from a JSONL/JSON/Parquet file, or from a Hugging
Face dataset when one is reachable) and the offline synthesized suite (swe-synth). SWE-bench files
store FAIL_TO_PASS / PASS_TO_PASS as JSON-encoded strings; both that and real lists are accepted.
"""

from __future__ import annotations

import json
import os
import socket
import urllib.parse
from pathlib import Path
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
    version: str = Field("", description="the repository version the instance belongs to (SWE-bench's, e.g. '3.0'); "
                         "it picks the spec's `versions` entry (see specs.py)")
    FAIL_TO_PASS: list[str] = Field(default_factory=list, description="tests that must go from failing to passing")
    PASS_TO_PASS: list[str] = Field(default_factory=list, description="tests that must keep passing")
    environment_setup_commit: str = ""

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, v: Any) -> Any:
        # a JSON/Parquet writer may store 3.0 as a number; None where a row has no version
        return "" if v is None else str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v

    @field_validator("FAIL_TO_PASS", "PASS_TO_PASS", mode="before")
    @classmethod
    def _json_list(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = json.loads(v) if v.strip() else []
        return v


#: The Hugging Face dataset `agentgym.make("swe-verified")` loads by default.
VERIFIED_DATASET = "princeton-nlp/SWE-bench_Verified"


class DatasetUnavailable(RuntimeError):
    """The asked dataset cannot be had here (offline, or `datasets` not installed)."""


def load_instances(dataset: str | Path, split: str = "test") -> list[SWEInstance]:
    """Instances from a local .jsonl / .json / .parquet file, or a Hugging Face dataset name."""
    path = Path(str(dataset)).expanduser()
    if path.is_file():
        return _load_file(path)
    if path.suffix in (".jsonl", ".json", ".parquet") or str(dataset).startswith((".", "/", "~")):
        raise FileNotFoundError(f"dataset file {path} does not exist")
    return _load_hub(str(dataset), split)


def _load_file(path: Path) -> list[SWEInstance]:
    if path.suffix == ".parquet":
        try:
            import pandas as pd
        except ImportError:
            raise DatasetUnavailable("reading .parquet needs pandas and pyarrow (pip install pandas pyarrow); "
                                     "or convert the file to JSONL") from None
        rows = pd.read_parquet(path).to_dict(orient="records")
    elif path.suffix == ".json":
        data = json.loads(path.read_text())
        rows = data if isinstance(data, list) else data.get("instances", [])
    else:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    out = []
    for n, row in enumerate(rows, 1):
        try:
            out.append(SWEInstance.model_validate(row))
        except ValueError as exc:
            raise ValueError(f"{path}: record {n} is not a SWE-bench instance: {exc}") from None
    if not out:
        raise ValueError(f"{path} holds no instances")
    return out


def _load_hub(name: str, split: str) -> list[SWEInstance]:
    hint = (f"pass a local file instead: agentgym.make('swe-verified', dataset='PATH.jsonl') with rows in "
            f"the SWE-bench schema (e.g. exported once with datasets.load_dataset('{name}', split='{split}')"
            ".to_json('swe_verified.jsonl')), plus repo_source=PATH of a clone for local image builds")
    try:
        import datasets  # type: ignore[import-not-found]
    except ImportError:
        raise DatasetUnavailable(f"cannot load {name!r}: the `datasets` package is not installed; {hint}") from None
    offline = any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
    if not offline and not _hub_reachable():
        # datasets retries an unreachable hub for ~25 s before giving up: one quick probe first
        raise DatasetUnavailable(f"cannot load {name!r}: the Hugging Face hub is unreachable from here (a copy "
                                 f"already in the datasets cache loads with HF_DATASETS_OFFLINE=1); {hint}")
    try:
        ds = datasets.load_dataset(name, split=split)
    except Exception as exc:  # noqa: BLE001 - offline, gated, renamed...
        raise DatasetUnavailable(f"cannot load {name!r} from the Hugging Face hub ({type(exc).__name__}); {hint}") from None
    return [SWEInstance.model_validate(dict(row)) for row in ds]


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the hub's host (HF_ENDPOINT or huggingface.co) opens in `timeout` s."""
    url = urllib.parse.urlsplit(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    port = url.port or (80 if url.scheme == "http" else 443)
    try:
        socket.create_connection((url.hostname or "huggingface.co", port), timeout=timeout).close()
    except OSError:
        return False
    return True
