"""SWE images: official SWE-bench instance images by name, or local layered builds.

Layers (each content-hashed, so nothing is rebuilt that has not changed):
  agentgym/swe-base      images/swe-base (git, patch, pytest, pip)     one per machine
  agentgym/swe-env:<h>   a RepoSpec's apt/pip/setup on top              one per repository spec
  agentgym/swe-inst:<h>  the repository at base_commit in /testbed      one per instance (a small layer)

Instance layers are made without `docker build`: a container is created (never started, unless the
spec has install commands), the repository is put in with the archive API, and the container is
committed. A disk budget removes the least recently used instance images.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import tarfile
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from agentgym.envs.swe.instance import SWEInstance
from agentgym.envs.swe.sources import RepoSource, _slug, cached_tree
from agentgym.envs.swe.specs import RepoSpec
from agentgym.images.build import _stream_build, ca_bundle, ensure_image
from agentgym.images.core import CA_FILENAME, LABEL, Reporter, client, get_image, pull

ENV_REPO = "agentgym/swe-env"
INST_REPO = "agentgym/swe-inst"
LABEL_INSTANCE = "agentgym.swe.instance"
LABEL_START = "agentgym.swe.start"
DEFAULT_DISK_BUDGET = float(os.environ.get("AGENTGYM_SWE_DISK_GB", "20")) * 2**30


def official_image_name(instance_id: str, arch: str = "x86_64", namespace: str = "swebench") -> str:
    """SWE-bench's published instance image: '__' in ids becomes '_1776_' (Docker Hub forbids '__')."""
    return f"{namespace}/sweb.eval.{arch}.{instance_id.lower().replace('__', '_1776_')}:latest"


def find_official(instance_id: str, try_pull: bool = True) -> str | None:
    """The official image if it is here or a registry gives it (time-bounded); else None."""
    name = official_image_name(instance_id)
    if get_image(name) is not None or (try_pull and pull(name)):
        return name
    return None


def env_image(spec: RepoSpec) -> str:
    """Build (once) the environment image of a repository spec; returns its content-hashed tag."""
    ensure_image(spec.base_image)
    base = get_image(spec.base_image)
    digest = hashlib.sha256(f"{spec.env_hash()}|{base.id if base else ''}".encode()).hexdigest()[:16]
    tag = f"{ENV_REPO}:{digest}"
    if get_image(tag) is not None:
        return tag
    with _lock(f"env-{digest}"), tempfile.TemporaryDirectory(prefix="agentgym-swe-env-") as ctx:
        if get_image(tag) is not None:
            return tag
        Path(ctx, "Dockerfile").write_text(spec.dockerfile())
        bundle = ca_bundle()
        Path(ctx, CA_FILENAME).write_bytes(bundle.read_bytes() if bundle else b"")
        _stream_build("swe-env", Path(ctx, "Dockerfile"), Path(ctx), tag, {}, {LABEL: "1", "agentgym.swe.env": digest},
                      nocache=False, rep=Reporter.of(None))
    return tag


def instance_image(instance: SWEInstance, spec: RepoSpec, source: RepoSource) -> tuple[str, str]:
    """(image tag, start commit) with the repository at /testbed; built once, then reused."""
    env = env_image(spec)
    env_id = get_image(env).id  # type: ignore[union-attr]
    key = json.dumps([env_id, source.key(instance), spec.install], sort_keys=True)
    tag = f"{INST_REPO}:{_slug(instance.instance_id)[:60]}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    found = get_image(tag)
    if found is not None:
        touch(tag)
        return tag, found.labels.get(LABEL_START, "")
    with _lock(f"inst-{tag.rsplit(':', 1)[1]}"):
        found = get_image(tag)
        if found is not None:
            return tag, found.labels.get(LABEL_START, "")
        tree, start = cached_tree(source, instance)
        _commit_instance(env, tree, tag, instance, spec, start)
    touch(tag)
    return tag, start


def _commit_instance(env: str, tree: Path, tag: str, instance: SWEInstance, spec: RepoSpec, start: str) -> None:
    api = client().api
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(str(tree), arcname="testbed")
    labels = {LABEL: "1", LABEL_INSTANCE: instance.instance_id, LABEL_START: start, "agentgym": "1"}
    install = " && ".join(spec.install)
    cmd = ["sleep", "infinity"] if install else ["true"]
    cid = api.create_container(env, command=cmd, labels={"agentgym": "1", "agentgym.kind": "swe-build"},
                               host_config=api.create_host_config(network_mode="none"))["Id"]
    try:
        if not api.put_archive(cid, "/", buf.getvalue()):
            raise RuntimeError(f"could not copy the repository into the build container for {instance.instance_id}")
        if install:
            api.start(cid)
            # a base image with SWE-bench's layout installs into its conda env (a no-op elsewhere)
            ex = api.exec_create(cid, ["bash", "-lc", f"{spec.activation()}cd /testbed && {install}"])
            out = api.exec_start(ex["Id"]).decode(errors="replace")
            if api.exec_inspect(ex["Id"])["ExitCode"] != 0:
                raise RuntimeError(f"install commands failed for {instance.instance_id}:\n{out[-2000:]}")
            api.stop(cid, timeout=1)
        repo, t = tag.rsplit(":", 1)
        api.commit(cid, repository=repo, tag=t, conf={"Labels": labels, "WorkingDir": "/testbed",
                                                         "Cmd": ["/bin/bash"]})
    finally:
        api.remove_container(cid, force=True)


# -- disk budget ---------------------------------------------------------------------------------

def _lru_path() -> Path:
    root = Path(os.environ.get("AGENTGYM_CACHE", Path.home() / ".cache" / "agentgym")) / "swe"
    root.mkdir(parents=True, exist_ok=True)
    return root / "image-lru.json"


@contextmanager
def _lock(name: str) -> Iterator[None]:
    path = _lru_path().with_name(f".{name}.lock")
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def touch(tag: str) -> None:
    with _lock("lru"):
        path = _lru_path()
        data: dict[str, float] = json.loads(path.read_text()) if path.is_file() else {}
        data[tag] = time.time()
        tmp = path.with_name(path.name + ".tmp")  # ours alone while the lock is held
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)  # instance_images() reads without the lock: never a half-written file


def instance_images() -> list[dict[str, Any]]:
    """Every local instance image: tag, instance, layer bytes (beyond its env image), last use."""
    path = _lru_path()
    used: dict[str, float] = json.loads(path.read_text()) if path.is_file() else {}
    rows = []
    for image in client().images.list(filters={"label": LABEL_INSTANCE}):
        parent_size = _history_size(image) if image.tags else 0
        for tag in image.tags:
            rows.append({"tag": tag, "instance": image.labels.get(LABEL_INSTANCE, ""), "bytes": parent_size,
                         "last_used": used.get(tag, 0.0)})
    return rows


def _history_size(image: Any) -> int:
    """Bytes of the image's own top layer (what it adds to its environment image)."""
    hist = image.history()
    return int(hist[0].get("Size", 0)) if hist else 0


def enforce_disk_budget(budget_bytes: float = DEFAULT_DISK_BUDGET, keep: set[str] | None = None) -> list[str]:
    """Remove least recently used instance images until their layers fit in budget_bytes."""
    rows = sorted(instance_images(), key=lambda r: r["last_used"])
    total = sum(r["bytes"] for r in rows)
    removed = []
    for row in rows:
        if total <= budget_bytes:
            break
        if keep and row["tag"] in keep:
            continue
        try:
            client().images.remove(row["tag"], noprune=False)
        except Exception:  # noqa: BLE001 - in use by a running sandbox: keep it
            continue
        total -= row["bytes"]
        removed.append(row["tag"])
    return removed
