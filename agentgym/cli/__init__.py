"""`agentgym` command-line interface."""

from agentgym.cli.app import app, main

__all__ = ["app", "main"]
