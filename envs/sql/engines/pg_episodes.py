"""Episode databases on the PostgreSQL server: copied from a template with a login role of their own,
handed out (a warm spare when one is ready), and dropped in the background.

A base class of PgServer (pg_server.py), which supplies admin(), connect_episode(), the settings,
the disk guard, the spare pool and the drop queue; split out so that each file has one job. Who
may do what inside the server is in pg_server.py's docstring.
"""

from __future__ import annotations

import contextlib
import queue
import uuid
from typing import Any

from agentgym.envs.sql.engines.pg_templates import OWNER_ROLE


def stale(conn: Any) -> bool:
    """Whether an idle pooled connection is dead: closed, broken, or its socket already readable
    (an idle connection receives nothing, so readable means the server hung up, e.g. every
    backend was ended by a crash). Costs a poll of the socket, no round trip."""
    import select

    if conn is None or conn.closed or conn.broken:
        return True
    try:
        poller = select.poll()  # not select(): no fd-number limit, no fd_set to build
        poller.register(conn.pgconn.socket, select.POLLIN)
        if not poller.poll(0):
            return False
        conn.pgconn.consume_input()
        from psycopg.pq import ConnStatus

        return conn.pgconn.status != ConnStatus.OK or conn.pgconn.is_busy()
    except Exception:  # noqa: BLE001 - any failure to read it means it cannot be used
        return True



class EpisodeDatabases:
    """create_episode, take_episode, drop_episode and their background drops (see the module docstring)."""

    def create_episode(self, source: str) -> str:
        """A new database copied from `source` (a template or an episode nobody is connected to),
        with its own login role; returns the name of both."""
        import psycopg
        from psycopg import sql

        name = f"ep_{uuid.uuid4().hex[:24]}"
        db, src = sql.Identifier(name), sql.Identifier(source)
        guard = self.guard
        if guard is not None:  # the copy must leave the reserve alone (pg_quota.py)
            guard.check_room(guard.copy_size(source, self.admin), pending=self._drops_pending)
        with self.admin() as a:
            for attempt in range(3):
                try:
                    a.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY {}").format(
                        db, src, sql.SQL(self.settings.strategy)))
                    break
                except psycopg.errors.ObjectInUse:
                    if attempt == 2:
                        raise
                    self._wait_no_sessions(a, source)
            if guard is not None:
                guard.register(name, source)
            try:
                a.execute(sql.SQL(
                    "CREATE ROLE {db} LOGIN NOINHERIT IN ROLE {owner} PASSWORD {pw}; "
                    "REVOKE ALL ON DATABASE {db} FROM PUBLIC; "
                    "GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {db}; "
                    # the session acts as the owner role: temp tables need TEMPORARY for it too
                    "GRANT TEMPORARY ON DATABASE {db} TO {owner}"
                ).format(db=db, owner=sql.Identifier(OWNER_ROLE), pw=sql.Literal(self._agent_verifier)))
            except Exception:
                a.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(db))
                raise
        return name

    def take_episode(self, template: str) -> tuple[str, Any]:
        """A connected episode copied from `template`: a warm spare when one is ready, else made now.
        Either way a refill is requested, so the next reset finds one."""
        pool = self._spares
        # The spare is checked before its refill is asked for: the check's syscall would otherwise
        # hand the GIL to the refill worker in the middle of a reset.
        spare = pool.take(template, refill=False) if pool is not None else None
        if pool is not None:
            fresh = spare is not None and not stale(spare[1])
            pool.request(template)
            if fresh:
                return spare  # type: ignore[return-value]
        if spare is not None:
            with contextlib.suppress(Exception):
                spare[1].close()
            self.drop_episode(spare[0])
        name = self.create_episode(template)
        try:
            return name, self.connect_episode(name)
        except Exception:
            self.drop_episode(name)
            raise

    def spare_names(self) -> set[str]:
        pool = self._spares
        return pool.names() if pool is not None else set()

    def drop_episode(self, name: str) -> None:
        """Drop an episode's database and role in the background: closing is off the reset path."""
        drops = self._drops
        if drops is not None:
            drops.put((self._generation, name))  # type: ignore[arg-type]
        guard = self.guard
        if guard is not None:
            guard.forget(name)

    def _drop_loop(self, drops: queue.Queue) -> None:
        from psycopg import sql

        while True:
            item = drops.get()
            try:
                if item is None:
                    return
                generation, name = item
                if generation != self._generation or self.container_id is None:
                    continue  # that container is gone, and its databases with it
                with contextlib.suppress(Exception), self.admin() as a:  # else the container's removal frees it
                    a.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
                    a.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
            finally:
                drops.task_done()

    def _drops_pending(self) -> bool:
        drops = self._drops
        return drops is not None and drops.unfinished_tasks > 0

    def drain(self) -> None:
        """Wait until spare refills and requested drops have run (benchmarks and tests count what is
        left; warm spares are ready databases, see spare_names())."""
        pool, drops = self._spares, self._drops
        if pool is not None:  # refills first: a failed one may request a drop
            pool.join()
        if drops is not None:
            drops.join()
