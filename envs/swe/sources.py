"""Where an instance's repository comes from: a local git clone or mirror, or the synth suite's sdists.

A source materializes the repository at the instance's base_commit into a host directory, as a git
repository whose HEAD is the starting commit. Nothing later than base_commit may survive (R2E-Gym
and SWE-bench images kept future commits reachable through refs and reflogs): the clone is cut to
one branch at base_commit, every other ref, the remote and the reflog are dropped, and unreachable
objects are pruned.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Protocol

from agentgym.diskcache import cache_root, publish_dir
from agentgym.envs.swe.instance import SWEInstance

_GIT_ENV = {
    "GIT_AUTHOR_NAME": "agentgym", "GIT_AUTHOR_EMAIL": "agentgym@localhost",
    "GIT_COMMITTER_NAME": "agentgym", "GIT_COMMITTER_EMAIL": "agentgym@localhost",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0",
}


class SourceError(RuntimeError):
    """The repository cannot be produced at the asked commit (says what to pass instead)."""


def git(*args: str, cwd: str | Path | None = None, timeout: float = 600) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **_GIT_ENV})
    if proc.returncode != 0:
        raise SourceError(f"git {' '.join(args[:3])} failed in {cwd or '.'}: {proc.stderr.strip()[:500]}")
    return proc.stdout


class RepoSource(Protocol):
    def materialize(self, instance: SWEInstance, dest: Path) -> str:
        """Write the repository at the instance's start state into dest; return HEAD's commit id."""

    def key(self, instance: SWEInstance) -> str:
        """A stable identity of what materialize() produces (for content-hashed image tags)."""


class GitSource:
    """A local clone or mirror of the instance's repository (`git clone --mirror` is fine)."""

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser().resolve()
        if not (self.path / ".git").exists() and not (self.path / "HEAD").is_file():
            raise SourceError(f"{self.path} is not a git repository or mirror; pass repo_source=PATH of a clone")

    def key(self, instance: SWEInstance) -> str:
        return f"git:{instance.repo}@{instance.base_commit}"

    def materialize(self, instance: SWEInstance, dest: Path) -> str:
        dest = Path(dest)
        if dest.exists():
            shutil.rmtree(dest)
        git("clone", "--quiet", "--no-checkout", "--no-hardlinks", str(self.path), str(dest))
        try:
            git("cat-file", "-e", f"{instance.base_commit}^{{commit}}", cwd=dest)
        except SourceError:
            raise SourceError(f"{self.path} has no commit {instance.base_commit} ({instance.instance_id}); "
                              "fetch it into the clone (git fetch --all) or point repo_source at a fuller mirror") from None
        git("checkout", "--quiet", "-B", "main", instance.base_commit, cwd=dest)
        git("remote", "remove", "origin", cwd=dest)
        for ref in git("for-each-ref", "--format=%(refname)", cwd=dest).split():
            if ref != "refs/heads/main":
                git("update-ref", "-d", ref, cwd=dest)
        git("reflog", "expire", "--expire=now", "--all", cwd=dest)
        git("gc", "--quiet", "--prune=now", cwd=dest)
        return git("rev-parse", "HEAD", cwd=dest).strip()


class SynthSource:
    """The offline synthesized suite: a committed sdist plus the instance's injected bug."""

    def key(self, instance: SWEInstance) -> str:
        return f"synth:{instance.instance_id}@{instance.base_commit}"

    def materialize(self, instance: SWEInstance, dest: Path) -> str:
        from agentgym.envs.swe.synth import materialize

        dest = Path(dest)
        if dest.exists():
            shutil.rmtree(dest)
        commit = materialize(instance, dest)
        if commit != instance.base_commit:
            raise SourceError(f"{instance.instance_id}: materialized commit {commit} != base_commit "
                              f"{instance.base_commit}; the synth data and its sdists disagree")
        return commit


def tree_cache_dir() -> Path:
    root = cache_root() / "swe" / "trees"
    root.mkdir(parents=True, exist_ok=True)
    return root


_DONE = ".agentgym-start"
_OWNER = ".agentgym-owner"


def cached_tree(source: RepoSource, instance: SWEInstance) -> tuple[Path, str]:
    """Materialize once per (source key) into the host cache; returns (dir, start commit).

    Safe when many threads and processes ask for the same instance on a cold cache: one builds it
    (under the entry's lock, in a temp folder of its own) and renames it into place; the others
    wait for the lock and then find it there (agentgym.diskcache).
    """
    digest = hashlib.sha256(source.key(instance).encode()).hexdigest()[:16]
    dest = tree_cache_dir() / f"{_slug(instance.instance_id)}-{digest}"
    done = dest / _DONE
    if not done.is_file():
        publish_dir(dest, lambda tmp: _materialize_into(source, instance, tmp), ready=_DONE)
    return dest / "tree", done.read_text().strip()


def _materialize_into(source: RepoSource, instance: SWEInstance, tmp: Path) -> str:
    token = uuid.uuid4().hex
    (tmp / _OWNER).write_text(token)
    try:
        commit = source.materialize(instance, tmp / "tree")
    except Exception as exc:
        if _owner(tmp) != token:
            # Not the suite's fault: something outside this build removed or replaced its folder.
            raise SourceError(
                f"{instance.instance_id}: the folder {tmp} was removed or changed by another process while "
                f"the repository was materialized into it ({type(exc).__name__}: {str(exc)[:300]}); nothing "
                "is wrong with the suite: retry, and do not clean the cache while rollouts run") from exc
        raise
    (tmp / _DONE).write_text(commit)
    return commit


def _owner(tmp: Path) -> str | None:
    try:
        return (tmp / _OWNER).read_text()
    except OSError:
        return None


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text.lower())[:80]
