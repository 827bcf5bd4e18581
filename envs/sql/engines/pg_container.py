"""The PostgreSQL container itself: settings, start (labelled, limited, retried), readiness, removal.

What lives inside it (roles, templates, episodes) is pg_server.py's business. Every container made
here carries reaper.owner_labels() + agentgym.kind=postgres and is tracked by the reaper from the
moment it exists, so atexit/SIGTERM remove it and `agentgym gc` finds it if its owner is killed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentgym.env import InfraError

IMAGE = os.environ.get("AGENTGYM_PG_IMAGE", "agentgym/postgres:latest")
KIND_LABEL = {"agentgym.kind": "postgres"}
#: The image's PGDATA is a directory under this mount point, and its postgres user has this fixed
#: uid/gid (images/postgres/Dockerfile): the tmpfs must be owned by it (Docker ignores tmpfs mode=).
DATA_MOUNT = "/var/lib/postgresql/run"
PG_UID = 999
#: libpq options for every connection: no TLS or GSSAPI probing on a loopback port (each probe is
#: a round trip, and GSSAPI's can take hundreds of milliseconds when Kerberos is configured).
CONN_OPTS: dict[str, Any] = {"sslmode": "disable", "gssencmode": "disable", "connect_timeout": 10}
START_ATTEMPTS = 3


class PostgresUnavailable(InfraError):
    """The PostgreSQL container could not be started or reached (infrastructure, not the agent)."""


class ServerSettings(BaseModel):
    """How the shared server container is run; engines with equal settings share one server."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    image: str = IMAGE
    # Sized for 64 concurrent episodes: each holds its own copy plus a fresh grading copy at submit,
    # next to ready spares and templates, and every Postgres database carries ~8 MB of catalogs.
    # tmpfs pages cost memory only once written, and they count against the memory limit.
    memory: str = Field(os.environ.get("AGENTGYM_PG_MEMORY", "8g"),
                        description="container memory limit (no swap); it includes the tmpfs below")
    data_tmpfs: str | None = Field(
        os.environ.get("AGENTGYM_PG_DATA_TMPFS", "6g"), description="size of the tmpfs holding the databases (a template copy takes ~12 ms there, ~80 ms on "
        "overlay2 under load); None keeps them on the container's disk. Full: the agent's write fails with an ERROR")
    pids: int = Field(1024, ge=64, description="each connection is a process: keep well above max_connections")
    cpus: float | None = Field(None, gt=0)
    shm_size: str = "256m"
    start_timeout_s: float = Field(60.0, gt=0)
    admin_connections: int = Field(4, ge=1, le=32, description="superuser connections for CREATE/DROP DATABASE")
    strategy: Literal["FILE_COPY", "WAL_LOG"] = Field(
        "FILE_COPY", description="CREATE DATABASE strategy; FILE_COPY measured ~2x faster for our small templates")
    spares: int = Field(2, ge=0, le=16, description="episode databases kept ready (copied, role made, connected) "
                        "per template in use, so a reset takes one instead of waiting ~40 ms for a copy; 0: none")
    spare_workers: int = Field(2, ge=1, le=8, description="threads refilling spares (copies run in parallel)")
    # Disk walls (pg_quota.py): what one episode may write, and what no episode or copy may take.
    episode_disk_mb: int = Field(int(os.environ.get("AGENTGYM_PG_EPISODE_DISK_MB", "256")), ge=1, description=(
        "how much an episode's database may grow past its start, and its temp_file_limit; past it the episode ends "
        "with an agent failure"))
    disk_reserve_mb: int | None = Field(None, ge=1, description=(
        "free space kept on the data disk: under it the largest writer is stopped, and copies never take its last "
        "half; None: a tenth of data_tmpfs, at least 64 MB (512 MB without a tmpfs)"))
    disk_poll_s: float = Field(0.05, gt=0, le=5, description="how often running episodes' database sizes are read")
    backend_memory_mb: int = Field(int(os.environ.get("AGENTGYM_PG_BACKEND_MEMORY_MB", "512")), ge=128, description=(
        "private memory (RLIMIT_DATA) of each server process: a query that needs more gets an 'out of memory' "
        "ERROR instead of the kernel's OOM killer ending one backend, which makes PostgreSQL end every session"))

    def reserve_bytes(self) -> int:
        if self.disk_reserve_mb is not None:
            return self.disk_reserve_mb * 1024 * 1024
        from agentgym.envs.sql.engines.pg_quota import size_bytes

        size = size_bytes(self.data_tmpfs)
        return max(64 * 1024 * 1024, size // 10) if size else 512 * 1024 * 1024


@dataclass
class Started:
    """A running, answering server: its container, loopback port, superuser password, and the first
    superuser connection (the admin pool's first member)."""

    container_id: str
    port: int
    password: str
    conn: Any
    pid: int | None = None  # the container's first process on this host (its /proc/<pid>/root)


def connect(port: int, dbname: str, user: str, password: str, **kwargs: Any) -> Any:
    """An autocommit psycopg connection to the server on 127.0.0.1:port.

    prepare_threshold=None: psycopg would otherwise prepare a query it sees often (our
    `SET statement_timeout`), and an agent's DEALLOCATE ALL / DISCARD ALL would then break
    every later call on the connection."""
    import psycopg

    return psycopg.connect(host="127.0.0.1", port=port, user=user, password=password, dbname=dbname,
                           autocommit=True, prepare_threshold=None, **{**CONN_OPTS, **kwargs})


def start(settings: ServerSettings, name: str) -> Started:
    """Start a server container (retried, then reported with its log) and wait until it answers."""
    from agentgym.sandbox import reaper

    try:
        import psycopg  # noqa: F401 - fail before creating anything
    except ImportError:
        raise PostgresUnavailable("psycopg is not installed: pip install 'agentgym[sql]'") from None
    _ensure_image(settings.image)
    api = reaper.docker_client().api
    password = secrets.token_hex(16)  # hex: the entrypoint refuses anything else
    host_config = api.create_host_config(
        # A random free port on loopback only: the host process connects, nothing else can.
        port_bindings={5432: ("127.0.0.1", None)},
        mem_limit=settings.memory,
        memswap_limit=settings.memory,  # no swap: a runaway is killed, not thrashed
        pids_limit=settings.pids,
        nano_cpus=int(settings.cpus * 1e9) if settings.cpus else None,
        shm_size=settings.shm_size,
        tmpfs={DATA_MOUNT: f"rw,nosuid,nodev,size={settings.data_tmpfs},uid={PG_UID},gid={PG_UID}"}
        if settings.data_tmpfs else None,
        init=True,
        # Per process, so one episode's huge string_agg or plpgsql array is its own ERROR, not an OOM kill
        # that restarts every backend (shared_buffers and the tmpfs are shared memory, not counted).
        ulimits=[_ulimit("data", settings.backend_memory_mb * 1024 * 1024)],
        cap_drop=["ALL"],  # the server runs as the postgres user and needs no capability
        security_opt=["no-new-privileges"],
    )
    labels = {**reaper.owner_labels(), **KIND_LABEL}
    last: Exception | None = None
    for attempt in range(START_ATTEMPTS):
        cid = None
        try:
            cid = api.create_container(
                settings.image, name=f"{name}-{attempt}", labels=labels, ports=[5432], detach=True,
                environment={"AGENTGYM_PG_PASSWORD": password}, host_config=host_config,
                # A superuser setting no agent can SET away: an episode's temp files stay under its quota.
                command=["-c", f"temp_file_limit={settings.episode_disk_mb * 1024}kB"],
            )["Id"]
            reaper.track("container", cid)  # from birth: atexit/SIGTERM remove it from here on
            api.start(cid)
            info = api.inspect_container(cid)
            port = int(info["NetworkSettings"]["Ports"]["5432/tcp"][0]["HostPort"])
            conn = _wait_ready(api, cid, port, password, settings.start_timeout_s)
            return Started(cid, port, password, conn, int(info.get("State", {}).get("Pid") or 0) or None)
        except Exception as exc:  # noqa: BLE001 - APIError, timeouts, a server that died: retried
            last = exc
            if cid:
                with contextlib.suppress(Exception):  # the log only enriches the message
                    log = api.logs(cid, tail=20).decode(errors="replace").strip()
                    last = PostgresUnavailable(f"{exc}; container log:\n{log}") if log else exc
                reaper.remove_many("container", [cid])
            time.sleep(0.5 * 2**attempt)
    raise PostgresUnavailable(
        f"could not start PostgreSQL from {settings.image} after {START_ATTEMPTS} attempts: {last}. "
        "Check `docker info` and free memory, or use runtime='local' (SQLite)."
    )


def _ulimit(name: str, value: int) -> Any:
    from docker.types import Ulimit

    return Ulimit(name=name, soft=value, hard=value)


def _ensure_image(image: str) -> None:
    from agentgym.images import ImageError, ensure_image

    try:
        ensure_image(image)  # present: returns at once; ours: built from images/; else pulled
    except ImageError as exc:
        raise PostgresUnavailable(f"image {image} is missing and building it failed: {exc}. "
                                  "Run `agentgym images build postgres` to see the build log.") from exc
    except Exception as exc:  # noqa: BLE001 - the engine itself did not answer
        raise PostgresUnavailable(f"Docker does not answer: {exc}. Start it (scripts/ensure-docker.sh) "
                                  "or use runtime='local' (SQLite).") from exc


def _wait_ready(api: Any, cid: str, port: int, password: str, timeout_s: float) -> Any:
    import psycopg

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return connect(port, "postgres", "postgres", password, connect_timeout=3)
        except psycopg.OperationalError as exc:
            state = api.inspect_container(cid)["State"]
            if not state.get("Running"):
                oom = " (out of memory)" if state.get("OOMKilled") else ""
                raise PostgresUnavailable(f"the PostgreSQL container exited{oom}: {exc}") from None
            if time.monotonic() > deadline:
                raise PostgresUnavailable(f"PostgreSQL did not accept connections within {timeout_s:g} s: "
                                          f"{exc}") from None
            time.sleep(0.05)  # until then docker-proxy accepts and drops, or the socket refuses


def remove(container_id: str) -> None:
    from agentgym.sandbox import reaper

    errors = reaper.remove_many("container", [container_id])
    if errors:  # still tracked: the reaper's atexit cleanup tries again
        raise PostgresUnavailable(f"could not remove the PostgreSQL container: {errors[0]}")


def memory(container_id: str) -> dict[str, int]:
    """The container's cgroup memory: current usage and peak (cgroup v1 max_usage; 0 on v2)."""
    from agentgym.sandbox import reaper

    stats = reaper.docker_client().api.stats(container_id, stream=False).get("memory_stats") or {}
    return {"usage": int(stats.get("usage", 0)), "max_usage": int(stats.get("max_usage", 0)),
            "limit": int(stats.get("limit", 0))}
