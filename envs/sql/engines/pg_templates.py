"""Template databases on the PostgreSQL server: built once per database id from the committed dump
(translated by dialect.sqlite_dump_to_postgres), owned by the NOLOGIN owner role, checked row for
row against SQLite's copy, then frozen (IS_TEMPLATE, no connections) for episode copies.

A base class of PgServer (pg_server.py), which supplies admin(), _connect() and the lock; split
out so that each file has one job.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from agentgym.envs.sql.catalog import database_files
from agentgym.envs.sql.engines.dialect import PostgresDump, sqlite_dump_to_postgres
from agentgym.envs.sql.engines.pg_container import PostgresUnavailable

OWNER_ROLE = "agentgym_owner"

#: Advisory locks live in the server's one shared lock table (max_locks_per_transaction x
#: max_connections slots): an episode that took 200000 session locks (they outlive its failed
#: statement) left every neighbour's queries and the graders' copies 'out of shared memory'. No
#: task needs them, so the templates (and every copy of them) give them to nobody.
NO_ADVISORY_LOCKS = """DO $$ DECLARE f regprocedure; BEGIN
  FOR f IN SELECT oid::regprocedure FROM pg_catalog.pg_proc WHERE proname ~ '^pg_(try_)?advisory_(xact_)?lock' LOOP
    EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
  END LOOP; END $$"""


@lru_cache(maxsize=64)
def _translated_dump(dump_path: str, mtime_ns: int) -> PostgresDump:
    """The dump for PostgreSQL; cached per file version (translation costs ~25 ms per database)."""
    db = Path(dump_path).parent
    return sqlite_dump_to_postgres(database_files(db.name, db.parent).dump_sql())


def _template_name(db_id: str, data_dir: Path | None) -> str:
    base = re.sub(r"[^a-z0-9_]", "_", db_id.lower())[:40]
    if data_dir is None:
        return f"tpl_{base}"
    return f"tpl_{base}_{hashlib.sha1(str(data_dir).encode()).hexdigest()[:8]}"


class TemplateBuilder:
    """Template databases, per (data_dir, db_id); needs the PgServer attributes named above."""

    _lock: threading.RLock
    _password: str
    _templates: dict[tuple[str, str], str]
    _template_locks: dict[tuple[str, str], threading.Lock]

    def template(self, db_id: str, data_dir: Path | None = None) -> str:
        """The template database for db_id, built from the committed dump on first use."""
        key = (str(data_dir), db_id)
        with self._lock:
            if key in self._templates:
                return self._templates[key]
            lock = self._template_locks.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                if key in self._templates:
                    return self._templates[key]
            name = self._build_template(db_id, data_dir)
            with self._lock:
                self._templates[key] = name
            return name

    def _build_template(self, db_id: str, data_dir: Path | None) -> str:
        from psycopg import sql

        files = database_files(db_id, data_dir)  # FileNotFoundError names the known databases
        native = getattr(files, "statements", None)  # a BIRD folder's PostgreSQL dump (bird_files.py)
        dump = None if native else _translated_dump(str(files.dump), files.dump.stat().st_mtime_ns)
        name = _template_name(db_id, data_dir)
        ident = sql.Identifier(name)
        with self.admin() as a:
            a.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
            a.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(ident))
        conn = self._connect(name, "postgres", self._password)
        if dump is None:
            try:
                _load_native(conn, files.statements())
                conn.execute("ANALYZE")
            finally:
                conn.close()
            return self._freeze(name)
        try:
            with conn.transaction():
                conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(OWNER_ROLE)))
                conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(OWNER_ROLE)))
                for stmt in dump.ddl + dump.inserts:
                    conn.execute(stmt.encode())  # bytes: the dump text is SQL, never a format string
                for table, column in dump.identity:
                    conn.execute(sql.SQL(
                        "SELECT setval(pg_get_serial_sequence({t}, {c}), COALESCE(MAX({col}), 0) + 1, false) FROM {tbl}"
                    ).format(t=sql.Literal(sql.Identifier(table).as_string(conn)), c=sql.Literal(column),
                             col=sql.Identifier(column), tbl=sql.Identifier(table)))
            conn.execute("ANALYZE")  # planner statistics are copied into every episode
            self._check_counts(conn, db_id, data_dir, dump.tables)
        finally:
            conn.close()
        return self._freeze(name)

    def _freeze(self, name: str) -> str:
        from psycopg import sql

        ident = sql.Identifier(name)
        conn = self._connect(name, "postgres", self._password)
        try:  # every copy inherits it: no advisory locks (see NO_ADVISORY_LOCKS)
            conn.execute(NO_ADVISORY_LOCKS)
        finally:
            conn.close()
        # ANALYZE of the system catalogs invalidated the relation cache init file; one more session
        # writes it again, and every copy inherits it (a first connection then starts ~5 ms sooner).
        self._connect(name, "postgres", self._password).close()
        with self.admin() as a:
            a.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(ident))
            a.execute(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false").format(ident))
            self._wait_no_sessions(a, name)
        return name

    @staticmethod
    def _check_counts(conn: Any, db_id: str, data_dir: Path | None, tables: list[str]) -> None:
        """The translated copy must hold what SQLite's copy holds (a silent drop would skew grading)."""
        from psycopg import sql

        from agentgym.envs.sql.engines.sqlite import SqliteEngine

        lite = SqliteEngine(data_dir).template(db_id)
        for table in tables:
            pg = conn.execute(sql.SQL("SELECT COUNT(*) FROM {}").format(sql.Identifier(table))).fetchone()[0]
            sq = lite.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
            if pg != sq:
                raise PostgresUnavailable(f"database {db_id!r}: table {table} has {pg} rows on PostgreSQL and {sq} on "
                                          "SQLite; the dump translation (dialect.sqlite_dump_to_postgres) lost rows")

    @staticmethod
    def _wait_no_sessions(admin: Any, name: str, timeout_s: float = 5.0) -> None:
        """A closed connection's backend exits asynchronously; CREATE DATABASE ... TEMPLATE refuses a
        source with sessions (after waiting 5 s), so wait here, where it is cheap."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            n = admin.execute("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = %s", (name,)).fetchone()[0]
            if n == 0:
                return
            time.sleep(0.005)


def _load_native(conn: Any, statements: list[tuple[str, str, str]]) -> None:
    """A BIRD folder's pg_dump statements as they are, as the owner role (CREATE EXTENSION as the
    superuser), in one transaction; COPY blocks stream their rows. An error names the statement."""
    import psycopg
    from psycopg import sql

    from agentgym.envs.sql.bird_files import is_superuser_stmt, new_schema

    owner = sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(OWNER_ROLE))
    with conn.transaction():
        conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(OWNER_ROLE)))
        conn.execute(owner)
        for kind, stmt, data in statements:
            try:
                if kind == "copy":
                    with conn.cursor().copy(stmt.encode()) as copy:
                        copy.write(data.encode("utf-8"))
                elif is_superuser_stmt(stmt):
                    conn.execute("RESET ROLE")
                    conn.execute(stmt.encode())
                    schema = new_schema(stmt)
                    if schema is not None:  # then the owner role's, like public
                        conn.execute(f"ALTER SCHEMA {schema} OWNER TO {OWNER_ROLE}".encode())
                    conn.execute(owner)
                else:
                    conn.execute(stmt.encode())
            except psycopg.Error as exc:
                raise PostgresUnavailable(f"the PostgreSQL dump did not load at: {stmt[:160]!r}: {exc}") from None
        conn.execute("RESET ROLE")
