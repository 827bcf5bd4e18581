"""Cold on-disk caches filled by many threads and many processes at once (issue 13, item 7).

`make demo` on a fresh machine lost 9 swe-synth-lite episodes: concurrent rollouts materialized
the same tree in a temp folder named by process id only and deleted each other's half-built
trees. Here every cache that builds files (SWE trees, content-hashed images, the rootfs tarball,
the SWE instance-image LRU file) is hit cold by N threads and N processes at once
(cache_harness.py) and must give every caller the same complete entry, built once. Slow builds
(images, debootstrap) are replaced by tiny fakes: what is tested is the locking and the atomic
publish around them. In-memory caches: test_cache_concurrency_memory.py.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import tarfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cache_harness import N_PROCS, N_THREADS, cold, in_processes, in_threads, lines, procs, scoped  # noqa: F401


# ---------------------------------------------------------------- SWE trees


def _synth_instance():
    from agentgym.envs.swe.suites import synth_instances

    return synth_instances("lite")[0]


def _tree_digest(tree: Path) -> str:
    files = sorted(str(p.relative_to(tree)) + ":" + str(p.stat().st_size)
                   for p in tree.rglob("*") if p.is_file() and ".git" not in p.relative_to(tree).parts)
    return hashlib.sha256("\n".join(files).encode()).hexdigest()


def _tree_worker(cache: str, log: str) -> tuple[str, str]:
    """Materialize the first swe-synth-lite instance through the tree cache, noting each build."""
    os.environ["AGENTGYM_CACHE"] = cache
    from agentgym.envs.swe.sources import SynthSource, cached_tree

    class Counting(SynthSource):
        def materialize(self, instance, dest):
            with open(log, "a") as handle:
                handle.write(f"{os.getpid()}-{threading.get_ident()}\n")
            return super().materialize(instance, dest)

    tree, commit = cached_tree(Counting(), _synth_instance())
    return commit, _tree_digest(tree)


def _no_temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name or ".stale" in p.name)


def test_tree_cache_cold_many_threads_build_once(cold, tmp_path):
    """8 threads of one process (the demo's rollouts) ask for the same instance's tree at once."""
    inst = _synth_instance()
    log = tmp_path / "builds.log"
    results = in_threads(_tree_worker, str(cold), str(log))
    assert {commit for commit, _ in results} == {inst.base_commit}
    assert len({digest for _, digest in results}) == 1
    assert len(lines(log)) == 1, f"built {len(lines(log))} times"
    assert _no_temps(cold / "swe" / "trees") == []


def test_tree_cache_cold_many_processes_build_once(cold, tmp_path, procs):
    inst = _synth_instance()
    log = tmp_path / "builds.log"
    results = in_processes(procs, tmp_path, _tree_worker, str(cold), str(log))
    assert {commit for commit, _ in results} == {inst.base_commit}
    assert len({digest for _, digest in results}) == 1
    assert len(lines(log)) == 1, f"built {len(lines(log))} times"
    assert _no_temps(cold / "swe" / "trees") == []


class _SlowSource:
    """A source whose build takes a while and can be told to have its folder removed meanwhile."""

    def __init__(self, sabotage: bool = False):
        self.calls = 0
        self.sabotage = sabotage

    def key(self, instance) -> str:
        return f"slow:{instance.instance_id}"

    def materialize(self, instance, dest: Path) -> str:
        import shutil

        self.calls += 1
        dest.mkdir(parents=True)
        (dest / "a.py").write_text("x = 1\n")
        time.sleep(0.2)  # every thread is waiting by now; an unlocked cache lets them all in here
        if self.sabotage:
            shutil.rmtree(dest.parent)  # what the old pid-named temp let another thread do
        (dest / "b.py").write_text("y = 2\n")
        return instance.base_commit


def test_tree_cache_locks_per_instance_and_reports_races_as_races(cold):
    from agentgym.envs.swe.sources import SourceError, _slug, cached_tree, tree_cache_dir

    inst = _synth_instance()
    slow = _SlowSource()
    results = in_threads(lambda: cached_tree(slow, inst))
    assert slow.calls == 1 and {c for _, c in results} == {inst.base_commit}
    assert sorted(p.name for p in results[0][0].iterdir()) == ["a.py", "b.py"]

    # A folder removed under a build is blamed on what removed it, never on the suite.
    other = inst.model_copy(update={"instance_id": inst.instance_id + "-sabotaged"})
    with pytest.raises(SourceError) as caught:
        cached_tree(_SlowSource(sabotage=True), other)
    message = str(caught.value)
    assert "another process" in message and "nothing is wrong with the suite" in message
    assert "regenerate" not in message
    # A half-built entry (no completion marker, e.g. from an older version) and a killed
    # builder's temp folder are cleaned up by the next build.
    digest = hashlib.sha256(f"slow:{other.instance_id}".encode()).hexdigest()[:16]
    entry = tree_cache_dir() / f"{_slug(other.instance_id)}-{digest}"
    (entry / "tree").mkdir(parents=True)
    orphan = entry.with_name(f".{entry.name}.tmp-killed")
    orphan.mkdir()
    tree, commit = cached_tree(_SlowSource(), other)
    assert commit == inst.base_commit and (tree / "b.py").is_file()
    assert not orphan.exists() and _no_temps(tree_cache_dir()) == []


# ---------------------------------------------------------------- content-hashed image builds


class _FakeImage:
    def __init__(self, image_id: str):
        self.id = image_id
        self.attrs = {"Size": 1}


_FAKED = ("get_image", "tag_image", "image_exists", "_stream_build")


def _fake_docker(registry: Path, log: Path) -> None:
    """Point agentgym.images.build at a 'daemon' made of files, whose build takes 0.3 s."""
    build_mod = importlib.import_module("agentgym.images.build")  # the package's `build` is the function

    def key(ref: str) -> Path:
        return registry / ref.replace("/", "_").replace(":", "@")

    def get_image(ref: str):
        path = key(ref)
        return _FakeImage(path.read_text()) if path.exists() else None

    def tag_image(image_id: str, ref: str) -> None:
        key(ref).write_text(image_id)

    def stream_build(name, dockerfile, context, tag, buildargs, labels, *, nocache, rep):
        assert (context / "Dockerfile").is_file()
        with open(log, "a") as handle:
            handle.write(f"{tag}\n")
        time.sleep(0.3)
        image_id = f"sha256:{uuid.uuid4().hex}"
        tag_image(image_id, tag)
        return image_id

    registry.mkdir(parents=True, exist_ok=True)
    build_mod.get_image = get_image
    build_mod.tag_image = tag_image
    build_mod.image_exists = lambda ref: get_image(ref) is not None
    build_mod._stream_build = stream_build


def _image_worker(cache: str, images: str, registry: str, log: str) -> list[tuple[str, bool]]:
    build_mod = importlib.import_module("agentgym.images.build")
    with scoped(build_mod, _FAKED):
        os.environ["AGENTGYM_CACHE"] = cache
        os.environ["AGENTGYM_IMAGES_DIR"] = images
        _fake_docker(Path(registry), Path(log))
        build_mod.ensure_image("agentgym/tiny:latest")
        return [(r.hash_tag, r.built) for r in build_mod.build(["tiny"])]


@pytest.fixture
def tiny_images(tmp_path, monkeypatch) -> Path:
    images = tmp_path / "images"
    (images / "tiny").mkdir(parents=True)
    (images / "tiny" / "Dockerfile").write_text("FROM scratch\nCOPY Dockerfile /\n")
    monkeypatch.setenv("AGENTGYM_IMAGES_DIR", str(images))
    build_mod = importlib.import_module("agentgym.images.build")  # the package's `build` is the function

    for name in _FAKED:
        monkeypatch.setattr(build_mod, name, getattr(build_mod, name))  # restored after the test
    return images


def test_image_build_cold_many_threads_builds_once(cold, tmp_path, tiny_images):
    log = tmp_path / "builds.log"
    results = in_threads(_image_worker, str(cold), str(tiny_images), str(tmp_path / "registry"), str(log))
    assert len({tag for r in results for tag, _ in r}) == 1
    assert len(lines(log)) == 1, f"built {len(lines(log))} times"


def test_image_build_cold_many_processes_builds_once(cold, tmp_path, tiny_images, procs):
    log = tmp_path / "builds.log"
    results = in_processes(procs, tmp_path, _image_worker, str(cold), str(tiny_images),
                           str(tmp_path / "registry"), str(log))
    assert len({tag for r in results for tag, _ in r}) == 1
    assert len(lines(log)) == 1, f"built {len(lines(log))} times"


# ---------------------------------------------------------------- the rootfs tarball

FAKE_DEBOOTSTRAP = """#!/bin/sh
# Stands in for debootstrap: notes the call, takes a moment, makes a tiny tree.
target=$(eval echo \\${$(($# - 1))})
echo run >> "$AGENTGYM_TEST_DEBOOTSTRAP_LOG"
mkdir -p "$target/etc" "$target/bin"
sleep 0.3
echo "12.0" > "$target/etc/debian_version"
"""


def _rootfs_worker(cache: str, script: str, log: str, tag: str = "") -> str:
    """bootstrap_rootfs(tag) with a fake debootstrap and a fake `docker import` that checks the tar."""
    from agentgym.images import rootfs as rootfs_mod

    def import_rootfs(tarball: Path, tag: str, rep) -> str:
        with tarfile.open(tarball) as tar:
            assert tar.extractfile("./etc/debian_version").read() == b"12.0\n"
        return tag

    with scoped(rootfs_mod, ("_ensure_debootstrap", "import_rootfs")):
        os.environ["AGENTGYM_CACHE"] = cache
        os.environ["AGENTGYM_TEST_DEBOOTSTRAP_LOG"] = log
        rootfs_mod._ensure_debootstrap = lambda rep: script
        rootfs_mod.import_rootfs = import_rootfs
        return rootfs_mod.bootstrap_rootfs(tag=tag or f"agtest/rootfs{os.getpid()}:x",
                                           mirror="http://mirror.example/debian")


@pytest.fixture
def fake_debootstrap(tmp_path, monkeypatch) -> tuple[Path, Path]:
    from agentgym.images import rootfs as rootfs_mod

    script, log = tmp_path / "debootstrap", tmp_path / "debootstrap.log"
    script.write_text(FAKE_DEBOOTSTRAP)
    script.chmod(0o755)
    monkeypatch.setenv("AGENTGYM_TEST_DEBOOTSTRAP_LOG", str(log))  # restored after the test
    for name in ("_ensure_debootstrap", "import_rootfs"):
        monkeypatch.setattr(rootfs_mod, name, getattr(rootfs_mod, name))
    return script, log


def _rootfs_left(cache: Path) -> list[str]:
    return sorted(p.name for p in (cache / "rootfs").iterdir())


def test_rootfs_tarball_cold_many_threads_bootstraps_once(cold, fake_debootstrap):
    """Several tags made at once share one tarball: one debootstrap, every import reads a whole tar."""
    script, log = fake_debootstrap
    tags = iter(f"agtest/rootfs{i}:x" for i in range(N_THREADS))
    lock = threading.Lock()

    def one() -> str:
        with lock:
            tag = next(tags)
        return _rootfs_worker(str(cold), str(script), str(log), tag)

    assert len(set(in_threads(one))) == N_THREADS
    assert len(lines(log)) == 1, f"debootstrap ran {len(lines(log))} times"
    assert len(_rootfs_left(cold)) == 1  # the tarball; no work tree or partial tar left


def test_rootfs_tarball_cold_many_processes_bootstraps_once(cold, tmp_path, fake_debootstrap, procs):
    script, log = fake_debootstrap
    results = in_processes(procs, tmp_path, _rootfs_worker, str(cold), str(script), str(log))
    assert len(set(results)) == N_PROCS  # one tag per process, one tarball for all
    assert len(lines(log)) == 1, f"debootstrap ran {len(lines(log))} times"
    assert len(_rootfs_left(cold)) == 1


# ---------------------------------------------------------------- SWE instance-image LRU file


def _touch_worker(cache: str, prefix: str, count: int) -> int:
    os.environ["AGENTGYM_CACHE"] = cache
    from agentgym.envs.swe.images import touch

    for i in range(count):
        touch(f"{prefix}-{os.getpid()}-{threading.get_ident()}-{i}")
    return count


def _read_lru_while(busy: Callable[[], bool], path: Path) -> tuple[int, list[str]]:
    """Read the LRU file the way instance_images() does (without its lock) until busy() is False."""
    reads, bad = 0, []
    while busy():
        try:
            json.loads(path.read_text()) if path.is_file() else {}
        except (ValueError, FileNotFoundError) as exc:
            bad.append(f"{type(exc).__name__}: {exc}")
        reads += 1
    return reads, bad


def test_swe_image_lru_cold_many_threads_and_processes(cold, tmp_path, procs):
    """touch() from many threads and processes loses no entry (its lock), and a reader without
    the lock (instance_images, the disk budget) never sees a half-written file."""
    from agentgym.envs.swe.images import _lru_path

    path = _lru_path()
    with ThreadPoolExecutor(1) as reader:
        done = threading.Event()
        reading = reader.submit(_read_lru_while, lambda: not done.is_set(), path)
        try:
            counts = in_threads(_touch_worker, str(cold), "t", 100, n=4)
            counts += in_processes(procs, tmp_path, _touch_worker, str(cold), "p", 100)
        finally:
            done.set()
        reads, bad = reading.result()
    assert not bad, f"{len(bad)} of {reads} reads saw a partial file: {bad[:3]}"
    assert len(json.loads(path.read_text())) == sum(counts)
