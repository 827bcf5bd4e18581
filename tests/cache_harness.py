"""The harness of the cold-cache concurrency tests (test_cache_concurrency*.py, issue 13 item 7).

Every cache there is started cold (AGENTGYM_CACHE in tmp_path), hit by N threads released
together by a barrier and by N spawned processes released together by a file barrier, and must
give every caller the same complete entry, built once. Here: running a function that way and
collecting every caller's outcome (any failure fails the test, with all the others), and the
fixtures (`cold`, `procs`) the test modules import.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

N_THREADS = 8
N_PROCS = 4


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
def scoped(module: Any = None, attrs: tuple[str, ...] = ()) -> Iterator[None]:
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


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []
