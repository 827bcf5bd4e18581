"""Image pipeline: content hashes, build order, mirror detection; with Docker, real builds of throwaway images.

Docker tests build tiny images named agentgym/agtest<random>-*, FROM the existing rootfs, in a temp
images/ folder, and remove every image with that prefix at the end. They never touch the rootfs
or agentgym/base beyond building base when its files changed (what `agentgym images build` does).
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

import agentgym.images as images
from agentgym.images import (
    ROOTFS,
    ImageBuildError,
    ImageNotFoundError,
    build,
    build_order,
    content_hash,
    ensure_image,
    ensure_rootfs,
    from_refs,
    image_ref,
    list_images,
    pull,
)
from agentgym.images.core import client

REPO = Path(__file__).resolve().parents[1]


def write_image(root: Path, name: str, dockerfile: str, **files: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Dockerfile").write_text(dockerfile)
    for filename, text in files.items():
        (folder / filename).write_text(text)
    return folder


@pytest.fixture
def tmp_images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "images"
    root.mkdir()
    monkeypatch.setenv("AGENTGYM_IMAGES_DIR", str(root))
    return root


# ---------------------------------------------------------------- no Docker needed


def test_images_dir_is_the_repository_folder_unless_overridden(monkeypatch, tmp_path):
    monkeypatch.delenv("AGENTGYM_IMAGES_DIR", raising=False)
    assert images.images_dir() == REPO / "images"
    assert (images.images_dir() / "base" / "Dockerfile").is_file()
    monkeypatch.setenv("AGENTGYM_IMAGES_DIR", str(tmp_path))
    assert images.images_dir() == tmp_path.resolve()
    assert image_ref("base") == "agentgym/base:latest"
    assert ROOTFS == "agentgym/debian:bookworm"


def test_base_dockerfile_builds_on_the_rootfs_and_installs_python():
    text = (REPO / "images" / "base" / "Dockerfile").read_text()
    assert from_refs(REPO / "images" / "base" / "Dockerfile") == [ROOTFS]
    for needed in (
        "python3",
        "procps",
        "ca-certificates",
        "--no-install-recommends",
        "/workspace",
        "rm -rf /var/lib/apt/lists",
    ):
        assert needed in text


def test_content_hash_is_stable_and_follows_files_not_the_ca_bundle(tmp_images, tmp_path, monkeypatch):
    folder = write_image(tmp_images, "one", "FROM scratch\nCOPY a.txt /a.txt\n", **{"a.txt": "hello\n"})
    first = content_hash("one")
    assert len(first) == 12 and int(first, 16) >= 0
    assert content_hash("one") == first

    ca = tmp_path / "ca.crt"
    for text in ("one CA\n", "another CA\n"):
        ca.write_text(text)
        monkeypatch.setenv("PIP_CERT", str(ca))
        assert content_hash("one") == first
    (folder / "agentgym-ca.crt").write_text("stray CA copy")  # a leftover CA file must not count either
    assert content_hash("one") == first

    (folder / "a.txt").write_text("hello!\n")
    changed = content_hash("one")
    assert changed != first
    (folder / "a.txt").write_text("hello\n")
    assert content_hash("one") == first
    (folder / "sub").mkdir()
    (folder / "sub" / "b.txt").write_text("")
    assert content_hash("one") not in (first, changed)
    os.chmod(folder / "a.txt", 0o755)  # a script turning executable changes what COPY puts in
    assert content_hash("one") not in (first, changed)


def test_child_hash_changes_when_its_parent_changes(tmp_images):
    parent = write_image(tmp_images, "parent", "FROM scratch\nCOPY p.txt /\n", **{"p.txt": "v1"})
    write_image(tmp_images, "child", "FROM agentgym/parent:latest\nCOPY c.txt /\n", **{"c.txt": "c"})
    before = content_hash("child")
    (parent / "p.txt").write_text("v2")
    assert content_hash("child") != before


def test_from_refs_skips_stages_scratch_comments_and_reads_args(tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "# syntax=docker/dockerfile:1\n"
        "ARG BASE=agentgym/base:latest\n"
        "# FROM commented/out\n"
        "FROM --platform=linux/amd64 ${BASE} AS builder\n"
        "RUN echo FROM inside a command\n"
        "from python:3.11-slim as runtime\n"
        "FROM builder\n"
        "FROM scratch\n"
        "COPY --from=builder /x /x\n"
    )
    assert from_refs(dockerfile) == ["agentgym/base:latest", "python:3.11-slim"]


def test_build_order_puts_parents_first_and_rejects_cycles(tmp_images):
    write_image(tmp_images, "a", "FROM agentgym/debian:bookworm\n")
    write_image(tmp_images, "b", "FROM agentgym/a:latest\n")
    write_image(tmp_images, "c", "FROM agentgym/b:latest AS x\nFROM agentgym/a:latest\n")
    assert build_order(["c"]) == ["a", "b", "c"]
    assert build_order(["b", "a"]) == ["a", "b"]
    write_image(tmp_images, "a", "FROM agentgym/c:latest\n")
    with pytest.raises(ImageBuildError, match="cycle"):
        build_order(["c"])


def test_unknown_or_invalid_names_say_what_exists(tmp_images):
    write_image(tmp_images, "real", "FROM scratch\n")
    with pytest.raises(ImageNotFoundError, match="real"):
        build(["typo"])
    with pytest.raises(ImageNotFoundError, match="lowercase"):
        content_hash("Bad Name")


def test_ca_bundle_falls_back_through_the_env_vars(tmp_path, monkeypatch):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("x")
    monkeypatch.setenv("PIP_CERT", str(tmp_path / "missing.pem"))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    assert images.ca_bundle() == bundle
    for var in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(var, raising=False)
    assert images.ca_bundle() is None


# ---------------------------------------------------------------- Docker


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """A temp images/ folder and a unique name prefix; removes every image it made afterwards."""
    ensure_rootfs()  # exists on any machine that ran the pipeline once; never rebuilt here
    root = tmp_path_factory.mktemp("images")
    ca = root.parent / "test-ca.crt"
    ca.write_text("-----agentgym test CA marker-----\n")
    prefix = f"agtest{uuid.uuid4().hex[:8]}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AGENTGYM_IMAGES_DIR", str(root))
        mp.setenv("PIP_CERT", str(ca))
        yield root, prefix, ca
    # By tag, never by id: a tag moved onto a shared image (the rootfs) must only be untagged.
    for image in client().images.list():
        for tag in image.tags:
            if tag.startswith(f"agentgym/{prefix}"):
                client().images.remove(tag, force=True)
    # Builds that lost their tags to a rebuild are ours by label; only those go by id.
    for image in client().images.list(filters={"label": "agentgym.image", "dangling": True}):
        if (image.labels or {}).get("agentgym.image.name", "").startswith(prefix):
            client().images.remove(image.id, force=True)


CHECKS_CA = (
    "FROM agentgym/debian:bookworm\n"
    "ARG AGENTGYM_PIP_CERT\n"
    "COPY agentgym-ca.crt /etc/ssl/certs/agentgym-ca.crt\n"
    'RUN test "$AGENTGYM_PIP_CERT" = /etc/ssl/certs/agentgym-ca.crt\n'
    'RUN grep -q "agentgym test CA" "$AGENTGYM_PIP_CERT"\n'
    "COPY hello.txt /hello.txt\n"
    "RUN cat /hello.txt\n"
)


def tags_of(ref: str) -> list[str]:
    return client().images.get(ref).tags


@pytest.mark.docker
def test_build_tags_lists_and_skips_unchanged_then_rebuilds_on_change(scratch):
    root, prefix, ca = scratch
    name = f"{prefix}-hello"
    folder = write_image(root, name, CHECKS_CA, **{"hello.txt": "hello from agentgym\n"})
    lines: list[str] = []
    [first] = build([name], progress=lines.append)
    assert first.built and first.ref == image_ref(name) and first.hash_tag == f"agentgym/{name}:{content_hash(name)}"
    assert first.size_bytes > 0
    assert "hello from agentgym" in "\n".join(lines)
    assert set(tags_of(first.ref)) == {first.ref, first.hash_tag}
    labels = client().images.get(first.ref).labels
    assert labels["agentgym.image"] == "1" and labels["agentgym.image.name"] == name
    [row] = [r for r in list_images() if r.name == name]
    assert row.current is True and set(row.tags) == {"latest", first.hash_tag.split(":")[1]}

    # Unchanged: nothing is built, even when :latest was moved away or the CA bundle changed.
    client().api.tag(ROOTFS, f"agentgym/{name}", "latest", force=True)
    ca.write_text("-----agentgym test CA marker----- (rotated)\n")
    [again] = build([name])
    assert not again.built and again.seconds < 3 and again.hash_tag == first.hash_tag
    assert client().images.get(again.ref).id == client().images.get(first.hash_tag).id

    (folder / "hello.txt").write_text("changed\n")
    [changed] = build([name])
    assert changed.built and changed.hash_tag != first.hash_tag
    assert client().images.get(changed.ref).id == client().images.get(changed.hash_tag).id
    rows = {r.hash: r for r in list_images() if r.name == name}
    assert rows[changed.hash_tag.split(":")[1]].current is True
    assert rows[first.hash_tag.split(":")[1]].current is False  # the old build stays, marked stale


@pytest.mark.docker
def test_parent_is_built_before_child(scratch):
    root, prefix, _ = scratch
    parent, child = f"{prefix}-parent", f"{prefix}-child"
    write_image(root, parent, "FROM agentgym/debian:bookworm\nCOPY p.txt /p.txt\n", **{"p.txt": "parent"})
    write_image(root, child, f"FROM agentgym/{parent}:latest\nRUN grep -q parent /p.txt\n")
    results = build([child])
    assert [r.name for r in results] == [parent, child]
    assert all(r.built for r in results)
    assert [r.built for r in build([child])] == [False, False]


@pytest.mark.docker
def test_ensure_image_builds_a_missing_image_and_explains_unknown_ones(scratch):
    root, prefix, _ = scratch
    name = f"{prefix}-lazy"
    write_image(root, name, "FROM agentgym/debian:bookworm\nRUN echo lazy > /lazy\n")
    ref = image_ref(name)
    assert ensure_image(f"agentgym/{name}") == ref
    assert client().images.get(ref).labels["agentgym.image.hash"] == content_hash(name)
    started = time.monotonic()
    assert ensure_image(ref) == ref
    assert time.monotonic() - started < 2
    with pytest.raises(ImageNotFoundError, match="now builds"):
        ensure_image(f"agentgym/{name}:000000000000")
    with pytest.raises(ImageNotFoundError, match="agentgym images build"):
        ensure_image("registry.invalid/agentgym/nothing:1")


@pytest.mark.docker
def test_pull_returns_false_quickly_without_a_registry():
    started = time.monotonic()
    assert pull("registry.invalid/agentgym/nothing:1", timeout=5) is False
    # A registry that never answers (non-routable address) must cost about timeout, not forever.
    assert pull("10.255.255.1:5000/agentgym/nothing:1", timeout=2) is False
    assert time.monotonic() - started < 15


@pytest.mark.docker
def test_failed_build_reports_log_tail_and_dockerfile(scratch):
    root, prefix, _ = scratch
    name = f"{prefix}-broken"
    folder = write_image(
        root, name, "FROM agentgym/debian:bookworm\nRUN echo agentgym-marker-before-failure && exit 7\n"
    )
    with pytest.raises(ImageBuildError) as caught:
        build([name])
    message = str(caught.value)
    assert "agentgym-marker-before-failure" in message
    assert str(folder / "Dockerfile") in message and f"agentgym images build {name}" in message
    assert any("agentgym-marker-before-failure" in line for line in caught.value.log_tail)
    assert not client().images.list(name=f"agentgym/{name}")
