"""PostgreSQL engine: the real engine, and the default when Docker answers (runtime "docker"/"auto").

Same protocol as SqliteEngine (engines/base.py). The server is one container per process
(pg_server.py: lifetime, roles, templates). Per database id a TEMPLATE database is built once
from the committed dump (translated by dialect.sqlite_dump_to_postgres); every episode is
`CREATE DATABASE ep_<id> TEMPLATE tpl_<db>` with its own login role, and close() drops both
(in the background). A couple of such copies per template are kept ready, connected, so that a
reset usually takes one (~1 ms) while a worker makes the next; without one it waits for the copy.

Running the agent's SQL (PostgresDatabase.execute):
- statements are split with split_postgres and sent one at a time (extended protocol: one
  statement per message, so a piece can never smuggle a second one);
- before each, `SET statement_timeout` to what is left of the call's time limit: the server
  stops a runaway query and we report QueryTimeout. The agent may SET it back in one statement;
  the next statement gets ours again, and a client-side deadline (timeout + 1 s) cancels the
  query from outside whatever the agent set;
- rows arrive one at a time (libpq's single-row mode: its chunked mode would buffer a whole chunk
  of rows, each as big as a backend can build, before we could look) and at most max_rows + 1,
  and MAX_RESULT_BYTES of values, are kept, so a huge result costs neither host memory nor, in
  autocommit, more than its first rows: the query is cancelled once a cap is reached (never inside
  the agent's own transaction, whose cancellation would abort it; there the rest is read and
  dropped); a result past the byte cap is an SQL error;
- the disk guard (pg_quota.py) is told which backend runs for the episode: a database grown past
  its quota has its statement cancelled and the call raises QuotaExceeded, then and at every
  later call (the space comes back only when the database is dropped).

Whose failure is it: a broken connection is an InfraError, unless the server and the episode's
database answer a fresh connection at once: then the agent ended its own session (SET ROLE NONE
and pg_terminate_backend, an idle timeout it set) and it is an SQL error (its memory bombs are
ERRORs, see ServerSettings.backend_memory_mb); a value Python cannot load, a result past the byte cap and a
statement that ignores a cancel (its backend is terminated from outside, when the server answers)
are the agent's SQL errors or timeouts. open() on a server that died restarts it
(PgServer.recover) and retries once; every driver error there is PostgresUnavailable, never raw psycopg.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from pathlib import Path
from typing import Any

from agentgym.env import InfraError
from agentgym.envs.sql.engines.base import QueryResult, QueryTimeout, QuotaExceeded, SqlError, refuse_nul
from agentgym.envs.sql.engines.dialect import split_postgres
from agentgym.envs.sql.engines.pg_container import PostgresUnavailable, ServerSettings
from agentgym.envs.sql.engines.pg_run import _Run, _timeout_message, _Unresponsive
from agentgym.envs.sql.engines.pg_server import PgServer, server_for


#: How long after the call's own deadline the client cancels a query the server did not stop.
_CLIENT_GRACE_S = 1.0


class PostgresDatabase:
    """One episode's private database on the shared server (see the module docstring)."""

    dialect = "postgres"

    def __init__(self, server: PgServer, db_id: str, name: str, conn: Any = None):
        self.db_id = db_id
        self.name = name
        self._server = server
        self._lock = threading.Lock()
        self._conn: Any = conn
        self._closed = False
        server.acquire()  # the database keeps the server alive, even past its engine's close()
        if conn is None:
            try:
                self._conn = server.connect_episode(name)
            except Exception:
                self._closed = True
                server.drop_episode(name)
                server.release()
                raise

    @property
    def connection(self) -> Any:
        """The agent's psycopg connection (benchmarks time queries on it directly)."""
        return self._live()

    def _live(self) -> Any:
        if self._closed:
            raise SqlError("this database copy is closed")
        if self._conn is None or self._conn.closed or self._conn.broken:
            import psycopg

            try:
                self._conn = self._server.connect_episode(self.name)
            except psycopg.OperationalError as exc:
                raise InfraError(f"lost the connection to PostgreSQL and could not reconnect: {exc}") from None
        return self._conn

    def execute(self, sql: str, *, timeout_s: float = 5.0, max_rows: int = 100) -> QueryResult:
        import psycopg
        from psycopg.pq import TransactionStatus

        refuse_nul(sql)
        statements = split_postgres(sql)
        if not statements:
            raise SqlError("no SQL statement given")
        started = time.perf_counter()
        deadline = time.monotonic() + timeout_s
        result = QueryResult(statements=len(statements), row_cap=max_rows)
        guard = self._server.guard
        with self._lock:
            self._check_quota(guard)
            conn = self._live()
            try:
                for stmt in statements:
                    remaining_ms = int((deadline - time.monotonic()) * 1000)
                    if remaining_ms <= 0:
                        raise QueryTimeout(_timeout_message(timeout_s))
                    if conn.pgconn.transaction_status != TransactionStatus.INERROR:  # else only ROLLBACK runs
                        conn.execute(f"SET statement_timeout = {remaining_ms}")
                    run = _Run(conn, stmt, max_rows, deadline + _CLIENT_GRACE_S)
                    if guard is not None:
                        guard.begin(self.name, conn.info.backend_pid)
                    try:
                        run.run()
                    finally:
                        if guard is not None:
                            guard.end(self.name)
                    self._check_quota(guard)
                    if run.columns is not None:
                        result.columns = run.columns
                        result.truncated = len(run.rows) > max_rows
                        result.rows = run.rows[:max_rows]
                        result.rowcount = -1
                    else:
                        result.columns, result.rows, result.truncated = [], [], False
                        result.rowcount = run.rowcount
            except psycopg.errors.QueryCanceled:
                self._check_quota(guard)  # the guard cancelled it: over quota, not a timeout
                raise QueryTimeout(_timeout_message(timeout_s)) from None
            except psycopg.OperationalError as exc:
                if _connection_lost(conn, exc):
                    conn.close()  # the next call reconnects (and finds its database gone if the server was replaced)
                    if self._session_ended_from_inside(exc):
                        raise SqlError(f"your session was ended ({_message(exc)[:300]}); a new one is open: session "
                                       "settings and an open transaction are gone") from None
                    raise InfraError(f"the connection to PostgreSQL broke ({exc}); is the container alive?") from None
                self._check_quota(guard)
                raise SqlError(_message(exc)) from None
            except psycopg.Error as exc:
                self._check_quota(guard)
                raise SqlError(_message(exc)) from None
            except _Unresponsive:
                # The agent's statement ignored the cancel (or the server hangs): end its session
                # from outside; if the server answers, it was the statement, a timeout like any other.
                pid = conn.info.backend_pid
                conn.close()  # not reused; the next call reconnects
                if self._server.terminate(pid):
                    raise QueryTimeout(_timeout_message(timeout_s) + "; it ignored the cancel, so its session was "
                                       "ended (session settings and an open transaction are gone)") from None
                raise InfraError("PostgreSQL did not answer a cancel request within 5 s nor a new connection; "
                                 "the connection is dropped") from None
            except InfraError:
                conn.close()  # a connection that failed is not reused; the next call reconnects
                raise
            except SqlError:
                raise  # ours (time left ran out, COPY refused): the connection is in a known state
            except Exception:
                conn.close()  # a bug of ours mid-result leaves the protocol state unknown: start afresh
                raise
        result.elapsed_ms = (time.perf_counter() - started) * 1000
        return result

    def _session_ended_from_inside(self, exc: Exception) -> bool:
        """Whether a lost session was the agent's doing: the server and this episode's database
        answer a fresh connection at once (kept for the next call), and no backend's crash ended it
        (57P02, or the server recovered in place just now: PgServer.recovered_lately). The agent's role can end its own session: SET ROLE NONE makes it the
        session's login role, which may pg_terminate_backend(pg_backend_pid()); or it sets
        idle_session_timeout / idle_in_transaction_session_timeout to 1 ms. Reported as
        infrastructure, that dropped its episode from scores (a submission doing it, too)."""
        import psycopg

        if str(getattr(exc, "sqlstate", None) or "").startswith(("57P02", "57P03")) or self._server.recovered_lately():
            return False  # a crashed (or killed) backend: PostgreSQL ended every session, not the agent
        try:
            self._conn = self._server.connect_episode(self.name)
        except psycopg.Error:
            return False
        return True

    def _check_quota(self, guard: Any) -> None:
        reason = guard.fault(self.name) if guard is not None else None
        if reason is not None:
            raise QuotaExceeded(reason)

    def fork(self) -> PostgresDatabase:
        """A copy in the current state. PostgreSQL copies only databases nobody is connected to, so
        our own connection is closed for the copy and reopened: an open transaction is rolled back
        and session settings (SET ...) reset, as after a reconnect."""
        with self._lock:
            self._live()
            self._conn.close()
            self._conn = None
            import psycopg

            try:
                name = self._server.create_episode(self.name)
            except psycopg.Error as exc:
                raise PostgresUnavailable(f"PostgreSQL failed while copying the episode: {exc}") from None
            finally:
                self._live()
        return PostgresDatabase(self._server, self.db_id, name)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._conn is not None:
                with contextlib.suppress(Exception):  # a broken connection has nothing left to close
                    self._conn.close()
                self._conn = None
        self._server.drop_episode(self.name)
        self._server.release()

    def __del__(self) -> None:  # garbage collection releases the copy too
        with contextlib.suppress(Exception):  # e.g. at interpreter exit, after the reaper removed the server
            self.close()


#: SQLSTATEs of a session the server ended (shutdown, crash of another backend, restart) or a
#: connection that failed. An episode's role can end its own session too (57P01 after SET ROLE
#: NONE and pg_terminate_backend, an idle timeout it set): _session_ended_from_inside tells which.
_LOST_STATES = ("57P01", "57P02", "57P03", "08")


def _connection_lost(conn: Any, exc: Exception) -> bool:
    """Whether exc means the server or the connection went away (infrastructure), not the SQL."""
    from psycopg.pq import ConnStatus

    if conn.closed or conn.broken or conn.pgconn.status != ConnStatus.OK:
        return True
    state = getattr(exc, "sqlstate", None)
    return state is None or state.startswith(_LOST_STATES)


def _message(exc: Exception) -> str:
    """The server's error as psql prints it (message, LINE context, hint), minus the 'ERROR:' tag."""
    diag = getattr(exc, "diag", None)
    text = str(exc).strip()
    if diag is not None and diag.message_primary:
        text = text.removeprefix("ERROR:").strip()
    return text or type(exc).__name__


class PostgresEngine:
    """Per-episode copies of the committed databases in a PostgreSQL container (one per process)."""

    dialect = "postgres"

    def __init__(self, data_dir: Path | None = None, **settings: Any):
        self.data_dir = data_dir
        self.settings = ServerSettings(**settings)
        self._server: PgServer | None = None
        self._opened: weakref.WeakSet[PostgresDatabase] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._closed = False

    @property
    def server(self) -> PgServer:
        """The shared server, started on first use (tests and benchmarks look inside it)."""
        with self._lock:
            if self._closed:
                raise PostgresUnavailable("this PostgresEngine is closed; make a new one")
            if self._server is None:
                srv = server_for(self.settings)
                srv.acquire()
                self._server = srv
            return self._server

    def open(self, db_id: str) -> PostgresDatabase:
        """A fresh copy of db_id. A server that died (killed, crashed) is restarted and the open
        retried once; what still fails is PostgresUnavailable (an InfraError), never a raw driver error."""
        import psycopg

        srv = self.server
        for attempt in (1, 2):
            generation = srv.generation
            try:
                template = srv.template(db_id, self.data_dir)
                name, conn = srv.take_episode(template)
                break
            except (psycopg.Error, PostgresUnavailable) as exc:
                lost = isinstance(exc, psycopg.OperationalError) and getattr(exc, "sqlstate", None) is None
                if attempt == 2 or not srv.recover(generation, lost=lost):
                    if isinstance(exc, PostgresUnavailable):
                        raise
                    raise PostgresUnavailable(f"PostgreSQL failed while copying {db_id!r}: {exc}") from None
        db = PostgresDatabase(srv, db_id, name, conn)
        self._opened.add(db)
        return db

    def close(self) -> None:
        """Close the databases opened here (not forks handed to others) and release the server;
        the last release removes the container."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            srv, self._server = self._server, None
        for db in list(self._opened):
            db.close()
        if srv is not None:
            srv.release()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()
