"""Build images/<name>/ folders into agentgym/<name>:<content hash> and :latest, parents first."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import time
from collections import deque
from pathlib import Path

from agentgym.images.core import (
    BUILD_TIMEOUT,
    CA_FILENAME,
    CA_IN_IMAGE,
    LABEL,
    LABEL_HASH,
    LABEL_NAME,
    NAMESPACE,
    ROOTFS,
    BuildResult,
    ImageBuildError,
    ImageError,
    ImageInfo,
    ImageNotFoundError,
    Progress,
    Reporter,
    client,
    file_lock,
    get_image,
    image_exists,
    image_ref,
    images_dir,
    normalize_ref,
    parse_created,
    pull,
    split_ref,
    tag_image,
)
from agentgym.images.rootfs import ensure_rootfs

HASH_LEN = 12
LOG_TAIL = 30
_SKIP_DIRS = {"__pycache__", ".git", ".pytest_cache", ".mypy_cache"}
_HASH_TAG = re.compile(r"^[0-9a-f]{12}$")


def available() -> list[str]:
    """Names of the images/ folders that hold a Dockerfile."""
    root = images_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "Dockerfile").is_file())


_VALID_NAME = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")


def _folder(name: str) -> Path:
    if not _VALID_NAME.match(name):
        raise ImageNotFoundError(
            f"{name!r} cannot name a Docker repository: rename images/{name}/ to lowercase letters, digits, . _ -"
        )
    folder = images_dir() / name
    if not (folder / "Dockerfile").is_file():
        known = ", ".join(available()) or "none"
        raise ImageNotFoundError(f"no {folder}/Dockerfile: add one, or pick an image that exists there ({known})")
    return folder


def from_refs(dockerfile: Path) -> list[str]:
    """Images a Dockerfile's FROM lines name, in order, minus `scratch` and earlier build stages."""
    args: dict[str, str] = {}
    stages: set[str] = set()
    refs: list[str] = []
    seen_from = False
    text = re.sub(r"\\\n", " ", dockerfile.read_text(errors="replace"))  # line continuations
    for raw in text.splitlines():
        words = raw.split()
        if not words or words[0].startswith("#"):
            continue
        keyword = words[0].upper()
        if keyword == "ARG" and not seen_from and len(words) > 1:
            key, _, value = words[1].partition("=")
            args[key] = value.strip("\"'")
        elif keyword == "FROM":
            seen_from = True
            rest = [w for w in words[1:] if not w.startswith("--")]  # --platform=...
            if not rest:
                continue
            ref = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), rest[0])
            if ref.lower() != "scratch" and ref.lower() not in stages:
                refs.append(ref)
            if len(rest) >= 3 and rest[1].upper() == "AS":
                stages.add(rest[2].lower())
    return refs


def local_parent(ref: str) -> str | None:
    """The images/ folder that builds ref (agentgym/<name>:<any tag>), or None for outside images."""
    if normalize_ref(ref) == ROOTFS:
        return None
    repo, _ = split_ref(ref)
    prefix = NAMESPACE + "/"
    if repo.startswith(prefix) and repo[len(prefix) :] in available():
        return repo[len(prefix) :]
    return None


def _files(folder: Path) -> list[tuple[str, Path]]:
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        for filename in filenames:
            path = Path(dirpath) / filename
            rel = path.relative_to(folder).as_posix()
            if rel == CA_FILENAME or filename.endswith(".pyc"):
                continue  # the CA bundle is per host and must not change the hash
            found.append((rel, path))
    return sorted(found)


def content_hash(name: str) -> str:
    """12 hex chars of sha256 over images/<name>/ (paths, exec bits, bytes) and its parents' identity."""
    return _content_hash(name, ())


def _content_hash(name: str, chain: tuple[str, ...]) -> str:
    if name in chain:
        raise ImageBuildError(
            f"images depend on each other in a cycle: {' -> '.join(chain + (name,))}; fix their FROM lines"
        )
    folder = _folder(name)
    digest = hashlib.sha256()
    for rel, path in _files(folder):
        if path.is_symlink():
            body = b"link:" + os.readlink(path).encode()
        else:
            body = path.read_bytes()
        executable = b"x" if os.access(path, os.X_OK) else b"-"
        digest.update(b"%s\0%s\0%d\0" % (rel.encode(), executable, len(body)) + body)
    for ref in from_refs(folder / "Dockerfile"):
        parent = local_parent(ref)
        if parent is not None:
            identity = _content_hash(parent, chain + (name,))
        else:
            # An outside image counts by its id, so a re-made rootfs rebuilds what stands on it.
            identity = _external_id(ref) or "absent"
        digest.update(b"parent\0%s\0%s\0" % (normalize_ref(ref).encode(), identity.encode()))
    return digest.hexdigest()[:HASH_LEN]


def _external_id(ref: str) -> str | None:
    try:
        image = get_image(ref)
    except ImageError:
        return None  # no engine: the hash is only advisory then (nothing can be built anyway)
    return image.id if image is not None else None


def build_order(names: list[str]) -> list[str]:
    """names plus every images/ folder they build FROM, parents before children."""
    order: list[str] = []

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if name in chain:
            raise ImageBuildError(
                f"images depend on each other in a cycle: {' -> '.join(chain + (name,))}; fix their FROM lines"
            )
        if name in order:
            return
        for ref in from_refs(_folder(name) / "Dockerfile"):
            parent = local_parent(ref)
            if parent is not None:
                visit(parent, chain + (name,))
        order.append(name)

    for name in names:
        visit(name, ())
    return order


def build(names: list[str] | None = None, force: bool = False, progress: Progress = None) -> list[BuildResult]:
    """Build names (default: every folder in images/) and the images they build FROM, parents first.

    An image whose content-hash tag exists is not rebuilt: :latest is just re-pointed at it.
    force rebuilds the named images without the layer cache (their parents still come from cache).
    """
    requested = list(names) if names else available()
    for name in requested:
        _folder(name)  # fail on a typo before building anything
    rep = Reporter.of(progress)
    return [_build_one(name, force=force and name in requested, rep=rep) for name in build_order(requested)]


def _ensure_outside_parent(ref: str, name: str, rep: Reporter) -> None:
    if normalize_ref(ref) == ROOTFS:
        ensure_rootfs(progress=rep)
    elif not image_exists(ref) and not pull(ref):
        raise ImageBuildError(
            f"images/{name}/Dockerfile builds FROM {ref}, which is not here and no registry answered; "
            f"build or load {ref} first, or change the FROM line to an agentgym image",
            name=name,
            dockerfile=str(_folder(name) / "Dockerfile"),
        )


def ca_bundle() -> Path | None:
    """The host's CA bundle for pip inside builds: PIP_CERT, REQUESTS_CA_BUNDLE, then SSL_CERT_FILE."""
    for var in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        value = os.environ.get(var)
        if value and Path(value).is_file():
            return Path(value)
    return None


def _build_one(name: str, *, force: bool, rep: Reporter) -> BuildResult:
    started = time.monotonic()
    folder = _folder(name)
    for ref in from_refs(folder / "Dockerfile"):
        if local_parent(ref) is None:
            _ensure_outside_parent(ref, name, rep)
    digest = content_hash(name)
    ref, hash_tag = image_ref(name), f"{NAMESPACE}/{name}:{digest}"
    with file_lock(f"build-{name}", timeout=BUILD_TIMEOUT):
        cached = None if force else get_image(hash_tag)
        if cached is not None:
            tag_image(cached.id, ref)
            return BuildResult(
                name=name,
                ref=ref,
                hash_tag=hash_tag,
                built=False,
                seconds=time.monotonic() - started,
                size_bytes=int(cached.attrs.get("Size") or 0),
            )
        with tempfile.TemporaryDirectory(prefix=f"agentgym-build-{name}-") as tmp:
            context = Path(tmp) / "context"
            shutil.copytree(folder, context, symlinks=True, ignore=shutil.ignore_patterns(*_SKIP_DIRS))
            bundle = ca_bundle()
            (context / CA_FILENAME).write_bytes(bundle.read_bytes() if bundle else b"")
            buildargs = {"AGENTGYM_PIP_CERT": CA_IN_IMAGE} if bundle else {}
            labels = {LABEL: "1", LABEL_NAME: name, LABEL_HASH: digest}
            with rep.status(f"building {hash_tag}"):
                image_id = _stream_build(
                    name, folder / "Dockerfile", context, hash_tag, buildargs, labels, nocache=force, rep=rep
                )
        tag_image(image_id, ref)
    image = get_image(hash_tag)
    seconds = time.monotonic() - started
    rep.info(f"built {hash_tag} in {seconds:.1f} s")
    return BuildResult(
        name=name,
        ref=ref,
        hash_tag=hash_tag,
        built=True,
        seconds=seconds,
        size_bytes=int(image.attrs.get("Size") or 0) if image else 0,
    )


def _stream_build(
    name: str,
    dockerfile: Path,
    context: Path,
    tag: str,
    buildargs: dict[str, str],
    labels: dict[str, str],
    *,
    nocache: bool,
    rep: Reporter,
) -> str:
    import docker
    import requests

    tail: deque[str] = deque(maxlen=LOG_TAIL)
    error: str | None = None
    image_id: str | None = None
    deadline = time.monotonic() + BUILD_TIMEOUT
    try:
        stream = client(BUILD_TIMEOUT).api.build(
            path=str(context), tag=tag, rm=True, forcerm=True, pull=False, nocache=nocache,
            decode=True, buildargs=buildargs, labels=labels, timeout=BUILD_TIMEOUT,
        )  # fmt: skip
        for chunk in stream:
            for line in str(chunk.get("stream") or chunk.get("status") or "").splitlines():
                tail.append(line)
                rep.log(line)
            if chunk.get("error"):
                error = str(chunk["error"]).strip()
            if isinstance(chunk.get("aux"), dict) and chunk["aux"].get("ID"):
                image_id = chunk["aux"]["ID"]
            if time.monotonic() > deadline:
                error = f"build ran past AGENTGYM_BUILD_TIMEOUT={BUILD_TIMEOUT:.0f} s"
                break
    except (docker.errors.DockerException, requests.RequestException) as exc:
        error = f"{type(exc).__name__}: {exc}"
    if image_id is None and error is None:
        image = get_image(tag)
        image_id = image.id if image is not None else None
    if error is not None or image_id is None:
        log = "\n".join(tail)
        raise ImageBuildError(
            f"building {tag} from {dockerfile} failed: {error or 'the daemon reported no image'}\n"
            f"--- last {len(tail)} log lines ---\n{log}\n"
            f"--- fix {dockerfile}, then run `agentgym images build {name}`",
            name=name,
            dockerfile=str(dockerfile),
            log_tail=list(tail),
        )
    return image_id


def ensure_image(ref: str, progress: Progress = None) -> str:
    """ref if it exists; else build it from images/ (agentgym/<name>:latest or :<hash>), else pull it."""
    ref = normalize_ref(ref)
    if image_exists(ref):
        return ref
    if ref == ROOTFS:
        return ensure_rootfs(progress=progress)
    name = local_parent(ref)
    if name is not None:
        result = build([name], progress=progress)[-1]
        if ref in (result.ref, result.hash_tag):
            return ref
        raise ImageNotFoundError(
            f"{ref} does not exist: images/{name}/ now builds {result.hash_tag}; use {result.ref} "
            "(old content-hash tags cannot be rebuilt from changed files)"
        )
    if pull(ref):
        return ref
    raise ImageNotFoundError(
        f"image {ref} is not here and no registry answered. Build it with `agentgym images build NAME` "
        f"(for a folder images/NAME/ in {images_dir()}), or pass an image that exists (`docker images`)."
    )


def list_images() -> list[ImageInfo]:
    """Every local agentgym/* image, one row per (name, image id); current compares with images/<name>/."""
    current: dict[str, str | None] = {}
    rows: list[ImageInfo] = []
    prefix = NAMESPACE + "/"
    for image in client().images.list():
        by_name: dict[str, list[str]] = {}
        for full in image.tags:
            repo, tag = split_ref(full)
            if repo.startswith(prefix):
                by_name.setdefault(repo[len(prefix) :], []).append(tag)
        labels = image.labels or {}
        for name, tags in by_name.items():
            digest = labels.get(LABEL_HASH) if labels.get(LABEL_NAME) == name else None
            digest = digest or next((t for t in tags if _HASH_TAG.match(t)), None)
            if name not in current:
                try:
                    current[name] = content_hash(name) if name in available() else None
                except ImageError:
                    current[name] = None
            rows.append(
                ImageInfo(
                    name=name,
                    id=image.short_id.removeprefix("sha256:"),
                    tags=sorted(tags, key=lambda t: (t != "latest", t)),
                    hash=digest,
                    current=None if current[name] is None else digest == current[name],
                    size_bytes=int(image.attrs.get("Size") or 0),
                    created=parse_created(image.attrs.get("Created")),
                )
            )
    return sorted(rows, key=lambda r: (r.name, "latest" not in r.tags, -(r.created.timestamp() if r.created else 0)))
