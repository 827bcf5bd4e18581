"""The Debian rootfs the images build on: mirror detection, the debootstrap tarball and its cache, the
bootstrap import, and an official image preferred when one is here. Split from test_images.py (the
image pipeline's hashes and builds); with Docker, throwaway tags only (agentgym/debian:agtest*)."""

from __future__ import annotations

import tarfile
import time
import uuid

import pytest

import agentgym.images as images
import agentgym.images.rootfs as rootfs_mod
from agentgym.images import ROOTFS, build, detect_mirror, ensure_rootfs, rootfs_tarball
from agentgym.images.core import ImageError, Reporter, client


def test_detect_mirror_reads_both_apt_formats(tmp_path, monkeypatch):
    monkeypatch.delenv("AGENTGYM_DEBIAN_MIRROR", raising=False)
    one_line = tmp_path / "sources.list"
    one_line.write_text(
        "# deb http://commented.example/debian bookworm main\n"
        "deb-src http://src.example/debian bookworm main\n"
        "deb http://security.debian.org/debian-security bookworm-security main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://mirror.example.org/debian/ bookworm main\n"
    )
    assert detect_mirror([one_line]) == "http://mirror.example.org/debian"

    deb822 = tmp_path / "debian.sources"
    deb822.write_text(
        "Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://disabled.example/debian\nSuites: bookworm\nEnabled: no\n\n"
        "Types: deb-src deb\nURIs: http://snapshot.debian.org/archive/debian/20250520T000000Z\nSuites: bookworm\n"
    )
    assert (
        detect_mirror([tmp_path / "missing.list", deb822])
        == "http://snapshot.debian.org/archive/debian/20250520T000000Z"
    )

    nothing = tmp_path / "other.list"
    nothing.write_text("deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main\n")
    assert detect_mirror([nothing]) == "http://deb.debian.org/debian"
    monkeypatch.setenv("AGENTGYM_DEBIAN_MIRROR", "http://local.mirror/debian/")
    assert detect_mirror([one_line]) == "http://local.mirror/debian"


def test_rootfs_tarball_is_cached_under_agentgym_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTGYM_CACHE", str(tmp_path / "c"))
    path = rootfs_tarball("amd64")
    assert path == tmp_path / "c" / "rootfs" / "debian-bookworm-minbase-amd64.tar"
    monkeypatch.delenv("AGENTGYM_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert (
        rootfs_tarball("arm64")
        == tmp_path / "home" / ".cache" / "agentgym" / "rootfs" / "debian-bookworm-minbase-arm64.tar"
    )


FAKE_DEBOOTSTRAP = """#!/bin/sh
# Stands in for debootstrap: makes a tiny tree with the leftovers the real one leaves behind.
target=$(eval echo \\${$(($# - 1))})
mkdir -p "$target/etc" "$target/var/cache/apt/archives" "$target/var/lib/apt/lists/partial" "$target/bin"
echo "nameserver 10.0.0.1" > "$target/etc/resolv.conf"
echo "12.0" > "$target/etc/debian_version"
echo deb > "$target/var/cache/apt/archives/bash_5.2_amd64.deb"
echo lists > "$target/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages"
echo "I: Base system installed successfully."
"""


@pytest.fixture
def fake_debootstrap(tmp_path, monkeypatch):
    script = tmp_path / "debootstrap"
    script.write_text(FAKE_DEBOOTSTRAP)
    script.chmod(0o755)
    monkeypatch.setattr(rootfs_mod, "_ensure_debootstrap", lambda rep: str(script))
    monkeypatch.setenv("AGENTGYM_CACHE", str(tmp_path / "cache"))
    return script


def test_rootfs_tarball_is_slimmed_and_the_work_tree_removed(fake_debootstrap, tmp_path):
    tarball = rootfs_tarball()
    rootfs_mod.make_rootfs_tarball(tarball, "http://mirror.example/debian", Reporter())
    with tarfile.open(tarball) as tar:
        names = {n.lstrip("./") for n in tar.getnames()}
        resolv = tar.extractfile("./etc/resolv.conf").read()
    assert "etc/debian_version" in names and resolv == b""
    assert not [n for n in names if n.endswith(".deb") or n.endswith("_Packages")]
    assert "var/lib/apt/lists/partial" in names
    assert sorted(p.name for p in tarball.parent.iterdir()) == [tarball.name]  # no work tree, no .partial


def test_failing_or_stalled_commands_are_reported_not_hung():
    with pytest.raises(ImageError, match=r"(?s)exit 3.*line-before-failure.*AGENTGYM_DEBIAN_MIRROR"):
        rootfs_mod._run_logged(["sh", "-c", "echo line-before-failure; exit 3"], Reporter(), timeout=30, what="t")
    started = time.monotonic()
    with pytest.raises(ImageError, match="killed after"):
        rootfs_mod._run_logged(["sh", "-c", "sleep 30"], Reporter(), timeout=0.5, what="t")
    assert time.monotonic() - started < 10


@pytest.mark.docker
def test_ensure_rootfs_returns_the_existing_image_at_once():
    started = time.monotonic()
    assert ensure_rootfs() == ROOTFS
    assert time.monotonic() - started < 2


@pytest.mark.docker
@pytest.mark.slow
def test_base_image_has_python_with_the_stdlib_the_channel_needs(monkeypatch):
    monkeypatch.delenv("AGENTGYM_IMAGES_DIR", raising=False)
    [result] = build(["base"])
    out = client().containers.run(
        result.ref, ["python3", "-c", "import json, selectors, base64, subprocess, os; print(os.getcwd())"],
        remove=True, network_disabled=True, labels={"agentgym.test": "images"},
    )  # fmt: skip
    assert out.decode().strip() == "/workspace"


@pytest.mark.docker
def test_bootstrap_imports_with_cmd_and_labels_then_reuses_the_cache(fake_debootstrap):
    tag = f"agentgym/debian:agtest{uuid.uuid4().hex[:8]}"
    try:
        assert images.bootstrap_rootfs(tag, mirror="http://mirror.example/debian") == tag
        config = client().images.get(tag).attrs["Config"]
        assert config["Cmd"] == ["/bin/bash"] and config["Labels"]["agentgym.image"] == "1"
        assert rootfs_tarball().is_file()
        fake_debootstrap.write_text("#!/bin/sh\nexit 9\n")  # a second bootstrap must not run it
        client().images.remove(tag)
        assert images.bootstrap_rootfs(tag) == tag
    finally:
        for image in client().images.list(name=tag.split(":")[0]):
            if tag in image.tags:
                client().images.remove(tag, force=True)


@pytest.mark.docker
def test_ensure_rootfs_prefers_an_official_image_when_one_is_here(monkeypatch):
    # Stand the existing rootfs in for debian:bookworm-slim, as if a registry had answered.
    monkeypatch.setattr(rootfs_mod, "SLIM", ROOTFS)
    tag = f"agentgym/debian:agtest{uuid.uuid4().hex[:8]}"
    try:
        assert ensure_rootfs(tag=tag) == tag
        labels = client().images.get(tag).labels
        assert labels["agentgym.image"] == "1" and labels["agentgym.image.name"] == "debian"
    finally:
        client().images.remove(tag, force=True)
