"""SQLite engine: the embedded default when Docker does not answer.

A template database is built once per process per db_id (in memory, from the committed dump) and
every episode gets its own copy through sqlite3's backup API: a few milliseconds for our sizes,
instead of re-running thousands of INSERTs. Foreign keys are ON in every copy so that cascades and
constraint errors behave as they will on PostgreSQL.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from agentgym.envs.sql.catalog import database_files
from agentgym.envs.sql.engines.base import QueryResult, QueryTimeout, SqlError
from agentgym.envs.sql.engines.dialect import split_statements

#: How many SQLite VM steps between deadline checks: small enough to stop within milliseconds.
_PROGRESS_STEPS = 2000
#: Authorizer codes an agent may never use: ATTACH/DETACH would reach files on the host.
_DENIED = {sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH}


def _authorizer(action: int, *args: Any) -> int:
    return sqlite3.SQLITE_DENY if action in _DENIED else sqlite3.SQLITE_OK


def _connect() -> sqlite3.Connection:
    # isolation_level=None: autocommit, so each statement's effect is the state the grader sees,
    # and BEGIN/COMMIT written by the agent work as written.
    conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


class SqliteDatabase:
    """One episode's private in-memory copy."""

    dialect = "sqlite"

    def __init__(self, db_id: str, conn: sqlite3.Connection):
        self.db_id = db_id
        self._conn: sqlite3.Connection | None = conn
        self._lock = threading.Lock()
        conn.set_authorizer(_authorizer)

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise SqlError("this database copy is closed")
        return self._conn

    def execute(self, sql: str, *, timeout_s: float = 5.0, max_rows: int = 100) -> QueryResult:
        statements = split_statements(sql)
        if not statements:
            raise SqlError("no SQL statement given")
        if any(s.lstrip()[:6].upper() == "VACUUM" for s in statements):
            raise SqlError("VACUUM is not allowed here")  # VACUUM INTO would write a host file
        deadline = time.monotonic() + timeout_s
        started = time.perf_counter()
        conn = self.conn
        with self._lock:
            conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, _PROGRESS_STEPS)
            try:
                result = QueryResult(statements=len(statements), row_cap=max_rows)
                for stmt in statements:
                    cur = conn.execute(stmt)
                    if cur.description is not None:
                        rows = cur.fetchmany(max_rows + 1)
                        result.columns = [d[0] for d in cur.description]
                        result.truncated = len(rows) > max_rows
                        result.rows = [list(r) for r in rows[:max_rows]]
                        result.rowcount = -1
                    else:
                        result.columns, result.rows, result.truncated = [], [], False
                        result.rowcount = cur.rowcount
                    cur.close()
            except sqlite3.OperationalError as exc:
                if "interrupted" in str(exc):
                    raise QueryTimeout(f"query stopped: it ran past the {timeout_s:g} s time limit") from None
                raise SqlError(str(exc)) from None
            except sqlite3.DatabaseError as exc:  # IntegrityError, ProgrammingError (e.g. two statements) ...
                raise SqlError(f"{type(exc).__name__}: {exc}") from None
            except sqlite3.Warning as exc:
                raise SqlError(str(exc)) from None
            finally:
                conn.set_progress_handler(None, 0)
        result.elapsed_ms = (time.perf_counter() - started) * 1000
        return result

    def fork(self) -> SqliteDatabase:
        dest = _connect()
        with self._lock:
            self.conn.backup(dest)
        return SqliteDatabase(self.db_id, dest)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __del__(self) -> None:  # garbage collection releases the copy too
        try:
            self.close()
        except Exception:
            pass


class SqliteEngine:
    """Per-episode copies of the committed databases, from templates built once per process."""

    dialect = "sqlite"
    # Shared across engine instances on purpose: the template is read-only after building and
    # building it is the only slow step; the lock serialises builds and backups from it.
    _templates: dict[tuple[str, str], sqlite3.Connection] = {}
    _templates_lock = threading.Lock()

    def __init__(self, data_dir: Path | None = None):
        self.data_dir = data_dir

    def template(self, db_id: str) -> sqlite3.Connection:
        key = (str(self.data_dir), db_id)
        with self._templates_lock:
            conn = self._templates.get(key)
            if conn is None:
                files = database_files(db_id, self.data_dir)
                conn = _connect()
                conn.executescript(files.dump_sql())
                self._templates[key] = conn
            return conn

    def open(self, db_id: str) -> SqliteDatabase:
        template = self.template(db_id)
        dest = _connect()
        with self._templates_lock:
            template.backup(dest)
        return SqliteDatabase(db_id, dest)

    def close(self) -> None:
        """Templates stay cached for the process (other envs share them); nothing per-engine to free."""
