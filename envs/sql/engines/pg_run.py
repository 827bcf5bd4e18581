"""One agent statement on an episode's connection, through libpq directly (PostgresDatabase.execute
runs each statement of a call through _Run): rows one at a time with row and byte caps, values
Python cannot load turned into SQL errors, COPY refused, and a client-side deadline that cancels a
statement the server did not stop. Split from postgres.py so that each file has one job.
"""

from __future__ import annotations

import select
import time
from typing import Any

from agentgym.envs.sql.engines.base import MAX_RESULT_BYTES, SqlError



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
