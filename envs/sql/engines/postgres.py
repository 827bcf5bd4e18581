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

Whose failure is it: a broken connection is an InfraError (the agent cannot end its own backend:
its login role does not own the session it acts in; its memory bombs are ERRORs, see
ServerSettings.backend_memory_mb); a value Python cannot load, a result past the byte cap and a
statement that ignores a cancel (its backend is terminated from outside, when the server answers)
are the agent's SQL errors or timeouts. open() on a server that died restarts it
(PgServer.recover) and retries once; every driver error there is PostgresUnavailable, never raw psycopg.
"""

from __future__ import annotations

import contextlib
import select
import threading
import time
import weakref
from pathlib import Path
from typing import Any

from agentgym.env import InfraError
from agentgym.envs.sql.engines.base import MAX_RESULT_BYTES, QueryResult, QueryTimeout, QuotaExceeded, SqlError
from agentgym.envs.sql.engines.dialect import split_postgres
from agentgym.envs.sql.engines.pg_container import PostgresUnavailable, ServerSettings
from agentgym.envs.sql.engines.pg_server import PgServer, server_for


#: How long after the call's own deadline the client cancels a query the server did not stop.
_CLIENT_GRACE_S = 1.0


#: Statements whose cancellation after the row cap loses nothing (no writes to roll back).
_READ_ONLY_HEADS = ("SELECT", "VALUES", "TABLE", "SHOW", "EXPLAIN")


def _value_bytes(v: Any) -> int:
    """About how many bytes a loaded value holds (arrays and JSON included), iteratively."""
    total, stack = 0, [v]
    while stack:
        x = stack.pop()
        if isinstance(x, (str, bytes, bytearray, memoryview)):
            total += len(x)
        elif isinstance(x, (list, tuple)):
            total += 8 * len(x)
            stack.extend(x)
        elif isinstance(x, dict):
            total += 16 * len(x)
            stack.extend(x.keys())
            stack.extend(x.values())
        else:
            total += 8
    return total


def _too_big_message() -> str:
    return (f"the result holds more than {MAX_RESULT_BYTES // 2**20} MB of values; select fewer rows or "
            "smaller values (e.g. length(x) or substr(x, 1, 100))")


def _timeout_message(timeout_s: float) -> str:
    return f"query stopped: it ran past the {timeout_s:g} s time limit (PostgreSQL canceled the statement)"


def _first_word(stmt: str) -> str:
    text = stmt.lstrip()
    while text.startswith(("--", "/*", "(")):
        if text.startswith("("):
            text = text[1:].lstrip()
        elif text.startswith("--"):
            text = text.split("\n", 1)[1].lstrip() if "\n" in text else ""
        else:
            text = text.split("*/", 1)[1].lstrip() if "*/" in text else ""
    return text.split(None, 1)[0].upper() if text else ""


class _Unresponsive(Exception):
    """A statement that did not stop when cancelled (execute decides whose fault that is)."""


class _Run:
    """One statement on a connection, through libpq directly (psycopg's stream() cannot report a
    command's row count nor an empty result's columns)."""

    def __init__(self, conn: Any, stmt: str, max_rows: int, hard_deadline: float):
        self.conn, self.pg = conn, conn.pgconn
        self.stmt, self.max_rows, self.hard_deadline = stmt, max_rows, hard_deadline
        self.columns: list[str] | None = None
        self.rows: list[list[Any]] = []
        self.rowcount = -1
        self.cancelled_for_cap = False
        self.bytes = 0
        self.too_big = False
        self.cancelled_late = False

    def run(self) -> None:
        from psycopg import adapt, errors
        from psycopg.pq import ExecStatus, TransactionStatus

        pg = self.pg
        may_cancel = (pg.transaction_status == TransactionStatus.IDLE
                      and _first_word(self.stmt) in _READ_ONLY_HEADS)
        pg.send_query_params(self.stmt.encode(self.conn.info.encoding), None)
        pg.set_single_row_mode()
        while pg.flush() != 0:
            self._wait(write=True)
        tx = adapt.Transformer(self.conn)
        error: Exception | None = None
        first = True
        while True:
            while pg.is_busy():
                self._wait()
            res = pg.get_result()
            if res is None:
                break
            status = res.status
            if status in (ExecStatus.TUPLES_CHUNK, ExecStatus.SINGLE_TUPLE, ExecStatus.TUPLES_OK):
                if self.columns is None:
                    enc = self.conn.info.encoding
                    self.columns = [(res.fname(i) or b"?").decode(enc, "replace") for i in range(res.nfields)]
                keep = 0 if self.too_big else min(self.max_rows + 1 - len(self.rows), res.ntuples)
                if keep > 0:
                    try:
                        tx.set_pgresult(res, set_loaders=first)
                        first = False
                        loaded = tx.load_rows(0, keep, list)
                    except Exception as exc:  # noqa: BLE001 - a value Python cannot hold (year 10000, JSON
                        # nested past the recursion limit): the agent's result, so an SQL error; the rest
                        # of the result is still read, so the connection stays usable
                        self.too_big, loaded = True, []
                        error = error or SqlError(f"a value in the result cannot be read here: {type(exc).__name__}: "
                                                  f"{str(exc)[:200]}")
                    self.bytes += sum(_value_bytes(v) for row in loaded for v in row)
                    if self.bytes > MAX_RESULT_BYTES:  # one row over at most: rows come one at a time
                        self.too_big, loaded = True, []
                        error = error or SqlError(_too_big_message())
                        if may_cancel and not self.cancelled_for_cap:
                            self.cancelled_for_cap = True
                            self.conn.cancel_safe(timeout=5)
                    self.rows.extend(loaded)
                if status == ExecStatus.TUPLES_OK:
                    self.rowcount = res.command_tuples if res.command_tuples is not None else -1
                elif len(self.rows) > self.max_rows and may_cancel and not self.cancelled_for_cap:
                    self.cancelled_for_cap = True
                    self.conn.cancel_safe(timeout=5)
            elif status == ExecStatus.COMMAND_OK:
                self.rowcount = res.command_tuples if res.command_tuples is not None else -1
            elif status == ExecStatus.COPY_OUT:
                self._drain_copy_out()
                error = error or SqlError("COPY ... TO STDOUT is not supported here; use SELECT to read rows")
            elif status == ExecStatus.COPY_IN:
                pg.put_copy_end(b"COPY FROM STDIN is not supported here; use INSERT")
                while pg.flush() != 0:
                    self._wait(write=True)
            elif status == ExecStatus.EMPTY_QUERY:
                pass
            elif status in (ExecStatus.FATAL_ERROR, ExecStatus.NONFATAL_ERROR, ExecStatus.BAD_RESPONSE):
                exc = errors.error_from_result(res, encoding=self.conn.info.encoding)
                if isinstance(exc, errors.QueryCanceled) and self.cancelled_for_cap:
                    continue  # we stopped it ourselves after the row cap: the rows we kept stand
                error = error or exc
        if error is not None:
            raise error

    def _wait(self, write: bool = False) -> None:
        """Block until the socket is ready; past the hard deadline cancel once, then give up."""
        remaining = self.hard_deadline - time.monotonic()
        if remaining <= 0:
            if not self.cancelled_late:
                self.cancelled_late = True
                self.hard_deadline = time.monotonic() + 5.0
                self.conn.cancel_safe(timeout=5)
                return
            raise _Unresponsive("the statement did not stop within 5 s of a cancel request")
        sock = self.pg.socket
        readable, _, _ = select.select([sock], [sock] if write else [], [], min(remaining, 1.0))
        if readable:
            self.pg.consume_input()

    def _drain_copy_out(self) -> None:
        while True:
            n, _ = self.pg.get_copy_data(1)
            if n == 0:
                self._wait()
            elif n < 0:
                return


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
#: connection that failed: none of them can an episode's role cause for itself.
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
