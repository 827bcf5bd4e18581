"""`agentgym export RUN --format sft|rl --out DIR`: training data from a run (agentgym.rl.export)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from agentgym.cli.boundary import fail

console = Console(soft_wrap=True)


def export(
    run: Annotated[Path, typer.Argument(help="a sweep run directory, a token-level run directory (tokens.jsonl) or a trajectories .jsonl")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="sft: chat messages + tools of passed episodes (TRL SFTTrainer); "
                                     "rl: token rows with prompt_ids, response_ids, response_mask, logprobs, reward, advantage")],
    out: Annotated[Path, typer.Option("--out", "-o", help="a new folder: train.* and test.* files, one set per split")],
    split: Annotated[Optional[str], typer.Option(help="train or test: export only that split (default: both, in separate files)")] = None,
    runtime: Annotated[str, typer.Option("--runtime", "-r", help="runtime for making envs (SFT: tool schemas, task splits)")] = "local",
    scale_std: Annotated[bool, typer.Option("--scale-std", help="rl: divide advantages by the group's std (GRPO)")] = False,
    config: Annotated[Optional[list[str]], typer.Option("--config", "-c", help="sft of a sweep run: only this config id's "
                                                        "episodes (repeatable; an unknown id lists the run's ids)")] = None,
    dedupe: Annotated[bool, typer.Option("--dedupe", help="sft: leave out rows that repeat an earlier row's messages and tools exactly")] = False,
) -> None:
    """Export a run as SFT or RL training data, train and test splits kept apart."""
    from agentgym.rl.export import ExportError, export_run
    from agentgym.staging import leftover_note

    if note := leftover_note(out):  # a killed export's hidden .OUT.tmp-* beside --out
        typer.echo(note, err=True)
    try:
        summary = export_run(run, fmt, out, split=split, runtime=runtime, scale_std=scale_std, configs=config or None, dedupe=dedupe)
    except ExportError as exc:
        fail(str(exc))  # one plain line: a path's [brackets] are not rich markup
    rows = ", ".join(f"{k} {v}" for k, v in summary.rows.items())
    skipped = ", ".join(f"{k} {v}" for k, v in summary.skipped.items() if v) or "none"
    dups = f"; {summary.duplicates} rows repeat an earlier row exactly (--dedupe leaves them out)" if summary.duplicates else ""
    if summary.cut_deep:
        dups += f"; {summary.cut_deep} rows cut before a tool call whose arguments nest too deeply"
    console.print(f"wrote {summary.out}: {rows} rows ({', '.join(summary.files)}); skipped: {skipped}{dups}", highlight=False,
                  markup=False)


def register(app: typer.Typer) -> None:
    app.command("export")(export)
