"""SQLite engine: the embedded default when Docker does not answer.

A template database is built once per process per db_id (in memory, from the committed dump) and
every episode gets its own copy through sqlite3's backup API: a few milliseconds for our sizes,
instead of re-running thousands of INSERTs. Foreign keys are ON in every copy so that cascades and
constraint errors behave as they will on PostgreSQL.

Resource walls (every local episode lives in this one process, so one agent must not be able to
grow it by gigabytes, issue 13):
- each copy's database may grow by at most `growth_mb` (PRAGMA max_page_count, on main and on the
  temp schema): a zeroblob or INSERT ... SELECT loop gets "database or disk is full";
- no single string, blob or row beyond MAX_VALUE_BYTES (SQLITE_LIMIT_LENGTH: zeroblob(1e9),
  randomblob, printf('%.*c'), group_concat of a recursive CTE) and no statement text beyond
  MAX_SQL_BYTES; ATTACH is off by limit and by the authorizer (VACUUM INTO attaches, so it is
  refused too), load_extension is refused by the authorizer;
- PRAGMAs that would lift a limit (max_page_count, temp_store, cache_size, hard_heap_limit,
  mmap_size...) are refused: a PRAGMA with a value is allowed only for the introspection and
  foreign-key pragmas in _SETTABLE_PRAGMAS;
- sorts, DISTINCT/UNION sets and recursive-CTE queues spill to temporary FILES (temp_store=FILE),
  so they cost disk, not heap: bounded by the statement's time limit (about 100 MB in 5 s here)
  and deleted when the statement ends;
- and a process-wide backstop, sqlite3_hard_heap_limit64 at HEAP_LIMIT_MB (PRAGMA hard_heap_limit,
  which can only lower it): past it SQLite allocations fail with an error instead of growing.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from agentgym.envs.sql.catalog import database_files
from agentgym.envs.sql.engines.base import MAX_RESULT_BYTES, QueryResult, QueryTimeout, SqlError, refuse_nul
from agentgym.envs.sql.engines.dialect import split_statements

#: How many SQLite VM steps between deadline checks: small enough to stop within milliseconds.
_PROGRESS_STEPS = 2000
#: Authorizer codes an agent may never use: ATTACH/DETACH would reach files on the host.
_DENIED = {sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH}
#: PRAGMAs an agent may give a value (an argument): introspection and its own copy's semantics.
_SETTABLE_PRAGMAS = frozenset({
    "table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "foreign_key_list",
    "foreign_key_check", "integrity_check", "quick_check", "table_list", "foreign_keys",
    "defer_foreign_keys", "recursive_triggers", "case_sensitive_like", "reverse_unordered_selects",
})
_DENIED_FUNCTIONS = frozenset({"load_extension"})
#: Growth a copy may make beyond its template, in MB (main and temp schema each).
GROWTH_MB = int(os.environ.get("AGENTGYM_SQLITE_GROWTH_MB", "32"))
#: The largest string, blob or row a statement may make, and the longest statement text.
MAX_VALUE_BYTES = 16 * 1024 * 1024
MAX_SQL_BYTES = 1024 * 1024
#: Process-wide SQLite heap backstop (all connections together), in MB.
HEAP_LIMIT_MB = int(os.environ.get("AGENTGYM_SQLITE_HEAP_MB", "2048"))


def _authorizer(action: int, arg1: Any, arg2: Any, *rest: Any) -> int:
    if action in _DENIED:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_PRAGMA and arg2 is not None and str(arg1).lower() not in _SETTABLE_PRAGMAS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and str(arg2).lower() in _DENIED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


_heap_once = threading.Lock()
_heap_set = False


def _set_heap_limit() -> None:
    """The process-wide heap backstop, set once (the pragma only ever lowers an existing limit)."""
    global _heap_set
    with _heap_once:
        if _heap_set or HEAP_LIMIT_MB <= 0:
            return
        conn = sqlite3.connect(":memory:")
        try:
            conn.execute(f"PRAGMA hard_heap_limit = {HEAP_LIMIT_MB * 1024 * 1024}")
        finally:
            conn.close()
        _heap_set = True


_PAGE_BYTES = 4096  # SQLite's default page size; the caps below read the real one when they can


def _grow_pages(growth_mb: int, page_size: int = _PAGE_BYTES) -> int:
    return max(1, growth_mb * 1024 * 1024 // page_size)


def _wall(conn: sqlite3.Connection, main_pages: int) -> None:
    """Limits on an episode's connection (the module docstring); set before the authorizer.
    main_pages: the main database's page cap (its template's pages + the growth; a fork keeps its
    source's). The temp schema's cap is set when a statement first names it (SqliteDatabase)."""
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, MAX_SQL_BYTES)
    conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    conn.setlimit(sqlite3.SQLITE_LIMIT_WORKER_THREADS, 0)
    conn.execute("PRAGMA temp_store = FILE")
    conn.execute(f"PRAGMA main.max_page_count = {int(main_pages)}")


def _fetch(cur: sqlite3.Cursor, limit: int) -> list[tuple]:
    """Up to `limit` rows, row by row, refusing a result past MAX_RESULT_BYTES of values (a value is
    at most MAX_VALUE_BYTES, so the process never holds much more than the cap)."""
    rows, size = [], 0
    for row in cur:
        size += sum(len(v) if isinstance(v, (str, bytes)) else 8 for v in row)
        if size > MAX_RESULT_BYTES:
            cur.close()  # finalise the statement: nothing of it stays open on the connection
            raise SqlError(f"the result holds more than {MAX_RESULT_BYTES // 2**20} MB of values; select fewer rows "
                           "or smaller values (e.g. length(x) or substr(x, 1, 100))")
        rows.append(row)
        if len(rows) >= limit:
            break
    return rows


def _connect() -> sqlite3.Connection:
    # isolation_level=None: autocommit, so each statement's effect is the state the grader sees,
    # and BEGIN/COMMIT written by the agent work as written.
    conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


class SqliteDatabase:
    """One episode's private in-memory copy."""

    dialect = "sqlite"

    def __init__(self, db_id: str, conn: sqlite3.Connection, growth_mb: int = GROWTH_MB, main_pages: int | None = None):
        self.db_id = db_id
        self._conn: sqlite3.Connection | None = conn
        self._lock = threading.Lock()
        self._growth_mb = growth_mb
        if main_pages is None:
            main_pages = conn.execute("PRAGMA page_count").fetchone()[0] + _grow_pages(growth_mb)
        self._main_pages = main_pages
        self._temp_capped = False
        _wall(conn, main_pages)
        conn.set_authorizer(_authorizer)

    def _cap_temp(self, sql: str) -> None:
        """The temp schema's page cap, set before the first statement that can name it (every way
        to reach it spells 'temp': TEMP, TEMPORARY, temp.x); opening it costs a temp file, so
        episodes that never use it do not pay."""
        if self._temp_capped or "temp" not in sql.lower():
            return
        conn = self.conn
        conn.set_authorizer(None)  # our own PRAGMA; the agent's are refused
        try:
            conn.execute(f"PRAGMA temp.max_page_count = {_grow_pages(self._growth_mb)}")
        finally:
            conn.set_authorizer(_authorizer)
        self._temp_capped = True

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise SqlError("this database copy is closed")
        return self._conn

    def execute(self, sql: str, *, timeout_s: float = 5.0, max_rows: int = 100) -> QueryResult:
        refuse_nul(sql)
        statements = split_statements(sql)
        if not statements:
            raise SqlError("no SQL statement given")
        if any(s.lstrip()[:6].upper() == "VACUUM" for s in statements):
            raise SqlError("VACUUM is not allowed here")  # VACUUM INTO would write a host file
        deadline = time.monotonic() + timeout_s
        started = time.perf_counter()
        conn = self.conn
        with self._lock:
            self._cap_temp(sql)
            conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, _PROGRESS_STEPS)
            try:
                result = QueryResult(statements=len(statements), row_cap=max_rows)
                for stmt in statements:
                    cur = conn.execute(stmt)
                    if cur.description is not None:
                        rows = _fetch(cur, max_rows + 1)
                        result.columns = [d[0] for d in cur.description]
                        result.truncated = len(rows) > max_rows
                        result.rows = [list(r) for r in rows[:max_rows]]
                        result.rowcount = -1
                    else:
                        result.columns, result.rows, result.truncated = [], [], False
                        result.rowcount = cur.rowcount
                    cur.close()
            except MemoryError:
                raise SqlError("out of memory: the statement needed more memory than an episode may use") from None
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
        return SqliteDatabase(self.db_id, dest, self._growth_mb, main_pages=self._main_pages)  # no fresh allowance

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

    def __init__(self, data_dir: Path | None = None, growth_mb: int = GROWTH_MB):
        self.data_dir = data_dir
        self.growth_mb = growth_mb
        _set_heap_limit()

    _sizes: dict[tuple[str, str], tuple[int, int]] = {}  # template -> (page size, page count)

    def template(self, db_id: str) -> sqlite3.Connection:
        key = (str(self.data_dir), db_id)
        with self._templates_lock:
            conn = self._templates.get(key)
            if conn is None:
                files = database_files(db_id, self.data_dir)
                conn = _connect()
                conn.executescript(files.dump_sql())
                self._sizes[key] = (conn.execute("PRAGMA page_size").fetchone()[0],
                                    conn.execute("PRAGMA page_count").fetchone()[0])
                self._templates[key] = conn
            return conn

    def open(self, db_id: str) -> SqliteDatabase:
        template = self.template(db_id)
        page_size, pages = self._sizes[(str(self.data_dir), db_id)]
        dest = _connect()
        with self._templates_lock:
            template.backup(dest)
        return SqliteDatabase(db_id, dest, self.growth_mb, main_pages=pages + _grow_pages(self.growth_mb, page_size))

    def close(self) -> None:
        """Templates stay cached for the process (other envs share them); nothing per-engine to free."""
