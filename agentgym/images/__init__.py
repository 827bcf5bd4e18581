"""Image pipeline: a Debian rootfs made without a registry, and content-hashed builds of images/<name>/.

    agentgym/debian:bookworm      pulled (debian:bookworm-slim) or debootstrapped + imported
    agentgym/<name>:<hash>        built from images/<name>/ (hash: files + parent identity)
    agentgym/<name>:latest        re-pointed at the current hash after every build

Sandboxes call ensure_image(ref) lazily; the CLI's `agentgym images build|ls` calls build/list_images.
"""

from agentgym.images.build import build, build_order, ca_bundle, content_hash, ensure_image, from_refs, list_images
from agentgym.images.core import (
    ROOTFS,
    BuildResult,
    ImageBuildError,
    ImageError,
    ImageInfo,
    ImageNotFoundError,
    cache_dir,
    image_ref,
    images_dir,
    pull,
)
from agentgym.images.rootfs import bootstrap_rootfs, detect_mirror, ensure_rootfs, rootfs_tarball

# The folder as found at import; images_dir() re-reads AGENTGYM_IMAGES_DIR on every call.
IMAGES_DIR = images_dir()

__all__ = [
    "IMAGES_DIR",
    "ROOTFS",
    "BuildResult",
    "ImageBuildError",
    "ImageError",
    "ImageInfo",
    "ImageNotFoundError",
    "bootstrap_rootfs",
    "build",
    "build_order",
    "ca_bundle",
    "cache_dir",
    "content_hash",
    "detect_mirror",
    "ensure_image",
    "ensure_rootfs",
    "from_refs",
    "image_ref",
    "images_dir",
    "list_images",
    "pull",
    "rootfs_tarball",
]
