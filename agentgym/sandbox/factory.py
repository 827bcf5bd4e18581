"""Pick a backend and make a sandbox: ``make_sandbox(runtime="auto")`` uses Docker when it answers.

When "auto" finds no Docker engine it falls back to the local runtime, which isolates nothing
(base.py says what stays exposed), so it says so loudly: a LocalFallbackWarning (a RuntimeWarning;
Python's default filter shows it once per call site) and a log line on the ``agentgym.sandbox``
logger every time. Envs keep
the runtime actually used in ``env.runtime`` and ``info["runtime"]``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import warnings
from typing import Any, Literal

from agentgym.sandbox.base import Runtime, Sandbox, SandboxError, SandboxSpec

_PING_TIMEOUT_S = 3.0
_NEGATIVE_TTL_S = 30.0  # a missing engine is re-checked after this long (it may have been started)
_cache: dict[str, Any] = {}
_cache_lock = threading.Lock()
log = logging.getLogger("agentgym.sandbox")

FALLBACK_MESSAGE = (
    "agentgym: runtime='auto' found no Docker engine and falls back to runtime='local': the agent's "
    "commands run as YOUR user on this machine, with no filesystem, network, process or memory isolation "
    "(agentgym itself is hidden from its python, the rest of your files are not). Start Docker "
    "(scripts/ensure-docker.sh) to isolate agents, or pass runtime='local' (or AGENTGYM_RUNTIME=local) "
    "to choose it knowingly."
)


class LocalFallbackWarning(RuntimeWarning):
    """runtime='auto' fell back to the local runtime because no Docker engine answered."""


def docker_available() -> bool:
    """Whether a Docker engine answers a ping within 3 s. Cached (a "no" for 30 s only)."""
    with _cache_lock:
        ok, when = _cache.get("docker", (None, 0.0))
        if ok or (ok is False and time.monotonic() - when < _NEGATIVE_TTL_S):
            return bool(ok)
        try:
            import docker

            client = docker.from_env(timeout=_PING_TIMEOUT_S)
            try:
                ok = bool(client.ping())
            finally:
                client.close()
        except Exception:  # noqa: BLE001 - any failure means "not available"
            ok = False
        _cache["docker"] = (ok, time.monotonic())
        return ok


def resolve_runtime(runtime: Runtime = "auto") -> Literal["docker", "local"]:
    """'docker' or 'local'. For 'auto', AGENTGYM_RUNTIME (docker|local) wins, else Docker if it answers."""
    if runtime in ("docker", "local"):
        return runtime
    if runtime != "auto":
        raise ValueError(f"unknown runtime {runtime!r}: use 'docker', 'local' or 'auto'")
    forced = os.environ.get("AGENTGYM_RUNTIME", "").strip().lower()
    if forced in ("docker", "local"):
        return forced  # type: ignore[return-value]
    if forced and forced != "auto":
        raise ValueError(f"AGENTGYM_RUNTIME={forced!r}: use docker, local or auto")
    if docker_available():
        return "docker"
    warnings.warn(FALLBACK_MESSAGE, LocalFallbackWarning, stacklevel=2)
    log.warning(FALLBACK_MESSAGE)
    return "local"


def make_sandbox(spec: SandboxSpec | None = None, runtime: Runtime = "auto", *, warm_spares: bool | None = None,
                 **spec_overrides: Any) -> Sandbox:
    """Create a sandbox: ``make_sandbox(image="agentgym/base:latest", memory="512m")``.

    warm_spares=False: a one-shot sandbox (a grader's) that will never restore() starts no spare
    container in the background (Docker only; the default follows AGENTGYM_WARM_SPARES).
    """
    unknown = set(spec_overrides) - set(SandboxSpec.model_fields)
    if unknown:
        raise TypeError(f"unknown SandboxSpec field(s) {sorted(unknown)}; valid: {sorted(SandboxSpec.model_fields)}")
    base = spec or SandboxSpec()
    if spec_overrides:
        base = SandboxSpec.model_validate({**base.model_dump(), **spec_overrides})
    chosen = resolve_runtime(runtime)
    if chosen == "docker":
        if runtime == "docker" and not docker_available():
            raise SandboxError("runtime='docker' but no Docker engine answers: start one (scripts/ensure-docker.sh) "
                               "or use runtime='local'")
        from agentgym.sandbox.docker import DockerSandbox

        return DockerSandbox(base, warm_spares=warm_spares)
    from agentgym.sandbox.local import LocalSandbox

    return LocalSandbox(base)
