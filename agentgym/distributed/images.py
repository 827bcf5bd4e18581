"""Images on new nodes: before a node plays its first docker-runtime episode of an env, the
images that env needs are made there, once per node.

Why: a fresh cluster node (a KubeRay pod, an autoscaled VM) has Docker but none of our images.
Left to the sandbox's lazy `ensure_image`, the first episode would build them inside its own
reset (minutes for web-browser, counted against that episode, and, with no lock across
images, two workers could race on pulls); a user with a registry could not use it at all. So
the Ray worker calls `NodeImages(...)(env)` right after it made the env and before the episode
starts:

* which images: those the env declares (`required_images()` on the env, else its sandbox
  template's `spec_template.image`), plus any the user lists per env id
  (`RayExecutor(images={"web": ["agentgym/web-browser:latest"]})`), for envs whose runtime is
  docker (or auto on a node where Docker answers); the local runtime needs none;
* once per node: an image already there costs one inspect (then remembered per process);
  a missing one is made under a file lock named after it in the node's agentgym cache
  (`~/.cache/agentgym/locks`), re-checked after the lock, so two workers of a node never make it
  twice. On one machine several "nodes" share one Docker engine and that cache, so the lock is
  really per engine, which is what matters;
* how: with a registry (`--image-registry HOST[:PORT][/PATH]`, `RayExecutor(registry=...)`)
  the node pulls `REGISTRY/<ref>` and tags it `<ref>`; one the registry lacks is built from
  images/ when this node can (agentgym/* images), else it is one line saying what to push.
  Without a registry, `agentgym.images.ensure_image`: agentgym/* images are built from images/
  (content-hashed tags: a node builds each version once), others pulled from their registry.

A failure raises `agentgym.images.ImageError`: the episode becomes an infrastructure error (the
agent could not have caused it), as any failure to make an env on a node does.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

from agentgym.images.core import (
    BUILD_TIMEOUT,
    ROOTFS,
    ImageError,
    ImageNotFoundError,
    file_lock,
    get_image,
    image_exists,
    normalize_ref,
    pull,
    tag_image,
)

_READY: set[str] = set()  # refs this process has seen present (one inspect per image per process)
_READY_LOCK = threading.Lock()
_REGISTRY = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)*$")


def check_registry(registry: str | None) -> str | None:
    """The registry as Docker names it (HOST[:PORT][/PATH]), or ValueError in one line."""
    if registry is None or registry == "":
        return None
    reg = registry.strip().rstrip("/")
    if not _REGISTRY.match(reg):
        raise ValueError(f"--image-registry {registry!r} is not a registry Docker can pull from; give HOST[:PORT][/PATH] "
                         "without a scheme, e.g. registry.example.com:5000/team")
    return reg


def declared_images(env: Any) -> list[str]:
    """The images an env says its docker-runtime episodes need: `required_images()` where the env
    defines it, else the image of its sandbox template (`spec_template.image`), else none."""
    base = getattr(env, "unwrapped", env)
    own = getattr(base, "required_images", None)
    if callable(own):
        return [str(r) for r in own()]
    image = getattr(getattr(base, "spec_template", None), "image", None)
    return [image] if isinstance(image, str) and image else []


def uses_docker(env: Any) -> bool:
    """Will this env's episodes start containers here? docker: yes; auto: when Docker answers."""
    from agentgym.sandbox import docker_available  # the auto runtime's own (cached) answer

    runtime = getattr(getattr(env, "unwrapped", env), "runtime", None)
    return runtime == "docker" or (runtime == "auto" and docker_available())


def ensure_node_images(refs: list[str], *, registry: str | None = None,
                       puller: Callable[[str], bool] | None = None) -> dict[str, str]:
    """Make every ref exist on this node's Docker engine: ref -> 'present', 'pulled' or 'built'.

    `puller(remote_ref) -> bool` pulls from the registry (default `agentgym.images.pull`; tests
    pass a fake). Each missing ref is made under its own per-node file lock and checked again
    inside it, so concurrent workers of a node make it once.
    """
    registry = check_registry(registry)
    done: dict[str, str] = {}
    for ref in dict.fromkeys(normalize_ref(r) for r in refs):
        if _known(ref) or image_exists(ref):
            done[ref] = "present"
        else:
            with file_lock(f"node-image-{ref}", timeout=BUILD_TIMEOUT):
                done[ref] = "present" if image_exists(ref) else _make(ref, registry, puller or pull)
        with _READY_LOCK:
            _READY.add(ref)
    return done


def _known(ref: str) -> bool:
    with _READY_LOCK:
        return ref in _READY


def _make(ref: str, registry: str | None, puller: Callable[[str], bool]) -> str:
    from agentgym.images.build import ensure_image, local_parent

    buildable = ref == ROOTFS or local_parent(ref) is not None
    if registry:
        remote = f"{registry}/{ref}"
        if puller(remote):
            image = get_image(remote)
            if image is None:
                raise ImageError(f"pulling {remote} reported success but no such image is here; check the registry")
            tag_image(image.id, ref)
            return "pulled"
        if not buildable:
            raise ImageNotFoundError(
                f"image {ref} is not on this node and registry {registry} has no {remote}: push it there "
                f"(`docker tag {ref} {remote} && docker push {remote}`) or make it on this node")
    ensure_image(ref)
    return "built" if buildable else "pulled"


class NodeImages:
    """Picklable node-side step: `prepare(env)` makes sure env's images exist on this node.

    Args:
        registry: HOST[:PORT][/PATH] to pull `REGISTRY/<ref>` from before building.
        images: env id -> extra image refs its episodes need, beyond what the env declares (its
            sandbox image and its required_images(): web's and SQL's sidecars are declared), e.g. a
            third-party image a plugin env starts without declaring it.
    """

    def __init__(self, registry: str | None = None, images: Mapping[str, list[str]] | None = None):
        self.registry = check_registry(registry)
        self.images = {k: [str(r) for r in v] for k, v in (images or {}).items()}

    def refs(self, env: Any) -> list[str]:
        base = getattr(env, "unwrapped", env)
        listed = self.images.get(getattr(base, "env_id", "") or "", [])
        return list(dict.fromkeys([*listed, *declared_images(env)]))

    def __call__(self, env: Any) -> dict[str, str]:
        if not uses_docker(env):
            return {}
        refs = self.refs(env)
        return ensure_node_images(refs, registry=self.registry) if refs else {}

    def __repr__(self) -> str:
        return f"NodeImages(registry={self.registry!r}, images={self.images!r})"


__all__ = ["NodeImages", "check_registry", "declared_images", "ensure_node_images", "uses_docker"]
