"""A read-only container's workdir that starts with the image's own files (SandboxSpec.workdir_from_image).

Why: a writable container root is an overlay on the host's Docker disk with no size option
(overlay2 on ext4), so one `fallocate` inside takes the gigabytes that every other container, the
databases and the images need. A read-only root with tmpfs mounts bounds what a sandbox can write
(ENOSPC inside it, the agent's own error), but a plain tmpfs at the workdir starts empty and hides
what the image has there (an SWE image's repository at /testbed).

So the workdir is an anonymous volume of Docker's local driver with tmpfs options: bounded by its
size, and removed with its container (`docker rm -v`, which every removal in agentgym does; the
volume carries the owner's labels, so `agentgym gc` finds an orphan). Docker fills a plain
volume with the image's content by itself, but not a tmpfs one, so right after the container
starts the archive API streams the image's files at that path into it: read from a created, never
started container of the image, written by the daemon into the running one. Nothing of the
pristine source stays reachable from inside (a read-only mount of it would hand the code under
test the original test files in a grading sandbox). The daemon writes the copy, so its pages are
not charged to the container; what the sandbox writes is, within the size of the mount.
"""

from __future__ import annotations

from typing import Any

from agentgym.sandbox import reaper
from agentgym.sandbox.base import SandboxError, SandboxSpec


def workdir_mount(spec: SandboxSpec, size: int, labels: dict[str, str]) -> Any:
    """The Mount of spec.workdir: an anonymous tmpfs volume of size bytes."""
    from docker.types import DriverConfig, Mount

    opts = {"type": "tmpfs", "device": "tmpfs", "o": f"size={size},mode=0755"}
    # no_copy: Docker's own copy at create goes into a tmpfs that is unmounted again before start
    # (the copy is lost, and cost as much as ours)
    return Mount(spec.workdir, None, type="volume", driver_config=DriverConfig("local", opts), labels=labels,
                 no_copy=True)


def seed_workdir(spec: SandboxSpec, image: str, container_id: str, size: int) -> None:
    """Copy image's files at spec.workdir into the running container's (empty) workdir volume.

    Raises SandboxError when the image has no such path or its files do not fit size bytes."""
    import docker.errors

    api = reaper.docker_client().api
    src = None
    try:
        src = api.create_container(image, entrypoint=["/bin/true"], command=[], network_disabled=True,
                                   labels={**reaper.owner_labels(), "agentgym.kind": "workdir-source"})["Id"]
        reaper.track("container", src)
        stream, _ = api.get_archive(src, spec.workdir.rstrip("/") + "/.", chunk_size=1 << 20)
        api.put_archive(container_id, spec.workdir, stream)
    except docker.errors.NotFound as e:
        raise SandboxError(f"image {image} has no {spec.workdir} to start the workdir from: {e}") from e
    except docker.errors.APIError as e:
        if "no space left" in str(e).lower():
            raise SandboxError(
                f"the files of {image} at {spec.workdir} do not fit its tmpfs of {size >> 20} MiB: give the "
                "sandbox a larger workdir_size and memory (SWE: SWEEnv(testbed_size=..., memory=...))") from e
        raise SandboxError(f"could not copy {spec.workdir} of {image} into the sandbox: {e}") from e
    finally:
        if src is not None:
            reaper.remove_many("container", [src])
