"""The real projects behind swe-synth: their committed sdists, how to unpack them and how to test them.

envs/swe/data/synth/repos.json lists, per project, the PyPI source distribution committed under
envs/swe/data/synth/sdists/ (with its sha256, so the suite rebuilds offline and a tampered archive is
refused), where the package lives, which tests to run and how. `unpack_tree` is the single way a tree
is produced, both by the generator and by `materialize`, so both see byte-identical files.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from functools import lru_cache
from pathlib import Path, PurePosixPath

from pydantic import BaseModel, Field

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "synth"
REPOS_JSON = DATA_DIR / "repos.json"
SDIST_DIR = DATA_DIR / "sdists"
INSTANCES_JSONL = DATA_DIR / "instances.jsonl"
IMAGE = "agentgym/swe-synth:latest"

# Files that only make a tree bigger (images, build metadata, bytecode): never part of a snapshot.
PRUNE_GLOBS = ("*.png", "*.jpg", "*.jpeg", "*.gif", "*.svg", "*.ico", "*.pyc", "*.egg-info", "__pycache__")


class SynthError(RuntimeError):
    """A swe-synth data problem (missing or tampered sdist, unknown project, patch that does not apply)."""


class Project(BaseModel):
    """One PyPI project whose sdist ships its test suite, tested with Debian's python3-pytest."""

    name: str = Field(description="PyPI name, e.g. 'more-itertools'")
    version: str
    filename: str = Field(description="sdist file name under envs/swe/data/synth/sdists/")
    sha256: str
    license: str
    src_subdir: str = Field("", description="folder (relative to the tree root) holding the package: '' or 'src'")
    packages: list[str] = Field(description="source paths (relative to the tree root) that bugs are injected into")
    exclude: list[str] = Field(default_factory=list, description="globs of source files never mutated (data tables)")
    pythonpath: str = Field(".", description="PYTHONPATH for the tests, relative to /testbed, ':'-separated")
    test_cmd: str = Field(description="command run from /testbed; test files are appended")
    test_files_glob: list[str] = Field(description="globs (relative to the tree root) of the test files")

    @property
    def repo(self) -> str:
        return f"pypi/{self.name}"

    @property
    def slug(self) -> str:
        return f"{self.name}-{self.version}"

    def sdist_path(self) -> Path:
        return SDIST_DIR / self.filename

    def is_test_path(self, rel: str) -> bool:
        return any(fnmatch.fnmatch(rel, g) for g in self.test_files_glob) or _looks_like_test(rel)

    def source_files(self, root: Path) -> list[str]:
        """Non-test .py files (relative paths, sorted) that bugs may be injected into."""
        out: list[str] = []
        for pkg in self.packages:
            base = root / pkg
            paths = [base] if base.is_file() else sorted(base.rglob("*.py"))
            for p in paths:
                rel = p.relative_to(root).as_posix()
                if self.is_test_path(rel) or any(fnmatch.fnmatch(rel, g) for g in self.exclude):
                    continue
                out.append(rel)
        return sorted(set(out))

    def test_files(self, root: Path) -> list[str]:
        """Test files matched by test_files_glob under a tree (relative paths, sorted)."""
        found = {
            p.relative_to(root).as_posix()
            for g in self.test_files_glob
            for p in root.glob(g)
            if p.is_file()
        }
        return sorted(found)

    def command(self, test_files: list[str]) -> str:
        return " ".join([self.test_cmd, *test_files])


def _looks_like_test(rel: str) -> bool:
    parts = PurePosixPath(rel).parts
    name = parts[-1]
    return (
        "tests" in parts[:-1]
        or "test" in parts[:-1]
        or name.startswith("test_")
        or name.endswith("_test.py")
        or name == "conftest.py"
    )


@lru_cache(maxsize=1)
def _load(path: str) -> tuple[Project, ...]:
    raw = json.loads(Path(path).read_text())
    return tuple(Project.model_validate(p) for p in raw["projects"])


def load_projects(path: Path | None = None) -> list[Project]:
    """Projects from repos.json (validated)."""
    p = Path(path or REPOS_JSON)
    if not p.is_file():
        raise SynthError(f"{p} is missing: it ships with agentgym (envs/swe/data/synth/repos.json)")
    return list(_load(str(p)))


def project_for(repo: str, version: str = "") -> Project:
    """The project an instance's repo ('pypi/<name>') and version name."""
    for p in load_projects():
        if p.repo == repo and (not version or p.version == version):
            return p
    known = ", ".join(f"{p.repo}=={p.version}" for p in load_projects())
    raise SynthError(f"no swe-synth project {repo}=={version or '*'}; known: {known}")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _safe_members(tar: tarfile.TarFile, dest: Path) -> list[tarfile.TarInfo]:
    members = []
    for m in tar.getmembers():
        target = (dest / m.name).resolve()
        if not str(target).startswith(str(dest.resolve()) + os.sep) and target != dest.resolve():
            raise SynthError(f"sdist member {m.name!r} escapes the unpack folder")
        if m.issym() or m.islnk() or m.isdev():
            continue  # sdists of pure-Python projects need no links or devices
        members.append(m)
    return members


def unpack_tree(project: Project, dest: Path) -> Path:
    """Unpack the project's sdist (sha256 checked) so dest holds the tree root; prune bulky files.

    File modes are normalised (0644, 0755 for executables) so the tree's git commit is the same on
    every machine and umask.
    """
    sdist = project.sdist_path()
    if not sdist.is_file():
        raise SynthError(f"{sdist} is missing: restore envs/swe/data/synth/sdists/ from the repository")
    digest = sha256_file(sdist)
    if digest != project.sha256:
        raise SynthError(f"{sdist} has sha256 {digest}, repos.json expects {project.sha256}: re-fetch it")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise SynthError(f"{dest} is not empty: materialize into a new or empty folder")
    with tempfile.TemporaryDirectory(prefix="synth-unpack-") as tmp:
        with tarfile.open(sdist) as tar:
            tar.extractall(tmp, members=_safe_members(tar, Path(tmp)))
        tops = [p for p in Path(tmp).iterdir()]
        if len(tops) != 1 or not tops[0].is_dir():
            raise SynthError(f"{sdist} does not hold exactly one top-level folder")
        for child in sorted(tops[0].iterdir()):
            shutil.move(str(child), str(dest / child.name))
    _prune(dest)
    return dest


def _prune(root: Path) -> None:
    for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if any(fnmatch.fnmatch(path.name, g) for g in PRUNE_GLOBS):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
    for path in root.rglob("*"):
        if path.is_file():
            path.chmod(0o755 if path.stat().st_mode & 0o100 else 0o644)
        elif path.is_dir():
            path.chmod(0o755)
