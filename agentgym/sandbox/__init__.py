"""Sandboxes: where agents' commands run. See base.py for the protocol.

The factory (and with it the docker SDK) loads on first use, so `import agentgym` stays light.
"""

from typing import Any

from agentgym.sandbox.base import (
    ISOLATION_KINDS,
    ChannelKilled,
    CommandResult,
    Runtime,
    Sandbox,
    SandboxError,
    SandboxFileRefused,
    SandboxOutOfMemory,
    SandboxServerBroken,
    SandboxSpec,
)

_FACTORY_NAMES = {"docker_available", "make_sandbox", "resolve_runtime", "LocalFallbackWarning"}


def __getattr__(name: str) -> Any:
    if name in _FACTORY_NAMES:
        from agentgym.sandbox import factory

        return getattr(factory, name)
    raise AttributeError(f"module 'agentgym.sandbox' has no attribute {name!r}")


__all__ = [
    "ISOLATION_KINDS",
    "ChannelKilled",
    "CommandResult",
    "LocalFallbackWarning",
    "Runtime",
    "Sandbox",
    "SandboxError",
    "SandboxFileRefused",
    "SandboxOutOfMemory",
    "SandboxServerBroken",
    "SandboxSpec",
    "docker_available",
    "make_sandbox",
    "resolve_runtime",
]
