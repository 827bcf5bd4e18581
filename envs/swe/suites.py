"""The registered SWE suites: swe-verified (SWE-bench format) and swe-synth / swe-synth-lite.

Both go through the same loader (instance.py), image builder (images.py) and grader (grading.py);
they differ only in where instances and repositories come from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentgym.envs.swe import local_env
from agentgym.envs.swe.env import SWEEnv
from agentgym.envs.swe.instance import VERIFIED_DATASET, SWEInstance, load_instances
from agentgym.envs.swe.sources import GitSource, RepoSource, SourceError, SynthSource
from agentgym.envs.swe.specs import RepoSpec, load_specs, spec_for
from agentgym.sandbox.factory import resolve_runtime

SYNTH_DIR = Path(__file__).parent / "data" / "synth"
SYNTH_IMAGE = "agentgym/swe-synth:latest"


def _pick(instances: list[SWEInstance], instance_ids: list[str] | None, limit: int | None) -> list[SWEInstance]:
    if instance_ids:
        by_id = {i.instance_id: i for i in instances}
        unknown = [i for i in instance_ids if i not in by_id]
        if unknown:
            raise ValueError(f"unknown instance ids {unknown[:5]}; the dataset has e.g. {list(by_id)[:5]}")
        instances = [by_id[i] for i in instance_ids]
    return instances[:limit] if limit else instances


def make_verified(
    dataset: str | Path | None = None,
    *,
    split: str = "test",
    repo_source: str | Path | dict[str, str | Path] | None = None,
    repo_specs: str | Path | dict[str, Any] | None = None,
    instance_ids: list[str] | None = None,
    limit: int | None = None,
    **kwargs: Any,
) -> SWEEnv:
    """SWE-bench Verified (or any SWE-bench-format file). dataset=PATH of a JSONL/JSON/Parquet file;
    repo_source=PATH of a clone (or {repo: PATH}) to build instance images locally; repo_specs: how
    to install and test each repository (defaults: pytest, Django's runner, sympy's bin/test). On the
    local runtime each spec's tests run in a venv built for it (local_env.py); a spec that needs more
    than pip (Debian packages, setup commands) is refused here with one line."""
    instances = _pick(load_instances(dataset or VERIFIED_DATASET, split), instance_ids, limit)
    sources: dict[str, RepoSource] = {}
    if isinstance(repo_source, dict):
        sources = {repo: GitSource(path) for repo, path in repo_source.items()}
    elif repo_source is not None:
        repos = {i.repo for i in instances}
        if len(repos) > 1:
            raise ValueError(f"repo_source is one path but the dataset spans {len(repos)} repositories; "
                             "pass a dict {'owner/name': PATH}")
        sources = {repos.pop(): GitSource(repo_source)}
    specs = load_specs(repo_specs)

    def source_for(inst: SWEInstance) -> RepoSource:
        if inst.repo not in sources:
            raise SourceError(f"no repository source for {inst.repo} ({inst.instance_id}) and no official image "
                              "here: pass repo_source={'" + inst.repo + "': PATH_OF_A_CLONE}")
        return sources[inst.repo]

    def spec_of(inst: SWEInstance) -> RepoSpec:
        return spec_for(inst.repo, specs.get(inst.repo), version=inst.version)  # built-in < user, per version

    kwargs["runtime"] = resolve_runtime(kwargs.get("runtime", "auto"))
    if kwargs["runtime"] == "local":  # a venv per spec, or one line now
        for inst in {(i.repo, i.version): i for i in instances}.values():  # specs differ per version
            why = local_env.refusal(spec_of(inst), inst.repo)
            if why:
                raise ValueError(why)
    return SWEEnv(instances, source_for, spec_of, **kwargs)


def synth_instances(split: str = "full") -> list[SWEInstance]:
    path = SYNTH_DIR / "instances.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; regenerate it with `python -m agentgym.envs.swe.synth.generate`")
    instances = load_instances(path)
    if split == "lite":
        instances = [i for i in instances if getattr(i, "split", None) == "lite"]
    return instances


def synth_spec(inst: SWEInstance) -> RepoSpec:
    from agentgym.envs.swe.synth.projects import project_for

    project = project_for(inst.repo, inst.version)
    return RepoSpec(base_image=SYNTH_IMAGE, test_cmd=project.test_cmd, pythonpath=project.pythonpath,
                    test_timeout=300)


def make_synth(split: str = "full", *, instance_ids: list[str] | None = None, limit: int | None = None,
               **kwargs: Any) -> SWEEnv:
    """The offline synthesized suite: bugs injected into real PyPI projects, validated by their tests."""
    source = SynthSource()
    return SWEEnv(_pick(synth_instances(split), instance_ids, limit), lambda _i: source, synth_spec, **kwargs)
