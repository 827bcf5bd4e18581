"""Shared pieces of the image pipeline: names, errors, result models, Docker clients, locks, progress."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from agentgym.diskcache import CacheLockTimeout, cache_root, entry_lock

ROOTFS = "agentgym/debian:bookworm"
NAMESPACE = "agentgym"
LABEL = "agentgym.image"  # every image the pipeline makes carries LABEL=1
LABEL_NAME = "agentgym.image.name"
LABEL_HASH = "agentgym.image.hash"
CA_FILENAME = "agentgym-ca.crt"
CA_IN_IMAGE = "/etc/ssl/certs/agentgym-ca.crt"

# Seconds. Short calls (inspect, tag, list) must never hang a sandbox start; builds and imports
# legitimately stay silent for minutes (apt, pip), so they get their own, longer read timeout.
API_TIMEOUT = float(os.environ.get("AGENTGYM_DOCKER_TIMEOUT", "60"))
BUILD_TIMEOUT = float(os.environ.get("AGENTGYM_BUILD_TIMEOUT", "3600"))
IMPORT_TIMEOUT = 900.0
PULL_TIMEOUT = 20.0

Progress = Any  # None/False, True, a rich Console, or a callable taking one line of text


class ImageError(RuntimeError):
    """Base class of the pipeline's errors; messages say what to do next."""


class ImageBuildError(ImageError):
    def __init__(self, message: str, *, name: str = "", dockerfile: str = "", log_tail: list[str] | None = None):
        super().__init__(message)
        self.name = name
        self.dockerfile = dockerfile
        self.log_tail = list(log_tail or [])


class ImageNotFoundError(ImageError, LookupError):
    pass


class BuildResult(BaseModel):
    name: str
    ref: str  # agentgym/<name>:latest
    hash_tag: str  # agentgym/<name>:<content hash>
    built: bool  # False: the hash tag existed, nothing was built
    seconds: float
    size_bytes: int


class ImageInfo(BaseModel):
    name: str
    id: str
    tags: list[str]
    hash: str | None
    current: bool | None  # None: no images/<name>/ folder to compare with (the rootfs, hand-made tags)
    size_bytes: int
    created: datetime | None


def repo_root() -> Path:
    # The package lives at <repo>/agentgym/images/, so the repository root is two levels up.
    return Path(__file__).resolve().parents[2]


def images_dir() -> Path:
    """The images/ folder; read at call time so AGENTGYM_IMAGES_DIR can be changed by tests and tools."""
    override = os.environ.get("AGENTGYM_IMAGES_DIR")
    return Path(override).expanduser().resolve() if override else repo_root() / "images"


def cache_dir() -> Path:
    return cache_root()


def image_ref(name: str) -> str:
    return f"{NAMESPACE}/{name}:latest"


def split_ref(ref: str) -> tuple[str, str]:
    """('repo', 'tag'), tag defaulting to latest; a digest stays in the repo part ('repo@sha256:..', '')."""
    if "@" in ref:
        return ref, ""
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:  # a colon before the last slash is a registry port, not a tag
        return ref[:colon], ref[colon + 1 :]
    return ref, "latest"


def normalize_ref(ref: str) -> str:
    repo, tag = split_ref(ref)
    return f"{repo}:{tag}" if tag else repo


_clients: dict[float, Any] = {}


def client(timeout: float = API_TIMEOUT) -> Any:
    """A docker.DockerClient whose every request times out; one per timeout, reused."""
    import docker

    cached = _clients.get(timeout)
    if cached is not None:
        return cached
    try:
        made = docker.from_env(timeout=timeout)
    except docker.errors.DockerException as exc:
        raise ImageError(f"no Docker engine answers ({exc}); start one with scripts/ensure-docker.sh") from exc
    _clients[timeout] = made
    return made


def get_image(ref: str) -> Any | None:
    """The docker Image for ref, or None when it does not exist locally."""
    import docker

    try:
        return client().images.get(ref)
    except docker.errors.ImageNotFound:
        return None


def image_exists(ref: str) -> bool:
    return get_image(ref) is not None


def tag_image(image_id: str, ref: str) -> None:
    repo, tag = split_ref(ref)
    client().api.tag(image_id, repo, tag, force=True)


def pull(ref: str, timeout: float = PULL_TIMEOUT) -> bool:
    """Pull ref from its registry. False when no registry answers or it does not have ref.

    timeout bounds every wait for the daemon to say something, so an unreachable registry returns
    False within about timeout seconds while a slow but progressing pull is allowed to finish.
    """
    import docker
    import requests

    repo, tag = split_ref(ref)
    try:
        api = client(timeout).api
        for chunk in api.pull(repo, tag=tag or None, stream=True, decode=True):
            if isinstance(chunk, dict) and chunk.get("error"):
                return False
    except (docker.errors.DockerException, requests.RequestException, OSError):
        return False
    return image_exists(normalize_ref(ref))


@contextmanager
def file_lock(name: str, timeout: float) -> Iterator[None]:
    """Serialize builds of one image across threads and processes (parallel sandboxes may all ask
    for base); agentgym.diskcache.entry_lock: a thread lock plus an flock on cache/locks/<name>.lock."""
    path = cache_dir() / "locks" / (name.replace("/", "_").replace(":", "_") + ".lock")
    with ExitStack() as stack:
        try:
            stack.enter_context(entry_lock(path, timeout=timeout))
        except CacheLockTimeout:
            raise ImageError(
                f"another agentgym process held {path} for over {timeout:.0f} s; "
                "wait for its build to finish, or stop it"
            ) from None
        yield


class Reporter:
    """Where progress goes: nowhere, a rich console (spinner + step lines) or a callback."""

    def __init__(self, progress: Progress = None):
        self.console: Any = None
        self.callback: Callable[[str], Any] | None = None
        self._status: Any = None
        if progress is True:
            from rich.console import Console

            self.console = Console(stderr=True)
        elif (
            progress is not None
            and progress is not False
            and hasattr(progress, "print")
            and hasattr(progress, "status")
        ):
            self.console = progress
        elif callable(progress):
            self.callback = progress

    @classmethod
    def of(cls, progress: Progress) -> Reporter:
        return progress if isinstance(progress, Reporter) else cls(progress)

    def info(self, message: str) -> None:
        if self.console is not None:
            from rich.markup import escape

            self.console.print(escape(message))
        elif self.callback is not None:
            self.callback(message)

    def log(self, line: str) -> None:
        """One line of a build or bootstrap log: shown on the spinner, and kept when it starts a step."""
        line = line.rstrip()
        if not line:
            return
        if self.console is not None:
            from rich.markup import escape

            if self._status is not None:
                self._status.update(escape(line[:120]))
            if line.startswith("Step ") or line.startswith("I: Retrieving Release"):
                self.console.print(f"[dim]{escape(line)}[/dim]")
        elif self.callback is not None:
            self.callback(line)

    @contextmanager
    def status(self, message: str) -> Iterator[None]:
        # rich allows one live display at a time; nested steps (build -> rootfs) just print.
        if self.console is None or self._status is not None:
            self.info(message)
            yield
            return
        from rich.markup import escape

        with self.console.status(escape(message)) as live:
            self._status = live
            try:
                yield
            finally:
                self._status = None


def parse_created(value: str | None) -> datetime | None:
    if not value:
        return None
    # Docker gives nanoseconds ("2024-05-01T10:00:00.123456789Z"); fromisoformat takes microseconds.
    head, _, frac = value.rstrip("Z").partition(".")
    text = head + ("." + frac[:6] if frac else "") + "+00:00"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
