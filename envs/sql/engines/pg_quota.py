"""Disk walls on the shared PostgreSQL server: a per-episode quota and a reserve no copy may take.

Why: every episode's database lives on one data disk (a tmpfs in the container). One agent that
fills it (INSERT ... SELECT generate_series, a temp table, a huge sort) made the next template
copy's checkpoint PANIC the server, killing every backend of every episode (issue 13). So:

- temp files: the server runs with temp_file_limit = the quota (pg_server passes `-c`); it is a
  superuser setting, so an agent's SET, SET ROLE or ALTER ROLE cannot lift it, and a runaway sort
  or hash gets an ERROR (an SQL error the agent sees; the episode goes on).
- database growth: while a statement runs, and once after, a guard thread measures the episode
  databases that ran something (pg_database_size over its own superuser connection, every
  `poll_s`); one grown past its start size + quota is marked and its statement cancelled. The
  episode then gets QuotaExceeded (an agent failure that ends the episode: the space is only
  freed when its database is dropped), every other episode goes on.
- the reserve: the guard also reads the data disk's free space (statvfs through the container's
  /proc/<pid>/root when this process may, else `stat -f` run by the server); under `reserve`
  it stops the largest writer the same way, and create_episode refuses a copy that would leave
  less than half the reserve (PostgresUnavailable: capacity, not the agent). Checkpoints and the
  catalogs always keep room, so the server never PANICs for want of disk.

- shared catalogs: `ALTER ROLE agentgym_owner SET ...` is the one write an episode can make outside
  its database (a role may set its own defaults; the session acts as the owner role). Nothing
  ever logs in as that role, so the settings are never applied, but they live in a shared catalog
  (pg_db_role_setting, in no episode's pg_database_size), and a loop of them (each a new row
  version until vacuumed) could fill the disk unseen. The guard also reads the shared catalogs'
  size: past one quota of growth, the episodes whose statement holds a lock on them are stopped,
  and once nobody does, every role setting is deleted and the catalogs rewritten (VACUUM FULL).

Overshoot: a writer can outrun a poll by poll_s times its write rate (~60 MB/s measured here, so
~3 MB at 50 ms); the reserve is sized far above that.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentgym.envs.sql.engines.pg_server import PgServer

MB = 1024 * 1024


def size_bytes(text: str | None) -> int | None:
    """'6g', '300m', '512k' or bytes as Docker writes tmpfs sizes; None stays None."""
    if not text:
        return None
    t = text.strip().lower().removesuffix("b")
    mult = {"k": 1024, "m": MB, "g": 1024 * MB, "t": 1024**4}.get(t[-1:], 1)
    return int(float(t[:-1] if t[-1:] in "kmgt" else t) * mult)


#: shared catalogs an episode's role can write to (its own role's settings and comments)
SHARED_CATALOGS = ("pg_catalog.pg_db_role_setting", "pg_catalog.pg_shdescription", "pg_catalog.pg_shseclabel")
_SHARED_SIZE = ("SELECT COALESCE(SUM(pg_catalog.pg_total_relation_size(c)), 0)::bigint "
                "FROM unnest(%s::regclass[]) AS c")
_SHARED_LOCKERS = "SELECT DISTINCT pid FROM pg_catalog.pg_locks WHERE relation = ANY(%s::regclass[])"


class DiskGuard:
    """Quota and reserve for one running container (see the module docstring). Thread-safe."""

    def __init__(self, server: PgServer, *, quota: int, reserve: int, poll_s: float, data_path: str,
                 disk_size: int | None, container_pid: int | None):
        self.server = server
        self.quota, self.reserve, self.poll_s = quota, reserve, poll_s
        self._data_path = data_path
        self._lock = threading.Lock()
        self._db_lock = threading.Lock()  # the guard's connection: one user at a time
        self._conn: Any = None
        self._active: dict[str, int] = {}  # episode -> backend pid, while a statement runs
        self._dirty: set[str] = set()
        self._base: dict[str, int] = {}  # episode or template -> its size when it was made
        self._faults: dict[str, str] = {}
        self._shared_base: int | None = None  # the shared catalogs' size at the first poll
        self._shared_dirty = False  # they grew past the quota: clean them once nobody holds them
        self._wake = threading.Event()
        self._closed = False
        self._statvfs = self._find_statvfs(container_pid, disk_size)
        self.thread = threading.Thread(target=self._loop, name="agentgym-pg-disk-guard", daemon=True)
        self.thread.start()

    # ---- what episodes tell the guard ------------------------------------------------------------
    def copy_size(self, source: str, admin: Any) -> int:
        """The bytes a copy of `source` takes: a template's size is read once (and is the start
        size of its copies), an episode's (a fork's source) is read now."""
        with self._lock:
            base = self._base.get(source)
        if base is not None and not source.startswith("ep_"):
            return base
        with admin() as a:
            now = a.execute("SELECT pg_catalog.pg_database_size(%s)", (source,)).fetchone()[0]
        with self._lock:
            self._base.setdefault(source, now)
        return now

    def register(self, name: str, source: str) -> None:
        """A new episode copied from `source`: its quota counts from the source's start size (a
        fork of a grown episode gets no fresh allowance)."""
        with self._lock:
            if source in self._base:
                self._base[name] = self._base[source]

    def begin(self, name: str, pid: int) -> None:
        with self._lock:
            self._active[name] = pid
            self._dirty.add(name)
        self._wake.set()

    def end(self, name: str) -> None:
        with self._lock:
            if self._active.pop(name, None) is not None:
                self._dirty.add(name)  # one more look after the statement: its last writes count too
        self._wake.set()

    def fault(self, name: str) -> str | None:
        with self._lock:
            return self._faults.get(name)

    def forget(self, name: str) -> None:
        with self._lock:
            for d in (self._active, self._base, self._faults):
                d.pop(name, None)
            self._dirty.discard(name)

    # ---- the data disk ---------------------------------------------------------------------------
    def _find_statvfs(self, pid: int | None, disk_size: int | None) -> str | None:
        """The container's data mount as this process sees it, when it may (root, local Docker) and
        it really is that disk (its size matches the tmpfs we asked for)."""
        if not pid:
            return None
        path = f"/proc/{pid}/root{self._data_path}"
        try:
            st = os.statvfs(path)
        except OSError:
            return None
        if disk_size is not None and abs(st.f_blocks * st.f_frsize - disk_size) > max(disk_size // 20, MB):
            return None
        return path

    def free_bytes(self) -> int:
        """Free bytes on the data disk now."""
        if self._statvfs is not None:
            with contextlib.suppress(OSError):
                st = os.statvfs(self._statvfs)
                return st.f_bavail * st.f_frsize
        with self._db_lock:
            conn = self._connection()
            conn.execute("TRUNCATE _agentgym_df")
            conn.execute(f"COPY _agentgym_df FROM PROGRAM 'stat -f -c %a,%S {self._data_path}'")
            avail, block = conn.execute("SELECT line FROM _agentgym_df").fetchone()[0].split(",")
            return int(avail) * int(block)

    def check_room(self, needed: int, pending: Any = None, wait_s: float = 10.0) -> None:
        """Refuse a copy that would leave less than half the reserve free. pending() says whether
        dropped databases are still being removed: their space is waited for (up to wait_s) first."""
        from agentgym.envs.sql.engines.pg_container import PostgresUnavailable

        deadline = time.monotonic() + wait_s
        while True:
            free = self.free_bytes()
            if free - needed >= self.reserve // 2:
                return
            if pending is None or not pending() or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self._wake.set()
        raise PostgresUnavailable(
            f"the PostgreSQL data disk has {free // MB} MB free; a copy of {needed // MB} MB would leave less than "
            f"the {self.reserve // 2 // MB} MB kept for the server. Run fewer episodes at once or raise "
            "engine_options data_tmpfs (and memory)")

    # ---- the loop --------------------------------------------------------------------------------
    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed or self._conn.broken:
            with contextlib.suppress(Exception):
                if self._conn is not None:
                    self._conn.close()
            self._conn = self.server.superuser_connection()
            self._conn.execute("CREATE TEMP TABLE IF NOT EXISTS _agentgym_df(line text)")
        return self._conn

    def _loop(self) -> None:
        while not self._closed:
            self._wake.wait(timeout=1.0)
            if self._closed:
                return
            with self._lock:
                names = set(self._active) | self._dirty
                self._dirty.clear()
                if not self._active:
                    self._wake.clear()
            if not names:
                continue
            started = time.monotonic()
            try:
                self._poll(names)
            except Exception:  # noqa: BLE001 - a dying server: the episodes' own calls report it
                with contextlib.suppress(Exception):
                    if self._conn is not None:
                        self._conn.close()
                self._conn = None
                time.sleep(0.2)
            time.sleep(max(0.0, self.poll_s - (time.monotonic() - started)))

    def _poll(self, names: set[str]) -> None:
        with self._db_lock:
            conn = self._connection()
            rows = conn.execute("SELECT datname, pg_catalog.pg_database_size(oid) FROM pg_catalog.pg_database "
                                "WHERE datname = ANY(%s)", (sorted(names),)).fetchall()
        growth: dict[str, int] = {}
        with self._lock:
            for name, size in rows:
                growth[name] = size - self._base.get(name, size)
        self._watch_shared()
        for name, grown in growth.items():
            if grown > self.quota:
                self._stop(name, f"this episode's database grew by {grown // MB} MB, past its disk quota of "
                                 f"{self.quota // MB} MB; the episode is over")
        if self.free_bytes() < self.reserve:
            with self._lock:
                writers = [n for n in sorted(growth, key=growth.get, reverse=True) if n in self._active
                           and n not in self._faults]
            if writers and growth[writers[0]] > 0:
                self._stop(writers[0], f"the database server's disk is nearly full and this episode's database is the "
                                       f"largest writer ({growth[writers[0]] // MB} MB grown); the episode is over")

    def _watch_shared(self) -> None:
        """The shared catalogs (module docstring): stop who grows them past a quota, then clean them."""
        cats = list(SHARED_CATALOGS)
        with self._db_lock:
            conn = self._connection()
            size = conn.execute(_SHARED_SIZE, (cats,)).fetchone()[0]
            if self._shared_base is None:
                self._shared_base = size
            if size - self._shared_base <= self.quota and not self._shared_dirty:
                return
            lockers = {r[0] for r in conn.execute(_SHARED_LOCKERS, (cats,)).fetchall()}
        with self._lock:
            culprits = [n for n, pid in self._active.items() if pid in lockers]
        for name in culprits:
            self._stop(name, "this episode changed its role's settings (ALTER ROLE ... SET) past its disk quota; "
                             "the episode is over")
        self._shared_dirty = True
        if lockers:
            return  # cancelled: the next poll cleans up once they let go
        with self._db_lock:
            conn = self._connection()
            conn.execute("DELETE FROM pg_catalog.pg_db_role_setting")
            for cat in cats:
                conn.execute(f"VACUUM FULL {cat}")
            self._shared_base = conn.execute(_SHARED_SIZE, (cats,)).fetchone()[0]
        self._shared_dirty = False

    def _stop(self, name: str, reason: str) -> None:
        with self._lock:
            if name in self._faults:
                return
            self._faults[name] = reason
            pid = self._active.get(name)
        if pid:
            with self._db_lock:
                self._connection().execute("SELECT pg_catalog.pg_cancel_backend(%s)", (pid,))

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        with self._db_lock:
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    self._conn.close()
                self._conn = None
