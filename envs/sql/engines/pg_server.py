"""The PostgreSQL server behind PostgresEngine: one labelled container per process, shared by every
engine with the same settings, plus its admin connections, roles and template databases.

Template databases are built by pg_templates.TemplateBuilder, episode databases made, handed out and
dropped by pg_episodes.EpisodeDatabases (both bases of PgServer).

Lifetime: the container (pg_container.py: labelled, limited, tracked by the reaper from birth)
starts on the first open() of any engine (not at construction), is reference-counted by engines
and open databases, and is removed when the last reference goes. Warm spare episode databases,
copied and connected ahead of the resets that take them, live in pg_spares.py.

Who can do what inside it (why episodes cannot reach each other or the templates):
- `postgres` (superuser) is used only by this module over its admin connections; its password
  is random per container and never leaves this process.
- `agentgym_owner` (NOLOGIN) owns every table, sequence and the public schema of the templates,
  hence of every copy: CREATE DATABASE ... TEMPLATE copies objects with their owners.
- every episode gets its own LOGIN role `ep_<id>`, NOINHERIT member of agentgym_owner. It logs in
  with `role=agentgym_owner` in its startup options, so it can drop, alter and create tables
  (owned by agentgym_owner, hence still usable after a fork), but it holds CONNECT only on its own
  database: PUBLIC's CONNECT is revoked on every episode database and on the templates, which
  also refuse all connections (ALLOW_CONNECTIONS false). Databases are owned by `postgres`, so no
  agent can DROP/ALTER/RENAME a database. Separate login roles also mean that an agent cannot
  cancel or terminate another episode's backend (pg_terminate_backend checks the login role) nor
  read its queries in pg_stat_activity. PostgreSQL has no cross-database SQL without dblink or
  postgres_fdw, which need a superuser to install.

Resource walls (pg_quota.py): a per-episode disk quota and a free-space reserve, so one agent that
fills the disk gets an error and nobody else notices. A server that dies anyway (killed, crashed)
is PostgresUnavailable (an InfraError) for the episodes on it, never a raw driver exception, and
recover() restarts it in place for the next reset: same settings, a new container and generation.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import queue
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from agentgym.envs.sql.engines import pg_container
from agentgym.envs.sql.engines.pg_container import PostgresUnavailable, ServerSettings
from agentgym.envs.sql.engines.pg_quota import DiskGuard, size_bytes
from agentgym.envs.sql.engines.pg_episodes import EpisodeDatabases, stale
from agentgym.envs.sql.engines.pg_spares import SparePool
from agentgym.envs.sql.engines.pg_templates import OWNER_ROLE, TemplateBuilder

def _scram_verifier(password: str, iterations: int = 16) -> str:
    """A SCRAM-SHA-256 verifier as PostgreSQL stores it. CREATE ROLE ... PASSWORD '<verifier>' stores
    it as is instead of hashing a plain password (~5 ms per episode role). Few iterations on purpose: the client
    repeats them at every connection (4096 cost ~8 ms of each episode's connect here), and they
    only slow down guessing of weak passwords; ours are 128 random bits."""
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = lambda b: base64.b64encode(b).decode()
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


class PgServer(TemplateBuilder, EpisodeDatabases):
    """One PostgreSQL container and what lives in it. Thread-safe; see the module docstring."""

    def __init__(self, settings: ServerSettings):
        self.settings = settings
        self._lock = threading.RLock()
        self._refs = 0
        self.container_id: str | None = None
        self.port: int | None = None
        self._password = ""
        self._agent_password = ""
        self._agent_verifier = ""
        self._idle: list[Any] = []
        self._admin_sem = threading.BoundedSemaphore(settings.admin_connections)
        self._templates: dict[tuple[str, str], str] = {}
        self._template_locks: dict[tuple[str, str], threading.Lock] = {}
        self._drops: queue.Queue[tuple[int, str] | None] | None = None
        self._generation = 0
        self._spares: SparePool | None = None  # one per running container (pg_spares.py)
        self.guard: DiskGuard | None = None  # one per running container (pg_quota.py)

    # ---- lifetime ---------------------------------------------------------------------------------
    def acquire(self) -> None:
        """Take a reference, starting the container if this is the first one."""
        with self._lock:
            if self.container_id is None:
                self._start()
            self._refs += 1

    def release(self) -> None:
        """Drop a reference; the last one stops and removes the container."""
        with self._lock:
            self._refs = max(0, self._refs - 1)
            if self._refs == 0 and self.container_id is not None:
                self._stop()

    @property
    def running(self) -> bool:
        return self.container_id is not None

    def _start(self) -> None:
        from agentgym.sandbox import reaper

        started = pg_container.start(self.settings, f"agentgym-pg-{reaper.RUN_ID}-{os.getpid()}-{self._generation}")
        self.container_id, self.port, self._password = started.container_id, started.port, started.password
        self._idle = [started.conn]
        try:
            self._bootstrap()
        except Exception:
            self._stop()
            raise
        s = self.settings
        self.guard = DiskGuard(self, quota=s.episode_disk_mb * 1024 * 1024, reserve=s.reserve_bytes(),
                               poll_s=s.disk_poll_s, data_path=pg_container.DATA_MOUNT,
                               disk_size=size_bytes(s.data_tmpfs), container_pid=started.pid)
        self._generation += 1
        self._templates.clear()
        self._drops = queue.Queue()
        threading.Thread(target=self._drop_loop, args=(self._drops,), name="agentgym-pg-drop", daemon=True).start()
        if self.settings.spares:
            self._spares = SparePool(self, self.settings.spares, self.settings.spare_workers)

    def _bootstrap(self) -> None:
        from psycopg import sql

        self._agent_password = secrets.token_hex(16)
        self._agent_verifier = _scram_verifier(self._agent_password)
        with self.admin() as conn:
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN NOINHERIT").format(sql.Identifier(OWNER_ROLE)))
            # Episode roles get CONNECT on their own database only (create_episode); not on these.
            conn.execute("REVOKE CONNECT, TEMPORARY ON DATABASE postgres, template1 FROM PUBLIC")

    @property
    def generation(self) -> int:
        """Bumped at every container start: an episode made before a restart is gone with its container."""
        return self._generation

    def alive(self) -> bool:
        """Whether the server answers a fresh superuser connection now."""
        try:
            conn = self._connect("postgres", "postgres", self._password, connect_timeout=3)
        except Exception:  # noqa: BLE001 - refused, in recovery, not running: all mean not alive
            return False
        try:
            conn.execute("SELECT 1")
            return True
        except Exception:  # noqa: BLE001
            return False
        finally:
            with contextlib.suppress(Exception):
                conn.close()

    def terminate(self, pid: int) -> bool:
        """End one backend from outside; False when the server does not answer (it is not the agent's)."""
        try:
            with self.admin() as a:
                a.execute("SELECT pg_catalog.pg_terminate_backend(%s)", (pid,))
            return True
        except Exception:  # noqa: BLE001 - no answer: the caller reports infrastructure
            return False

    def recover(self, generation: int, lost: bool = False) -> bool:
        """After an operation failed on `generation`: True when it is worth retrying (another caller
        restarted the server already; it was dead and this call restarted it; or it is alive but
        the failure was a lost connection, so the pooled admin connections, which died with it, are
        dropped); False when the server is alive and the failure was something else. Episodes of
        an old container are gone: their next call is an InfraError (their database is gone)."""
        with self._lock:
            if self._generation != generation:
                return True
            if self.container_id is not None and self.alive():
                if not lost:
                    return False
                idle, self._idle = self._idle, []
                for conn in idle:
                    with contextlib.suppress(Exception):
                        conn.close()
                return True
            if self._refs == 0:
                return False
            self._stop()
            self._start()
            return True

    def _stop(self) -> None:
        if self.guard is not None:
            self.guard.close()
            self.guard = None
        if self._drops is not None:
            self._drops.put(None)  # pending drops die with the container; the worker just exits
            self._drops = None
        if self._spares is not None:
            self._spares.close()
            self._spares = None
        for conn in self._idle:
            with contextlib.suppress(Exception):  # the server is going away: nothing to say goodbye to
                conn.close()
        self._idle.clear()
        cid, self.container_id, self.port = self.container_id, None, None
        self._templates.clear()
        if cid:
            pg_container.remove(cid)

    # ---- connections ------------------------------------------------------------------------------
    def _connect(self, dbname: str, user: str, password: str, **kwargs: Any) -> Any:
        port = self.port
        if port is None:
            raise PostgresUnavailable("the PostgreSQL server is not running")
        return pg_container.connect(port, dbname, user, password, **kwargs)

    @contextmanager
    def admin(self) -> Iterator[Any]:
        """A superuser connection to the `postgres` database, from a small pool."""
        if not self._admin_sem.acquire(timeout=120):
            raise PostgresUnavailable("no admin connection to PostgreSQL became free within 120 s")
        conn = None
        try:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if stale(conn):
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
                conn = self._connect("postgres", "postgres", self._password)
            yield conn
        finally:
            if conn is not None and not conn.closed and not conn.broken:
                with self._lock:
                    if self.container_id is not None:
                        self._idle.append(conn)
                        conn = None
            if conn is not None:
                conn.close()
            self._admin_sem.release()

    def recovered_lately(self, within_s: float = 60.0) -> bool:
        """Whether PostgreSQL recovered in place within the last within_s seconds (a backend
        crashed or was killed: it ends every session and restarts its processes, the checkpointer
        too), or does not answer now. Tells a session the server ended from one its agent ended."""
        try:
            with self.admin() as a:
                row = a.execute("SELECT extract(epoch FROM now() - backend_start), "
                                "extract(epoch FROM backend_start - pg_catalog.pg_postmaster_start_time()) "
                                "FROM pg_catalog.pg_stat_activity WHERE backend_type = 'checkpointer'").fetchone()
        except Exception:  # noqa: BLE001 - no answer: not the agent's
            return True
        if row is None or row[0] is None:
            return True
        return float(row[0]) < within_s and float(row[1]) > 2.0

    def superuser_connection(self) -> Any:
        """A new superuser connection of its own (the disk guard's)."""
        return self._connect("postgres", "postgres", self._password, connect_timeout=3)

    def connect_episode(self, name: str) -> Any:
        """The agent's connection to episode database `name`, as role `name` acting as the owner role."""
        return self._connect(name, name, self._agent_password, options=f"-c role={OWNER_ROLE}")

    # ---- what tests and benchmarks look at ---------------------------------------------------------
    def databases(self) -> list[str]:
        with self.admin() as a:
            rows = a.execute("SELECT datname FROM pg_database WHERE datname LIKE 'ep\\_%' OR datname LIKE 'tpl\\_%' "
                             "ORDER BY 1").fetchall()
        return [r[0] for r in rows]

    def episode_roles(self) -> list[str]:
        with self.admin() as a:
            rows = a.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'ep\\_%' ORDER BY 1").fetchall()
        return [r[0] for r in rows]

    def memory(self) -> dict[str, int]:
        """The container's cgroup memory (usage, max_usage, limit); {} when not running."""
        cid = self.container_id
        return pg_container.memory(cid) if cid else {}


_SERVERS: dict[ServerSettings, PgServer] = {}
_SERVERS_LOCK = threading.Lock()


def server_for(settings: ServerSettings) -> PgServer:
    """The process's server for these settings (created, not started: acquire() starts it)."""
    with _SERVERS_LOCK:
        srv = _SERVERS.get(settings)
        if srv is None:
            srv = _SERVERS[settings] = PgServer(settings)
        return srv
