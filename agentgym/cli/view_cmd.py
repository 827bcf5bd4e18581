"""`agentgym view RUN`: browse a sweep's episodes, scores, transcripts and comparisons locally."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from agentgym.cli.boundary import fail

console = Console()


def view(
    run_dir: Annotated[Path, typer.Argument(help="a run directory written by `agentgym sweep`, `eval` or `train` (e.g. runs/demo)")],
    port: Annotated[int, typer.Option("--port", "-p", help="port on 127.0.0.1 (a busy one falls back to a free one; 0: any)")] = 8765,
) -> None:
    """Serve an interactive viewer of a run on 127.0.0.1: episodes (filter by env, config, task, outcome),
    per-env scaling charts, transcripts with the grader's verdict, two configs side by side, a training
    run's curves. Ctrl-C stops it."""
    from agentgym.view import serve

    if not 0 <= port <= 65535:
        fail(f"--port {port}: use 0-65535 (0 picks a free port)")
    try:
        serve(run_dir, port=port, on_ready=lambda url: console.print(
            f"agentgym view: {escape(str(run_dir))} at [link={url}]{url}[/link] (Ctrl-C stops it)", highlight=False, soft_wrap=True))
    except FileNotFoundError as exc:  # the CLI's one line, as text: a path's [brackets] are kept
        fail(str(exc))
    console.print("viewer stopped")


def register(app: typer.Typer) -> None:
    app.command("view")(view)
