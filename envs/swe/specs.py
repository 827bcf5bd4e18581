"""How to install and test a repository: per-repository specs for local image builds and grading.

A RepoSpec says which environment image a repository's instances run in (built from a generated
Dockerfile: apt packages, pip packages, setup commands, layered on agentgym/base), how its tests
are run, and which log parser reads them. Known SWE-bench repositories have defaults (test command
and parser); anything else is given by the user (a dict, or a YAML/JSON file mapping repo -> spec).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

Parser = Literal["pytest", "django", "sympy"]


class RepoSpec(BaseModel):
    """Install and test recipe for one repository (optionally per version)."""

    model_config = ConfigDict(extra="forbid")

    base_image: str = Field("agentgym/swe-base:latest", description="image the environment layer builds on")
    apt: list[str] = Field(default_factory=list, description="Debian packages for the environment image")
    pip: list[str] = Field(default_factory=list, description="pip requirements for the environment image (PyPI must be reachable)")
    setup: list[str] = Field(default_factory=list, description="extra shell commands run while building the environment image")
    install: list[str] = Field(default_factory=list, description="commands run in /testbed when the instance image is built")
    test_cmd: str = Field("python3 -m pytest -rA -p no:cacheprovider",
                          description="run from /testbed; test files (or ids) are appended")
    parser: Parser = "pytest"
    pythonpath: str = Field("", description="PYTHONPATH entries relative to /testbed, ':'-separated")
    env: dict[str, str] = Field(default_factory=dict)
    test_timeout: float = Field(900.0, gt=0, description="seconds for the whole grading test run")
    isolate_runner: bool = Field(True, description="import pytest and the standard library before the repository "
                                 "is on sys.path, and refuse a run where they came from it; False only where the "
                                 "code under test is pytest itself (pytest-dev/pytest)")

    def env_hash(self) -> str:
        """Content hash of the environment layer (instances of one spec share one image)."""
        keep = self.model_dump(include={"base_image", "apt", "pip", "setup"})
        return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:12]

    def dockerfile(self) -> str:
        lines = [f"FROM {self.base_image}", "ENV DEBIAN_FRONTEND=noninteractive"]
        if self.apt:
            lines.append("RUN apt-get update && apt-get install -y --no-install-recommends "
                         + " ".join(sorted(self.apt)) + " && rm -rf /var/lib/apt/lists/*")
        if self.pip:
            # the build context carries the host's CA bundle (empty when there is none) for pip
            lines.append("COPY agentgym-ca.crt /tmp/agentgym-ca.crt")
            lines.append("RUN if [ -s /tmp/agentgym-ca.crt ]; then export PIP_CERT=/tmp/agentgym-ca.crt; fi; "
                         "python3 -m pip install --break-system-packages " + " ".join(self.pip))
        lines += [f"RUN {cmd}" for cmd in self.setup]
        lines.append("WORKDIR /testbed")
        return "\n".join(lines) + "\n"


#: Defaults for repositories of SWE-bench (test command and log format). Their environment needs
#: (versions of Python and of dependencies) vary per version: pass a spec to build them locally.
KNOWN: dict[str, dict[str, Any]] = {
    "django/django": {"test_cmd": "./tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1",
                      "parser": "django"},
    "sympy/sympy": {"test_cmd": "bin/test -C --verbose", "parser": "sympy"},
    "pytest-dev/pytest": {"isolate_runner": False},
}


def spec_for(repo: str, overrides: dict[str, Any] | RepoSpec | None = None) -> RepoSpec:
    if isinstance(overrides, RepoSpec):
        return overrides
    return RepoSpec.model_validate({**KNOWN.get(repo, {}), **(overrides or {})})


def load_specs(source: str | Path | dict[str, Any] | None) -> dict[str, RepoSpec]:
    """repo -> RepoSpec from a dict or a YAML/JSON file (`{"owner/name": {...spec...}}`)."""
    if source is None:
        return {}
    if not isinstance(source, dict):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"repo spec file {path} does not exist (a YAML/JSON map of 'owner/name' -> spec)")
        source = yaml.safe_load(path.read_text()) or {}
    assert isinstance(source, dict)
    return {repo: spec_for(repo, body) for repo, body in source.items()}
