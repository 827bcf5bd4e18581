"""Child processes for leak checks, tolerant of processes that exit while they are listed
(Chromium starts and ends helper processes all the time)."""

from __future__ import annotations

import time

import psutil


def children_named(part: str = "") -> list[psutil.Process]:
    """This process's descendants whose name contains `part` (all of them for "")."""
    found = []
    for p in psutil.Process().children(recursive=True):
        try:
            if part in p.name():
                found.append(p)
        except psutil.NoSuchProcess:
            pass
    return found


def still_running(procs: list[psutil.Process]) -> list[psutil.Process]:
    """Those of `procs` that still run (zombies and vanished processes excluded)."""
    alive = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except psutil.NoSuchProcess:
            pass
    return alive


def wait_gone(procs: list[psutil.Process], timeout: float = 10.0) -> list[psutil.Process]:
    """Wait up to `timeout` s for `procs` to end (a zombie counts as ended: its reaper may be an
    init that never reaps); those still running then."""
    deadline = time.monotonic() + timeout
    while (alive := still_running(procs)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive
