"""Cold caches filled by many threads and many processes at once (issue 13, item 7).

`make demo` on a fresh machine lost 9 swe-synth-lite episodes: concurrent rollouts materialized
the same tree in a temp folder named by process id only and deleted each other's half-built
trees. Every cache here is started cold (AGENTGYM_CACHE in tmp_path), hit by N threads released
together by a barrier and by N spawned processes released together by a file barrier, and must
give every caller the same complete entry, built once. Slow builds (images, debootstrap) are
replaced by tiny fakes: what is tested is the locking and the atomic publish around them.

Caches that live in memory only (SQLite templates, time-series instances, web prewarmed browser
contexts) have no disk race; their tests show that they stay correct under the same load and that
every process gets the same data from a cold AGENTGYM_CACHE (a secret or file added there later
must not make processes disagree).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import multiprocessing as mp
import os
import tarfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

N_THREADS = 8
N_PROCS = 4


# ---------------------------------------------------------------- harness


def _capture(fn: Callable[..., Any], *args: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(*args)
    except Exception as exc:  # noqa: BLE001 - reported by the caller, with every other outcome
        return "error", f"{type(exc).__name__}: {str(exc)[:400]}"


def _values(outcomes: list[tuple[str, Any]]) -> list[Any]:
    errors = [value for status, value in outcomes if status != "ok"]
    assert not errors, f"{len(errors)} of {len(outcomes)} callers failed:\n" + "\n".join(errors)
    return [value for _, value in outcomes]


def in_threads(fn: Callable[..., Any], *args: Any, n: int = N_THREADS) -> list[Any]:
    """fn(*args) in n threads that start together; their results (any failure fails the test)."""
    barrier = threading.Barrier(n)

    def run() -> tuple[str, Any]:
        barrier.wait(timeout=60)
        return _capture(fn, *args)

    with ThreadPoolExecutor(n) as pool:
        return _values([f.result(timeout=180) for f in [pool.submit(run) for _ in range(n)]])


def _gated(gate: str, n: int, fn: Callable[..., Any], *args: Any) -> tuple[str, Any]:
    """In a worker process: wait until n workers are here, then run fn (all start together)."""
    Path(gate, f"{os.getpid()}-{uuid.uuid4().hex}").touch()
    deadline = time.monotonic() + 60
    while len(os.listdir(gate)) < n:
        if time.monotonic() > deadline:
            return "error", f"only {len(os.listdir(gate))} of {n} workers arrived"
        time.sleep(0.005)
    return _capture(fn, *args)


@contextmanager
def _scoped(module: Any = None, attrs: tuple[str, ...] = ()) -> Iterator[None]:
    """In a worker process: put back the environment and module attributes it changes (workers are
    reused). In the test process the fixtures' monkeypatch does it, after every thread is done."""
    if mp.parent_process() is None:
        yield
        return
    env = dict(os.environ)
    saved = {name: getattr(module, name) for name in attrs}
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(env)
        for name, value in saved.items():
            setattr(module, name, value)


@pytest.fixture(scope="module")
def procs():
    """N spawned worker processes, kept for the module (each imports agentgym once)."""
    with ProcessPoolExecutor(N_PROCS, mp_context=mp.get_context("spawn")) as pool:
        yield pool


def in_processes(pool: ProcessPoolExecutor, tmp_path: Path, fn: Callable[..., Any], *args: Any) -> list[Any]:
    """fn(*args) in N_PROCS distinct processes that start together (a worker blocked at the gate
    cannot take a second call, so every call lands in its own process)."""
    gate = tmp_path / f"gate-{uuid.uuid4().hex[:8]}"
    gate.mkdir()
    futures = [pool.submit(_gated, str(gate), N_PROCS, fn, *args) for _ in range(N_PROCS)]
    return _values([f.result(timeout=240) for f in futures])


@pytest.fixture
def cold(tmp_path, monkeypatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("AGENTGYM_CACHE", str(cache))
    return cache


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


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
    assert len(_lines(log)) == 1, f"built {len(_lines(log))} times"
    assert _no_temps(cold / "swe" / "trees") == []


def test_tree_cache_cold_many_processes_build_once(cold, tmp_path, procs):
    inst = _synth_instance()
    log = tmp_path / "builds.log"
    results = in_processes(procs, tmp_path, _tree_worker, str(cold), str(log))
    assert {commit for commit, _ in results} == {inst.base_commit}
    assert len({digest for _, digest in results}) == 1
    assert len(_lines(log)) == 1, f"built {len(_lines(log))} times"
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
    with _scoped(build_mod, _FAKED):
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
    assert len(_lines(log)) == 1, f"built {len(_lines(log))} times"


def test_image_build_cold_many_processes_builds_once(cold, tmp_path, tiny_images, procs):
    log = tmp_path / "builds.log"
    results = in_processes(procs, tmp_path, _image_worker, str(cold), str(tiny_images),
                           str(tmp_path / "registry"), str(log))
    assert len({tag for r in results for tag, _ in r}) == 1
    assert len(_lines(log)) == 1, f"built {len(_lines(log))} times"


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

    with _scoped(rootfs_mod, ("_ensure_debootstrap", "import_rootfs")):
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
    assert len(_lines(log)) == 1, f"debootstrap ran {len(_lines(log))} times"
    assert len(_rootfs_left(cold)) == 1  # the tarball; no work tree or partial tar left


def test_rootfs_tarball_cold_many_processes_bootstraps_once(cold, tmp_path, fake_debootstrap, procs):
    script, log = fake_debootstrap
    results = in_processes(procs, tmp_path, _rootfs_worker, str(cold), str(script), str(log))
    assert len(set(results)) == N_PROCS  # one tag per process, one tarball for all
    assert len(_lines(log)) == 1, f"debootstrap ran {len(_lines(log))} times"
    assert len(_rootfs_left(cold)) == 1


# ---------------------------------------------------------------- SQL templates (SQLite: in memory)


def _sqlite_worker(cache: str, db_id: str) -> str:
    """A fresh episode copy of db_id from a cold template cache: a digest of every table's rows."""
    os.environ["AGENTGYM_CACHE"] = cache
    from agentgym.envs.sql.engines.sqlite import SqliteEngine

    db = SqliteEngine().open(db_id)
    try:
        digest = hashlib.sha256()
        tables = [r[0] for r in db.conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        assert tables, f"{db_id}: the copy has no tables"
        for table in tables:
            rows = db.conn.execute(f'SELECT * FROM "{table}" ORDER BY 1').fetchall()
            digest.update(f"{table}:{len(rows)}:{rows!r}".encode())
        return digest.hexdigest()
    finally:
        db.close()


@pytest.fixture
def cold_sqlite(monkeypatch):
    from agentgym.envs.sql.engines.sqlite import SqliteEngine

    monkeypatch.setattr(SqliteEngine, "_templates", {})  # cold for this test, the shared one back after


def test_sqlite_templates_cold_many_threads_and_processes(cold, tmp_path, cold_sqlite, procs):
    """SQLite templates live in each process's memory (built under a class lock); nothing is
    written to the cache, and every thread and process gets the same full database."""
    from agentgym.envs.sql.engines.sqlite import SqliteEngine

    threads = in_threads(_sqlite_worker, str(cold), "retail_lite")
    assert len(SqliteEngine._templates) == 1
    processes = in_processes(procs, tmp_path, _sqlite_worker, str(cold), "retail_lite")
    assert len(set(threads + processes)) == 1
    assert not cold.exists() or not any(cold.rglob("*"))


# ---------------------------------------------------------------- time-series task builds (in memory)


def _timeseries_worker(cache: str, task_id: str) -> str:
    """Build task_id from a cold cache: a digest of what the agent sees and what grading hides."""
    os.environ["AGENTGYM_CACHE"] = cache
    from agentgym.envs.timeseries import builders
    from agentgym.envs.timeseries.catalog import all_specs

    spec = next(s for s in all_specs() if s.id == task_id)
    inst = builders.build(spec)
    body = json.dumps([inst.public_files, inst.hidden_inputs, inst.answers.to_csv(index=False),
                       inst.floor, inst.reference, inst.pass_reward, inst.baselines], sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def test_timeseries_builds_cold_many_threads_and_processes(cold, tmp_path, procs, monkeypatch):
    """Instances are built in memory, once per process and spec; threads get the one kept, and
    processes started on the same cold cache build identical public files and hidden answers."""
    from agentgym.envs.timeseries import builders

    monkeypatch.setattr(builders, "_CACHE", {})
    threads = in_threads(_timeseries_worker, str(cold), "imp-blocks-d-20")
    assert len(builders._CACHE) == 1
    processes = in_processes(procs, tmp_path, _timeseries_worker, str(cold), "imp-blocks-d-20")
    assert len(set(threads)) == 1 and set(processes) == set(threads)


# ---------------------------------------------------------------- web prewarm (browser contexts, in memory)


def _web_worker(cache: str, resets: int) -> list[str]:
    """One web-lite env reset `resets` times (from the second reset on, the env prewarms the next
    episode's context): each reset must land on its task's start page with no error."""
    os.environ["AGENTGYM_CACHE"] = cache
    import agentgym

    env = agentgym.make("web-lite", runtime="local")
    seen = []
    try:
        for seed in range(resets):
            obs, info = env.reset(seed=seed)
            assert "error" not in info, info
            task = env.task()
            start = env.host.origins[task.start[0]] + task.start[1]
            assert obs["url"] == start, (obs["url"], start)
            seen.append(f"{env.task_id}@{task.start[1]}")
    finally:
        env.close()
    return seen


@pytest.mark.slow
def test_web_prewarm_many_threads_and_processes(cold, tmp_path, procs):
    """Prewarmed contexts are per env and in memory (nothing on disk): envs reset at once in
    threads sharing one browser, and in processes with a browser each, all start where their
    task says."""
    threads = in_threads(_web_worker, str(cold), 3, n=4)
    processes = in_processes(procs, tmp_path, _web_worker, str(cold), 3)
    assert all(len(s) == 3 for s in threads + processes)
    assert len({tuple(s) for s in threads + processes}) == 1  # same seeds, same tasks everywhere


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


# ---------------------------------------------------------------- SQL templates (PostgreSQL: in its server)


def _pg_digest(engine: Any, db_id: str) -> str:
    db = engine.open(db_id)
    try:
        tables = db.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
                            "ORDER BY 1", max_rows=1000).rows
        assert tables, f"{db_id}: the copy has no tables"
        digest = hashlib.sha256()
        for (table,) in tables:
            rows = db.execute(f'SELECT * FROM "{table}" ORDER BY 1', max_rows=10**6).rows
            digest.update(f"{table}:{len(rows)}:{rows!r}".encode())
        return digest.hexdigest()
    finally:
        db.close()


def _pg_worker(cache: str, db_id: str, copies: int) -> list[str]:
    """A fresh server of this process; `copies` threads take episode copies of a cold template."""
    os.environ["AGENTGYM_CACHE"] = cache
    from agentgym.envs.sql.engines.postgres import PostgresEngine

    engine = PostgresEngine(spares=0)
    try:
        with ThreadPoolExecutor(copies) as pool:
            return list(pool.map(lambda _: _pg_digest(engine, db_id), range(copies)))
    finally:
        engine.close()


@pytest.mark.docker
def test_postgres_templates_cold_many_threads_and_processes(cold, tmp_path, procs):
    """PostgreSQL templates live in each process's own server container (nothing on the host's
    disk), built once per server under a lock per template: threads of one process and processes
    with a server each all get the same full database."""
    results = in_processes(procs, tmp_path, _pg_worker, str(cold), "retail_lite", 4)
    assert len({d for r in results for d in r}) == 1
