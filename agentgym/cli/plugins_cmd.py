"""The global `--import MODULE` option and `agentgym plugins`.

Why here: every command must see what a user registered in Python (agentgym.plugins), and each
command is a fresh process, so the imports happen in the root callback, before any command runs.
"""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

ImportOpt = Annotated[Optional[list[str]], typer.Option(
    "--import", metavar="MODULE",
    help="import a module (found from the working directory) or a .py file before the command runs, so the envs "
    "and agents it registers can be used (repeatable; installed packages register through entry points instead)")]


def main_callback(imports: ImportOpt = None) -> None:
    # no docstring: it would replace the app's help text
    from agentgym import plugins

    try:
        plugins.import_modules(imports)
    except plugins.PluginImportError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def plugins_cmd(as_json: Annotated[bool, typer.Option("--json", help="one JSON object per plugin")] = False) -> None:
    """List installed plugins (entry points agentgym.envs / agentgym.agents) and whether they load (exit 1 if one fails)."""
    from rich.console import Console
    from rich.table import Table

    from agentgym import plugins

    for group in plugins.GROUPS:
        plugins.load(group)
    rows = plugins.status()
    if as_json:
        for row in rows:
            print(json.dumps(row))
    elif not rows:
        typer.echo("no plugins installed (packages declare entry points in the groups agentgym.envs, agentgym.agents)")
    else:
        from rich.text import Text

        table = Table("group", "name", "entry point", "state")
        for row in rows:  # as text: an error's "[...]" is not rich markup
            table.add_row(*map(Text, (row["group"], row["name"], row["value"], row["state"])))
        Console().print(table)
    if any(r["state"].startswith("failed") for r in rows):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.callback()(main_callback)
    app.command("plugins")(plugins_cmd)
