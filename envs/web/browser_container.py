"""Chromium in a container (the web env's browser="container" mode on runtime="docker").

The browser runs in an `agentgym/web-browser` container (Debian's Chromium) on the env's own
internal Docker network, beside the sites container: it has no route to the internet and cannot
see the host's loopback services, so the network is a wall of its own under the route filter and
the filtering proxy. Playwright on the host drives it over CDP; the episode's filtering proxy
listens on the network's gateway address, the only host address the browser can reach.
"""

from __future__ import annotations

import http.client
import json
import time
from typing import Any

from agentgym.env import InfraError
from agentgym.envs.web.browser import CHROMIUM_ARGS
from agentgym.envs.web.hosting import container_logs, wait_answering

BROWSER_IMAGE = "agentgym/web-browser:latest"
CDP_PORT = 9223
START_TIMEOUT_S = 60.0


class BrowserContainer:
    """One labelled, limited Chromium container on `network`; removed by close() (or the reaper)."""

    def __init__(self, api: Any, reaper: Any, network: str, labels: dict[str, str], name: str):
        from agentgym.sandbox._docker_util import ensure_image

        self.api, self.reaper = api, reaper
        self.container_id: str | None = None
        ensure_image(BROWSER_IMAGE)
        # Chromium counts its threads against pids_limit (~100 per renderer); memory as one worker's.
        host_config = api.create_host_config(network_mode=network, mem_limit="2g", pids_limit=2048, init=True,
                                             cap_drop=["ALL"], security_opt=["no-new-privileges"], shm_size="256m")
        try:
            # The image's start script adds the switches Playwright's own launch adds; ours come
            # after them, as they do when Playwright launches Chromium on the host.
            self.container_id = api.create_container(
                BROWSER_IMAGE, command=["/usr/local/bin/start-browser", *CHROMIUM_ARGS], name=name,
                labels={**labels, "agentgym.kind": "web-browser"}, host_config=host_config, detach=True)["Id"]
            reaper.track("container", self.container_id)
            api.start(self.container_id)
            info = api.inspect_container(self.container_id)["NetworkSettings"]["Networks"][network]
            ip = info["IPAddress"]
            if not ip:
                raise InfraError(f"browser container {name} got no address on network {network}")
            self.gateway: str = api.inspect_network(network)["IPAM"]["Config"][0]["Gateway"]
            self.cdp_url = f"http://{ip}:{CDP_PORT}"
            self._wait_ready(ip)
        except BaseException:
            self.close()
            raise

    def _wait_ready(self, ip: str) -> None:
        def probe() -> None:
            try:
                conn = http.client.HTTPConnection(ip, CDP_PORT, timeout=2)
                conn.request("GET", "/json/version")
                body = conn.getresponse().read()
                conn.close()
                if json.loads(body).get("webSocketDebuggerUrl"):
                    return
                last = "no webSocketDebuggerUrl yet"
            except (OSError, ValueError, http.client.HTTPException) as exc:
                last = str(exc)
            raise InfraError(f"Chromium in the browser container did not answer on CDP within {START_TIMEOUT_S:.0f} s ({last})")

        try:
            wait_answering(probe, time.monotonic() + START_TIMEOUT_S, self._gone, "the browser container")
        except InfraError as exc:
            raise InfraError(f"{exc}; container log: {self.logs()}") from None

    def _gone(self) -> str | None:
        state = self.api.inspect_container(self.container_id)["State"]
        return None if state.get("Running") else f"it stopped (exit code {state.get('ExitCode')})"

    def logs(self) -> str:
        return container_logs(self.api, self.container_id)

    def close(self) -> None:
        if self.container_id:
            self.reaper.remove_many("container", [self.container_id])
            self.container_id = None
