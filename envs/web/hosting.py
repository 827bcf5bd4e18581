"""Where the sites run: a local server process (runtime "local") or a container on a private
Docker network with no internet (runtime "docker"). Both expose the same small API to the env:
origins (site -> "http://host:port"), reset(site), state(site), close().

The admin token is made here, per host start, and given to the server through its environment:
the agent's browser never sees it, and the env blocks /__* paths for the browser anyway.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import secrets
import select
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agentgym.env import InfraError
from agentgym.guard import AgentFault, parse_json

WEB_DIR = Path(__file__).resolve().parent
TOKEN_HEADER = "X-Agentgym-Token"
SITES_IMAGE = "agentgym/web-sites:latest"
CONTAINER_PORT_BASE = 8000
START_TIMEOUT_S = 30.0
MAX_STATE_BYTES = 64 << 20  # a site's /__state answer, read at most this far


class SiteSpec(BaseModel):
    """One site a web env serves: built-in, a folder of static pages, or a command serving an app."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    static_dir: str | None = Field(None, description="serve this folder (no server state; use a page reward hook)")
    command: list[str] | None = Field(None, description="argv serving the app on '{host}':'{port}' (also $HOST, $PORT); it must answer "
                                      "GET /__health and implement POST /__reset and GET /__state checking $AGENTGYM_WEB_TOKEN")
    app_dir: str | None = Field(None, description="the app's folder: the command's working directory; on runtime='docker' "
                                "it is copied into the sites container and the command runs there (python3, stdlib only)")
    init_script: str | None = Field(None, description="JavaScript run in every document of this site before the page's "
                                    "own scripts (pages you do not own); it sees `seed`, the episode's seed (reset's seed, "
                                    "else one drawn from the env's generator), an integer")

    @model_validator(mode="after")
    def _one_kind(self) -> SiteSpec:
        if self.static_dir and self.command:
            raise ValueError(f"site {self.name}: give static_dir or command, not both")
        if self.static_dir and not Path(self.static_dir).is_dir():
            raise ValueError(f"site {self.name}: static_dir {self.static_dir} is not a directory")
        if self.command is not None and not self.command:
            raise ValueError(f"site {self.name}: command is an empty argv")
        if self.app_dir and not self.command:
            raise ValueError(f"site {self.name}: app_dir goes with a command that serves the app")
        if self.app_dir and not Path(self.app_dir).is_dir():
            raise ValueError(f"site {self.name}: app_dir {self.app_dir} is not a directory")
        return self

    @property
    def builtin(self) -> bool:
        return not self.static_dir and not self.command


def _admin_call(origin: str, method: str, path: str, token: str, timeout: float = 10.0) -> Any:
    host, port = origin.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request(method, path, headers={TOKEN_HEADER: token, "Content-Length": "0"})
        resp = conn.getresponse()
        body = resp.read(MAX_STATE_BYTES + 1)
    except OSError as exc:
        raise InfraError(f"site server at {origin} did not answer {method} {path}: {exc}") from exc
    finally:
        conn.close()
    if resp.status != 200:
        raise InfraError(f"{method} {origin}{path} answered {resp.status}: {body[:200]!r}")
    if len(body) > MAX_STATE_BYTES:  # the sites start each episode small: only the episode grew it
        raise AgentFault(f"the site's state grew past {MAX_STATE_BYTES >> 20} MB during the episode", terminal=True)
    try:
        return parse_json(body, max_bytes=MAX_STATE_BYTES, what=f"{origin}{path}")
    except AgentFault as exc:  # depth or digits: a site's own answer, not the agent's
        raise InfraError(f"{method} {origin}{path}: {exc.reason}") from None


def wait_answering(probe: Callable[[], None], deadline: float, gone: Callable[[], str | None], what: str) -> None:
    """Until probe() stops raising InfraError (past the deadline, its last error is raised);
    gone() returns why `what` cannot answer any more (or None), which ends the wait at once."""
    while True:
        try:
            probe()
            return
        except InfraError:
            if (why := gone()) is not None:
                raise InfraError(f"{what} is gone: {why}") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _wait_healthy(origin: str, deadline: float, gone: Callable[[], str | None] = lambda: None) -> None:
    """Until origin answers /__health."""
    wait_answering(lambda: _admin_call(origin, "GET", "/__health", "", timeout=2.0), deadline, gone,
                   f"site server at {origin}")


class SiteHost:
    """Common API; subclasses start the servers and fill self.origins."""

    def __init__(self, sites: list[SiteSpec]):
        if not sites:
            raise ValueError("a web env needs at least one site")
        self.sites = {s.name: s for s in sites}
        self.token = secrets.token_hex(16)
        self.origins: dict[str, str] = {}
        # Where the browser runs: None = launched here by Playwright; else the CDP URL of a Chromium
        # in a container, which reaches this machine (the episode's filtering proxy) at proxy_host.
        self.cdp_url: str | None = None
        self.proxy_host = "127.0.0.1"
        # origin -> folder of the static sites whose files are on this machine: the episode's proxy
        # answers their GETs itself (proxy.py), the same files with the same code as their server.
        self.static_dirs: dict[str, str] = {}

    def reset(self, site: str) -> None:
        _admin_call(self.origins[site], "POST", "/__reset", self.token)

    def state(self, site: str) -> dict[str, Any]:
        return _admin_call(self.origins[site], "GET", "/__state", self.token)

    def close(self) -> None:
        raise NotImplementedError


class LocalSiteHost(SiteHost):
    """Sites as one child process of this one (sites.server), which also runs users' app commands
    as its children. It exits when we close it, and on its own, with its whole process group,
    when our end of its stdin pipe closes (we died). Isolation: none beyond the browser's walls."""

    def __init__(self, sites: list[SiteSpec]):
        super().__init__(sites)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.log = tempfile.TemporaryFile()  # the servers' stderr: a file, so a chatty app never blocks on a full pipe
        env = {**os.environ, "AGENTGYM_WEB_TOKEN": self.token, "PYTHONDONTWRITEBYTECODE": "1"}
        try:
            argv = [sys.executable, "-s", "-m", "sites.server", "--watch-stdin",
                    "--sites", ",".join(s.name for s in sites if s.builtin)]
            argv += [f"--static={s.name}={s.static_dir}" for s in sites if s.static_dir]
            for s in sites:
                if s.command:
                    cwd = str(Path(s.app_dir).resolve()) if s.app_dir else os.getcwd()
                    argv.append("--app=" + json.dumps({"name": s.name, "port": _free_port(), "cwd": cwd, "argv": s.command}))
            ports = self._spawn(argv, env, cwd=WEB_DIR)["ports"]
            self.origins.update({n: f"http://127.0.0.1:{p}" for n, p in ports.items()})
            self.static_dirs = {self.origins[s.name]: s.static_dir for s in sites if s.static_dir}
            deadline = time.monotonic() + START_TIMEOUT_S
            for origin in self.origins.values():
                _wait_healthy(origin, deadline, self._gone)
        except BaseException:
            self.close()
            raise
        self._finalizer = weakref.finalize(self, _kill_all, self.procs)

    def _log_tail(self) -> str:
        try:
            self.log.seek(0, os.SEEK_END)
            self.log.seek(max(0, self.log.tell() - 2000))
            return self.log.read().decode(errors="replace")
        except (OSError, ValueError):
            return ""

    def _gone(self) -> str | None:
        dead = [p for p in self.procs if p.poll() is not None]
        return f"it exited with code {dead[0].returncode}: {self._log_tail() or 'no output'}" if dead else None

    def _spawn(self, argv: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=self.log, start_new_session=True)
        self.procs.append(proc)
        ready, _, _ = select.select([proc.stdout], [], [], START_TIMEOUT_S)
        line = proc.stdout.readline() if ready else b""  # type: ignore[union-attr]
        if not line:
            proc.kill()
            proc.wait()
            raise InfraError(f"site server did not start ({' '.join(argv)}): {self._log_tail() or 'no output'}")
        return json.loads(line)

    def close(self) -> None:
        _kill_all(self.procs)
        self.procs = []
        self.log.close()


def _kill_all(procs: list[subprocess.Popen[bytes]]) -> None:
    """Kill each server's process group (its apps too) and reap it."""
    for proc in procs:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for f in (proc.stdin, proc.stdout):
            if f:
                f.close()
    procs.clear()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tar_dir(root: Path, arcname: str, skip: tuple[str, ...] = ("__pycache__",), owner: int | None = None,
             readable: bool = False) -> bytes:
    """A tar of a folder for put_archive. readable: everyone may read it (a static folder the
    container's unprivileged user serves, even when it was private on the host, e.g. mode 0700)."""
    def keep(ti: tarfile.TarInfo) -> tarfile.TarInfo | None:
        if any(p in skip for p in ti.name.split("/")):
            return None
        if owner is not None:
            ti.uid = ti.gid = owner
            ti.uname = ti.gname = ""
        if readable and not ti.issym():
            ti.mode |= 0o555 if ti.isdir() else 0o444
        return ti

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(root, arcname=arcname, filter=keep)
    return buf.getvalue()


def container_argv(command: list[str]) -> list[str]:
    """A command for the sites container: a Python interpreter named by a host path or as
    python/python3.X becomes the image's python3 (the only one there)."""
    first = Path(command[0]).name
    if command[0] == sys.executable or first == "python" or (first.startswith("python3") and first[7:].lstrip(".").isdigit()):
        return ["python3", *command[1:]]
    return list(command)


class DockerSiteHost(SiteHost):
    """Sites in one container (agentgym/web-sites) on a labelled Docker network made with
    internal=True: no route to the internet. The browser on the host reaches the container's
    address on that network; with browser="container" the browser itself is a container on the
    same network (browser_container.py). Containers and network carry agentgym owner labels and
    are removed on close (and by the reaper if this process dies)."""

    def __init__(self, sites: list[SiteSpec], browser: str = "host"):
        super().__init__(sites)
        for s in sites:
            if s.command and not s.app_dir:
                raise ValueError(f"site {s.name}: on runtime='docker' a command site needs app_dir, the folder with its app: "
                                 "it is copied into the sites container and the command runs there (python3, stdlib only)")
        from agentgym.sandbox import reaper
        from agentgym.sandbox._docker_util import ensure_image

        self.reaper = reaper
        self.api = reaper.docker_client().api
        self.container_id: str | None = None
        self.network_id: str | None = None
        self.browser_box: Any = None
        labels = {**reaper.owner_labels(), "agentgym.kind": "web-sites"}
        name = f"agentgym-web-{secrets.token_hex(5)}"
        try:
            ensure_image(SITES_IMAGE)
            reaper.install_handlers()
            self.network_id = self.api.create_network(name, driver="bridge", internal=True, labels=labels)["Id"]
            reaper.track("network", self.network_id)
            order = list(self.sites)
            argv = ["python3", "-s", "-m", "sites.server", "--host", "0.0.0.0", "--port-base", str(CONTAINER_PORT_BASE),
                    "--sites", ",".join(n for n in order if self.sites[n].builtin)]
            order = ([n for n in order if self.sites[n].builtin] + [n for n in order if self.sites[n].static_dir]
                     + [n for n in order if self.sites[n].command])
            argv += [f"--static={n}=/opt/agentgym/static/{n}" for n in order if self.sites[n].static_dir]
            argv += ["--app=" + json.dumps({"name": n, "port": CONTAINER_PORT_BASE + i, "cwd": f"/opt/agentgym/apps/{n}",
                                            "argv": container_argv(self.sites[n].command or [])})
                     for i, n in enumerate(order) if self.sites[n].command]
            host_config = self.api.create_host_config(network_mode=name, mem_limit="512m", pids_limit=256, init=True,
                                                      cap_drop=["ALL"], security_opt=["no-new-privileges"])
            self.container_id = self.api.create_container(
                SITES_IMAGE, command=argv, name=name, labels=labels, working_dir="/opt/agentgym", user="65534:65534",
                environment={"AGENTGYM_WEB_TOKEN": self.token, "PYTHONDONTWRITEBYTECODE": "1"},
                host_config=host_config, detach=True)["Id"]
            reaper.track("container", self.container_id)
            self.api.put_archive(self.container_id, "/opt/agentgym", _tar_dir(WEB_DIR / "sites", "sites"))
            for n in order:
                if self.sites[n].static_dir:
                    self.api.put_archive(self.container_id, "/opt/agentgym", _tar_dir(Path(self.sites[n].static_dir), f"static/{n}", readable=True))
                if self.sites[n].app_dir:  # owned by the container's user: an app may write beside itself
                    self.api.put_archive(self.container_id, "/opt/agentgym",
                                         _tar_dir(Path(self.sites[n].app_dir), f"apps/{n}", owner=65534))
            self.api.start(self.container_id)
            ip = self.api.inspect_container(self.container_id)["NetworkSettings"]["Networks"][name]["IPAddress"]
            if not ip:
                raise InfraError(f"container {name} got no address on network {name}")
            self.origins = {n: f"http://{ip}:{CONTAINER_PORT_BASE + i}" for i, n in enumerate(order)}
            deadline = time.monotonic() + START_TIMEOUT_S
            for origin in self.origins.values():
                _wait_healthy(origin, deadline, self._gone)
            if browser == "container":
                from agentgym.envs.web.browser_container import BrowserContainer

                self.browser_box = BrowserContainer(self.api, reaper, name, labels, f"{name}-browser")
                self.cdp_url, self.proxy_host = self.browser_box.cdp_url, self.browser_box.gateway
        except BaseException as exc:
            logs = self._logs()
            self.close()
            if isinstance(exc, InfraError) and logs:
                raise InfraError(f"{exc}; container log: {logs}") from exc
            raise

    def _gone(self) -> str | None:
        assert self.container_id is not None
        state = self.api.inspect_container(self.container_id)["State"]
        return None if state.get("Running") else f"the sites container stopped (exit code {state.get('ExitCode')})"

    def _logs(self) -> str:
        return container_logs(self.api, self.container_id)

    def close(self) -> None:
        if self.browser_box is not None:  # before the network: a network with members cannot go
            self.browser_box.close()
            self.browser_box = None
        if self.container_id:
            self.reaper.remove_many("container", [self.container_id])
            self.container_id = None
        if self.network_id:
            self.reaper.remove_many("network", [self.network_id])
            self.network_id = None


def container_logs(api: Any, container_id: str | None, tail: int = 20) -> str:
    """The last lines a container printed, for an error message ("" when there is none to read)."""
    if not container_id:
        return ""
    try:
        return api.logs(container_id, tail=tail).decode(errors="replace")
    except Exception:  # noqa: BLE001 - logs are a courtesy in an error message
        return ""


def make_host(runtime: str, sites: list[SiteSpec], browser: str = "host") -> SiteHost:
    if runtime == "docker":
        return DockerSiteHost(sites, browser)
    if runtime == "local":  # WebEnv refuses browser="container" off docker before any host starts
        return LocalSiteHost(sites)
    raise ValueError(f"unknown runtime {runtime!r}: use 'local' or 'docker'")
