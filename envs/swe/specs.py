"""How to install and test a repository: per-repository, per-version specs for image builds and grading.

A RepoSpec says which environment image a repository's instances run in (built from a generated
Dockerfile: apt packages, pip packages, setup commands, layered on agentgym/swe-base), how its tests
are run, which log parser reads them and how test ids are named. A spec varies by version: its
`versions` map (version -> fields) is layered over the repository's defaults for instances whose
`version` matches, for built-in and user specs alike.

Where a spec comes from, weakest first (spec_for): the SWE-bench repositories' defaults and
per-version entries taken from the `swebench` package (swebench_specs.py), then the user's spec
(a dict, a RepoSpec, or a YAML/JSON file mapping repo -> spec), then the user's entry for the version.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

Parser = Literal["pytest", "django", "sympy"]

#: Where SWE-bench's official images keep conda; `conda_env` is activated from here when it exists.
CONDA_ROOT = "/opt/miniconda3"


class RepoSpec(BaseModel):
    """Install and test recipe for one repository; `versions` holds what differs per version."""

    model_config = ConfigDict(extra="forbid")

    base_image: str = Field("agentgym/swe-base:latest", description="image the environment layer builds on")
    apt: list[str] = Field(default_factory=list, description="Debian packages for the environment image")
    pip: list[str] = Field(default_factory=list, description="pip requirements for the environment image (PyPI must be reachable)")
    setup: list[str] = Field(default_factory=list, description="extra shell commands run while building the environment image")
    install: list[str] = Field(default_factory=list, description="commands run in /testbed when the instance image is built "
                               "(one shell, joined with &&)")
    reinstall: list[str] = Field(default_factory=list, description="commands run again in /testbed at grading, after "
                                 "the patch, before the tests (SWE-bench's eval script reruns its install command: "
                                 "compiled extensions are rebuilt)")
    test_cmd: str = Field("python3 -m pytest -rA -p no:cacheprovider",
                          description="run from /testbed; test files (or ids) are appended")
    parser: Parser = Field("pytest", description="how results are read: 'pytest' (the grader's supervised run), "
                           "'django' (runtests.py --verbosity 2) or 'sympy' (bin/test --verbose)")
    log_parser: str = Field("", description="SWE-bench's log parser whose test names FAIL_TO_PASS / PASS_TO_PASS use "
                            "(e.g. 'parse_log_pytest_options'); empty: pytest node ids as they are")
    pythonpath: str = Field("", description="PYTHONPATH entries relative to /testbed, ':'-separated")
    env: dict[str, str] = Field(default_factory=dict, description="environment variables of the test run")
    eval_commands: list[str] = Field(default_factory=list, description="shell commands run in /testbed before the "
                                     "tests at grading, in the test's shell (SWE-bench's: locale exports and the like)")
    python: str = Field("", description="the Python version the repository's environment uses (SWE-bench's spec); "
                        "the built-in base image has Debian's Python 3.11: other versions need a base_image or "
                        "the official image that has it")
    conda_env: str = Field("", description=f"conda environment activated (from {CONDA_ROOT}) in the test's shell "
                           "where the image has conda: 'testbed' in SWE-bench's official images; an image without "
                           "conda runs the tests with its own python")
    test_timeout: float = Field(900.0, gt=0, description="seconds for the whole grading test run")
    isolate_runner: bool = Field(True, description="import pytest and the standard library before the repository "
                                 "is on sys.path, and refuse a run where they came from it; False only where the "
                                 "code under test is pytest itself (pytest-dev/pytest)")
    versions: dict[str, dict[str, Any]] = Field(default_factory=dict, description="version -> spec fields layered "
                                                "over these defaults for instances of that `version` (quote versions "
                                                "in YAML: 3.10 is not '3.10')")

    @field_validator("versions", mode="before")
    @classmethod
    def _check_versions(cls, v: Any) -> Any:
        if not isinstance(v, dict):
            return v
        out: dict[str, dict[str, Any]] = {}
        for version, body in v.items():
            if not isinstance(body, dict):
                raise ValueError(f"versions[{version!r}] must be a map of spec fields, not {type(body).__name__}")
            if "versions" in body:
                raise ValueError(f"versions[{version!r}] cannot hold another 'versions' map")
            try:  # unknown fields and bad values fail here, naming the version and the field
                RepoSpec.model_validate(body)
            except ValidationError as exc:
                raise ValueError(f"versions[{str(version)!r}]: {one_line(exc)}") from None
            out[str(version)] = dict(body)
        return out

    def for_version(self, version: str | None) -> RepoSpec:
        """This spec with versions[version] layered over it (and no `versions` left). A version the map does
        not list raises ValueError when the map is not empty (the environment would be a guess)."""
        if not self.versions:
            return self
        if version is None:
            return self.model_copy(update={"versions": {}})
        if str(version) not in self.versions:
            raise ValueError(f"the spec has no entry for version {version!r} (it lists {_span(self.versions)}); add "
                             f"repo_specs={{REPO: {{'versions': {{'{version}': {{...fields...}}}}}}}}")
        body = {**self.model_dump(exclude={"versions"}, exclude_unset=False), **self.versions[str(version)]}
        return RepoSpec.model_validate(body)

    def activation(self) -> str:
        """Shell prefix activating `conda_env` where the image has conda ('' when no env is named)."""
        if not self.conda_env:
            return ""
        act = f"{CONDA_ROOT}/bin/activate"
        return f"if [ -f {act} ]; then . {act} {shlex.quote(self.conda_env)}; fi; "

    def prelude(self, log: str = "/dev/null", reinstall: bool = True) -> str:
        """Shell for the test command's own shell, run in /testbed after the patch: conda activation (where the
        image has conda), eval_commands, then reinstall (unless reinstall=False: the pytest grader runs it in a
        step of its own, see grading.py); their output is appended to `log`, and a failing step does not stop
        the tests (as in SWE-bench's eval script, which has no `set -e`)."""
        cmds = [*self.eval_commands, *(self.reinstall if reinstall else [])]
        steps = "".join(f"{{ {cmd}\n}} >>{shlex.quote(log)} 2>&1; " for cmd in cmds)
        return self.activation() + steps

    def test_args(self, files: list[str]) -> list[str]:
        """The test command's arguments for these test files, as SWE-bench's eval script makes them (its
        get_test_directives): files that are not tests (by extension) left out, and for Django's runner a
        dotted label per file (tests/model_fields/tests.py -> model_fields.tests), which is all it takes.
        For pytest, other files than .py are left out too (one it cannot collect fails the whole run);
        folders and node ids stay."""
        from agentgym.envs.swe.swebench_specs import non_test_extensions

        skip = non_test_extensions()
        kept = [f for f in files if not f.endswith(skip)]
        if self.parser == "pytest":  # pytest exits 4 on a file it cannot collect: .py files, folders, node ids
            return [f for f in kept if "::" in f or f.endswith(".py") or "." not in f.rsplit("/", 1)[-1]]
        if self.parser != "django":
            return kept
        labels = (f.removesuffix(".py").removeprefix("tests/").replace("/", ".") for f in kept)
        return list(dict.fromkeys(labels))

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
                         "python3 -m pip install --break-system-packages " + " ".join(shlex.quote(p) for p in self.pip))
        lines += [f"RUN {cmd}" for cmd in self.setup]
        lines.append("WORKDIR /testbed")
        return "\n".join(lines) + "\n"


def one_line(exc: ValidationError) -> str:
    """pydantic's errors as one line: 'field: message; ...' (the input is not repeated)."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'spec'}: {e['msg']}" for e in exc.errors())


def _span(versions: dict[str, Any]) -> str:
    keys = list(versions)
    return ", ".join(keys) if len(keys) <= 8 else f"{len(keys)} versions: {', '.join(keys[:4])} ... {keys[-1]}"


#: Defaults where the swebench package is not installed (test command and log format only).
KNOWN: dict[str, dict[str, Any]] = {
    "django/django": {"test_cmd": "./tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1",
                      "parser": "django"},
    "sympy/sympy": {"test_cmd": "bin/test -C --verbose", "parser": "sympy"},
    "pytest-dev/pytest": {"isolate_runner": False},
}


def builtin_spec(repo: str) -> dict[str, Any]:
    """The built-in layer for repo: SWE-bench's (with `versions`) when swebench is installed, else KNOWN's."""
    from agentgym.envs.swe import swebench_specs

    return swebench_specs.repo_spec(repo) or dict(KNOWN.get(repo, {}))


def _user_layer(overrides: dict[str, Any] | RepoSpec | None) -> dict[str, Any]:
    if overrides is None:
        return {}
    if isinstance(overrides, RepoSpec):  # only what the user set, so the built-in layer shows through the rest
        return overrides.model_dump(include=set(overrides.model_fields_set))
    if not isinstance(overrides, dict):
        raise TypeError(f"a repo spec is a dict of RepoSpec fields, not {type(overrides).__name__}")
    return dict(overrides)


def spec_for(repo: str, overrides: dict[str, Any] | RepoSpec | None = None, *, version: str | None = None) -> RepoSpec:
    """The spec of `repo` at `version`: built-in defaults < built-in versions[version] < overrides <
    overrides' versions[version]. version=None (or ''): the defaults, with the merged `versions` map kept.

    Raises ValueError (pydantic's, naming the field) for a bad field, and for a version that a non-empty
    `versions` map does not list."""
    version = str(version) if version not in (None, "") else None
    base, user = builtin_spec(repo), _user_layer(overrides)
    theirs, mine = _versions(base), _versions(user)
    plain = {**_fields(base), **_fields(user)}
    if version is None:
        merged = {v: {**theirs.get(v, {}), **mine.get(v, {})} for v in {**theirs, **mine}}
        return RepoSpec.model_validate({**plain, "versions": merged})
    if version not in theirs and version not in mine:
        if theirs or mine:
            raise ValueError(f"{repo}: no spec for version {version!r} (listed: {_span({**theirs, **mine})}); "
                             f"add repo_specs={{'{repo}': {{'versions': {{'{version}': {{...fields...}}}}}}}}")
        return RepoSpec.model_validate(plain)
    # the user's repo-level fields beat the built-in version entry; the user's version entry beats both
    return RepoSpec.model_validate({**_fields(base), **theirs.get(version, {}), **_fields(user), **mine.get(version, {})})


def _fields(layer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in layer.items() if k != "versions"}


def _versions(layer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = layer.get("versions") or {}
    if not isinstance(found, dict):
        raise ValueError(f"'versions' must map version -> spec fields, not {type(found).__name__}")
    return {str(v): dict(body or {}) for v, body in found.items()}


def load_specs(source: str | Path | dict[str, Any] | None) -> dict[str, RepoSpec]:
    """repo -> RepoSpec from a dict or a YAML/JSON file (`{"owner/name": {...spec...}}`), as the user wrote
    them: spec_for(repo, specs.get(repo), version=...) layers them over the built-in defaults."""
    if source is None:
        return {}
    if not isinstance(source, dict):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"repo spec file {path} does not exist (a YAML/JSON map of 'owner/name' -> spec)")
        source = yaml.safe_load(path.read_text()) or {}
        if not isinstance(source, dict):
            raise ValueError(f"repo spec file {path} must map 'owner/name' -> spec fields")
    out = {}
    for repo, body in source.items():
        try:
            out[repo] = body if isinstance(body, RepoSpec) else RepoSpec.model_validate(body or {})
        except ValidationError as exc:
            raise ValueError(f"repo spec for {repo}: {one_line(exc)}") from None
    return out


def spec_fields_markdown() -> str:
    """The table of RepoSpec's fields (name, default, description) that envs/swe/README.md shows; a test
    keeps the two equal, so the documentation cannot drift from the model."""
    rows = ["| field | default | what it is |", "|---|---|---|"]
    for name, field in RepoSpec.model_fields.items():
        default = field.default_factory() if field.default_factory is not None else field.default  # type: ignore[call-arg]
        rows.append(f"| `{name}` | `{json.dumps(default)}` | {(field.description or '').replace('|', '/')} |")
    return "\n".join(rows) + "\n"
