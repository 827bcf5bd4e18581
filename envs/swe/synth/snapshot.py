"""Git-format diffs and the deterministic buggy-tree snapshot (`materialize`).

An instance stores only its project's sdist (by name and version) and the FIX as a unified diff.
`materialize` unpacks the sdist, applies the fix in reverse to get the buggy tree and commits it with
fixed author, committer, date and message and no parent, so its commit id (the instance's
base_commit) is the same on every machine.
"""

from __future__ import annotations

import difflib
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from agentgym.envs.swe.synth.projects import SynthError, project_for, unpack_tree

COMMIT_DATE = "2024-01-01T00:00:00Z"
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "agentgym",
    "GIT_AUTHOR_EMAIL": "agentgym@localhost",
    "GIT_AUTHOR_DATE": COMMIT_DATE,
    "GIT_COMMITTER_NAME": "agentgym",
    "GIT_COMMITTER_EMAIL": "agentgym@localhost",
    "GIT_COMMITTER_DATE": COMMIT_DATE,
}
# Settings that could change a commit id between machines are pinned; user/system config is ignored.
GIT_FLAGS = [
    "-c", "core.autocrlf=false", "-c", "core.fileMode=true", "-c", "core.symlinks=true",
    "-c", "commit.gpgSign=false", "-c", "init.defaultBranch=main", "-c", "core.hooksPath=/dev/null",
]


def unified_diff(path: str, old: str, new: str, context: int = 3) -> str:
    """A `git diff`-style patch turning `old` into `new` for one file (paths relative to the tree root)."""
    body = list(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True), n=context))
    if not body:
        return ""
    out = [f"diff --git a/{path} b/{path}\n", f"--- a/{path}\n", f"+++ b/{path}\n"]
    for line in body[2:]:
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def _git_env() -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": tempfile.gettempdir(),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "LC_ALL": "C",
        **GIT_IDENTITY,
    }


def git(repo: Path, *args: str, stdin: str | None = None) -> str:
    """Run git in `repo` with pinned settings; raise SynthError with git's message on failure."""
    proc = subprocess.run(
        ["git", *GIT_FLAGS, *args], cwd=repo, env=_git_env(), input=stdin,
        capture_output=True, text=True, timeout=120,
    )
    if proc.returncode != 0:
        raise SynthError(f"git {' '.join(args)} failed in {repo}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


def commit_tree(repo: Path) -> str:
    """`git init` + add everything (ignored files too) + the deterministic 'base' commit; its id."""
    git(repo, "init", "-q")
    git(repo, "add", "-A", "-f", ".")
    git(repo, "commit", "-q", "--no-verify", "-m", "base")
    return git(repo, "rev-parse", "HEAD").strip()


def apply_patch(repo: Path, patch: str, reverse: bool = False) -> None:
    """`git apply` a patch (from stdin) in repo; reverse=True un-applies it."""
    args = ["apply", "--whitespace=nowarn"] + (["-R"] if reverse else []) + ["-"]
    git(repo, *args, stdin=patch)


def materialize(instance: Any, dest_dir: str | Path) -> str:
    """Put the instance's BUGGY repository in dest_dir (empty or new) and return its commit id.

    The tree root is the unpacked sdist (paths like 'src/pkg/mod.py'). The returned id equals the
    instance's base_commit; a mismatch (edited sdist or patch) raises SynthError instead of silently
    giving the agent another tree.
    """
    data = instance if isinstance(instance, dict) else instance.model_dump()
    project = project_for(data["repo"], data.get("version", ""))
    dest = Path(dest_dir)
    unpack_tree(project, dest)
    git(dest, "init", "-q")
    if data.get("patch"):
        apply_patch(dest, data["patch"], reverse=True)
    commit = commit_tree(dest)
    want = data.get("base_commit") or ""
    if want and want != commit:
        raise SynthError(
            f"{data.get('instance_id')}: materialized commit {commit} != base_commit {want}; "
            "the sdist or the patch changed: regenerate with python -m agentgym.envs.swe.synth.generate"
        )
    return commit
