"""The CLI's error boundary: every failure of every command ends as ONE line on stderr that says
what to do, and exit code 2 (1 where a command reports a result that failed, e.g. validate).

Why one place: commands are added by several modules (sweep, eval, view, swe, export, train, ...);
wrapping each would drift. `BoundaryGroup` is the root group's class, so whatever a command raises
reaches `main()` here. Usage errors (bad option values, missing arguments) are flattened to one
line too (click draws a multi-line box). Set AGENTGYM_DEBUG=1 to get the traceback instead.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

try:  # typer >= 0.2x vendors click; older typer runs on click itself
    from typer._click import exceptions as _cx
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as _cx

_USAGE: tuple[type[BaseException], ...] = (_cx.ClickException,)
_ABORT: tuple[type[BaseException], ...] = (typer.Abort,) + ((_cx.Abort,) if hasattr(_cx, "Abort") else ())
try:  # code that raises click's own exceptions (a plugin's command, say)
    import click as _click_pkg

    _USAGE += (_click_pkg.ClickException,)
    _ABORT += (_click_pkg.Abort,)
except ImportError:  # pragma: no cover
    pass

DEBUG_VAR = "AGENTGYM_DEBUG"
MAX_LINE = 600


class CLIError(Exception):
    """A failure a command explains itself: `message` is printed as is (exit 2)."""


def fail(msg: str, code: int = 2) -> NoReturn:
    """Print `error: msg` as one line on stderr and exit with `code`."""
    echo_error(msg)
    raise typer.Exit(code)


def echo_error(msg: str) -> None:
    typer.echo(f"error: {one_line(msg)}", err=True)


def one_line(text: str, limit: int = MAX_LINE) -> str:
    """Whitespace (newlines included) collapsed to single spaces, at most `limit` characters."""
    flat = re.sub(r"\s+", " ", str(text)).strip()
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def describe(exc: BaseException) -> str:
    """What went wrong and what to do, from an exception a command did not handle itself."""
    from pydantic import ValidationError

    if isinstance(exc, CLIError):
        return str(exc)
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first.get("loc", ())) or exc.title
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        return f"{exc.title}: {loc}: {first.get('msg')}{more}; fix that value (see the command's --help)"
    if isinstance(exc, KeyError) and exc.args and " " in str(exc.args[0]):  # UnknownEnvError & co: a message
        return str(exc.args[0])
    if isinstance(exc, ValueError) and "validation error" in str(exc):
        return _pydantic_text(str(exc))
    if isinstance(exc, (ValueError, FileNotFoundError, PermissionError, NotADirectoryError, IsADirectoryError)):
        return str(exc)
    name = type(exc).__name__
    if name in ("ModelError", "DatasetUnavailable", "ImageError", "PreflightError", "SandboxError", "DockerUnavailable"):
        return str(exc)
    return f"{name}: {exc} (unexpected; rerun with {DEBUG_VAR}=1 for the traceback and report it)"


def _pydantic_text(text: str) -> str:
    """'invalid reset options: 1 validation error for X\\nfield\\n  Input should be ... [type=...]' ->
    'invalid reset options: field: Input should be ...'."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    head = re.sub(r"\s*\d+ validation errors? for \w+\s*$", "", lines[0]) if lines else text
    rest = [re.sub(r"\s*\[type=.*$", "", ln) for ln in lines[1:] if not ln.startswith("For further information")]
    pairs = [f"{rest[i]}: {rest[i + 1]}" for i in range(0, len(rest) - 1, 2)]
    return (head.rstrip(":") + ": " + "; ".join(pairs)) if pairs else text


class BoundaryGroup(TyperGroup):
    """The root group: runs the command, turns whatever escapes into one line."""

    def invoke(self, ctx: Any) -> Any:
        # typer (0.2x) turns a KeyboardInterrupt inside a command into a silent Exit(130); as an
        # Abort it reaches main() below, which prints the one "interrupted" line for every command
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise typer.Abort() from None

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _cx.NoArgsIsHelpError as exc:
            typer.echo(exc.ctx.get_help(), err=True)
            sys.exit(exc.exit_code)
        except _USAGE as exc:  # usage errors: bad option value, missing argument, no such command
            ctx = getattr(exc, "ctx", None)
            hint = f"; see `{ctx.command_path} --help`" if ctx is not None else ""
            echo_error(exc.format_message().rstrip(".") + hint)
            sys.exit(exc.exit_code)
        except _ABORT:
            typer.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001 - the boundary: one line, never a traceback
            if os.environ.get(DEBUG_VAR):
                raise
            echo_error(describe(exc))
            sys.exit(2)
        sys.exit(rv if isinstance(rv, int) else 0)


__all__ = ["BoundaryGroup", "CLIError", "describe", "echo_error", "fail", "one_line"]
