"""Export runs as training data: SFT chat data and token-level RL data, one file set per split.

Why: R2E-Gym's recipe is SFT on the trajectories that passed (rejection sampling), and verl /
OpenRLHF-style trainers read flat token rows. Both must keep an env's train and test tasks apart,
or held-out scores measure memorisation. So every row carries its split and every split is its
own file: ``train.jsonl`` / ``test.jsonl`` (and ``.parquet`` for RL); ``--split`` keeps one.

Inputs (RUN):
- a sweep run directory (``results.sqlite``): SFT from its passed episodes;
- a token-level run directory (``tokens.jsonl``, one ``TokenEpisode`` per line, written by
  ``append_episodes``): RL rows (infrastructure errors dropped and counted, advantages by group);
- a JSONL file of trajectories (``agentgym run --json >> run.jsonl``): SFT.

SFT rows are ``{"messages": [...], "tools": [...]}`` as TRL's SFTTrainer and ``datasets`` read
them: OpenAI chat messages, tool-call arguments as objects, tool messages with the tool's name;
each row says where it came from (``config_id``, ``agent``, ``model`` of a sweep's config), since a
sweep of a strong and a weak model holds both (``--config`` keeps some). Rows that repeat an earlier
row's messages and tools exactly (an oracle replayed k times) are counted (``--dedupe`` drops
them). A tool call whose arguments nest deeper than the guard's JSON limit (``loads_or`` takes
~990 levels; a chat template's ``tojson`` recurses once per level and crashes SFT past ~500) cuts
its row before that turn (counted; a row left with no assistant turn is skipped as ``too_deep``).
Nothing half-written: files go to a temporary folder beside ``--out`` that is renamed at the end,
and ``--out`` must not exist yet (an export never mixes with an older one). SFT streams: a sweep's
trajectories are read a page at a time (as the report reads them) and each row is written as it is
made, so memory stays at one page however large the run. A sweep's stored trajectory that does
not read back (a corrupt row, one nested too deeply) is skipped and counted ``unreadable``. The SFT
rows are made in agentgym.rl.export_sft; every public name is importable from here.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from agentgym.actions import loads_or
from agentgym.rl.export_sft import SWEEP_DB, ExportError, _call_with_object_args, sft_messages, sft_rows  # noqa: F401 - re-exported
from agentgym.rl.groups import make_batch
from agentgym.rl.records import TokenEpisode
from agentgym.rl.splits import SPLITS, check_split
from agentgym.staging import staged_dir

TOKENS_FILE = "tokens.jsonl"
class ExportSummary(BaseModel):
    format: Literal["sft", "rl"]
    out: str
    rows: dict[str, int]
    skipped: dict[str, int]
    files: list[str]
    duplicates: int = 0  # SFT: rows written that repeat an earlier row's messages and tools exactly
    cut_deep: int = 0  # SFT: rows cut before a tool call whose arguments nest past the guard's JSON depth


_ID_PREFIX = re.compile(r'^\{"schema_version":\d+,"episode_id":("(?:[^"\\]|\\.)*")')


def _stored_ids(path: Path) -> Iterator[str]:
    """The episode_id of each line of a tokens.jsonl, read from the line's start (as append_episodes
    writes it) without parsing its token lists; a line of another shape is parsed whole."""
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if m := _ID_PREFIX.match(line):
                yield json.loads(m.group(1))
            elif line.strip() and isinstance(row := loads_or(line, None), dict) and isinstance(row.get("episode_id"), str):
                yield row["episode_id"]


def append_episodes(run_dir: str | Path, episodes: Iterable[TokenEpisode]) -> Path:
    """Append token-level episodes to RUN/tokens.jsonl (the input of ``--format rl``).

    Raises:
        ExportError: an episode_id already in the file (or twice in ``episodes``): a later collection
            with the same group_id (the default is TASK@POLICY_VERSION) would be pooled into the earlier
            group, with wrong advantages. Nothing is appended then.
    """
    path = Path(run_dir) / TOKENS_FILE
    eps = list(episodes)
    seen = set(_stored_ids(path)) if path.is_file() else set()
    for ep in eps:
        if ep.episode_id in seen:
            raise ExportError(f"episode_id {ep.episode_id!r} is already in {path}: give each collection appended to a run its own "
                              "group_id (acollect_group(..., group_id=...)) or policy_version (CollectConfig(policy_version=...)); "
                              "nothing was appended")
        seen.add(ep.episode_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        for ep in eps:
            f.write(ep.model_dump_json() + "\n")
    return path


def read_episodes(run_dir: str | Path) -> list[TokenEpisode]:
    path = Path(run_dir) / TOKENS_FILE
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                out.append(TokenEpisode.model_validate_json(line))
            except ValueError as exc:
                raise ExportError(f"{path}:{n} is not a token-level episode ({str(exc).splitlines()[0]})") from None
    return out


# -- RL -------------------------------------------------------------------------------------------------
def rl_rows(run: Path, split: str | None, scale_std: bool) -> tuple[dict[str, list[dict[str, Any]]], dict[str, int]]:
    if not (run / TOKENS_FILE).is_file():
        raise ExportError(f"{run} holds no {TOKENS_FILE}: --format rl needs token-level episodes (agentgym.rl.collect, "
                          "saved with agentgym.rl.export.append_episodes); a sweep or `agentgym run` records text only: use --format sft")
    episodes = read_episodes(run)
    try:
        batch = make_batch(episodes, scale_std=scale_std)
    except ValueError as exc:  # a repeated episode_id, a group of two policies: its advantages would be wrong
        raise ExportError(f"{run / TOKENS_FILE}: {exc}") from None
    rows: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    skipped = {"infra_error": batch.dropped_infra, "other_split": 0}
    flagged = set(batch.flagged_groups)
    for ep in batch.episodes:
        s = ep.split or "train"
        if split is not None and s != split:
            skipped["other_split"] += 1
            continue
        rows[s].append(ep.to_row().model_copy(update={"group_all_equal": ep.group_id in flagged}).model_dump())
    return rows, skipped


# -- writing --------------------------------------------------------------------------------------------
def _write_jsonl(folder: Path, rows: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, int]:
    """Each (split, row) as one line of FOLDER/SPLIT.jsonl, written as it comes (a split's file is
    made on its first row); the rows written per split."""
    counts = dict.fromkeys(SPLITS, 0)
    with contextlib.ExitStack() as files:
        by_split: dict[str, Any] = {}
        for s, row in rows:
            if s not in by_split:
                # errors="replace": a lone surrogate (a model's \\udXXX escape in its tool call, parsed to an
                # object here) cannot be UTF-8; it is written as '?', as the sweep store keeps it, not a crash
                by_split[s] = files.enter_context((folder / f"{s}.jsonl").open("w", encoding="utf-8", errors="replace"))
            by_split[s].write(json.dumps(row, ensure_ascii=False) + "\n")
            counts[s] += 1
    return counts


def rl_schema() -> Any:
    """The RL parquet's Arrow schema, one type per RLRow field: the same in every export (inferred,
    a column whose rows are all None, e.g. truncation_reason of a run nothing truncated, is 'null')."""
    import pyarrow as pa

    from agentgym.rl.records import RLRow

    ints, floats = pa.list_(pa.int64()), pa.list_(pa.float64())
    types = {"schema_version": pa.int64(), "seed": pa.int64(), "num_turns": pa.int64(), "reward": pa.float64(),
             "advantage": pa.float64(), "prompt_ids": ints, "response_ids": ints, "response_mask": ints, "logprobs": floats,
             "turn_rewards": floats, "finish_reasons": pa.list_(pa.string()), "passed": pa.bool_(), "truncated": pa.bool_(),
             "completion_truncated": pa.bool_(), "group_all_equal": pa.bool_()}
    return pa.schema([(name, types.get(name, pa.string())) for name in RLRow.model_fields])


def _write_rl(tmp: Path, rows: dict[str, list[dict[str, Any]]]) -> list[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    _write_jsonl(tmp, ((s, r) for s, items in rows.items() for r in items))
    schema = rl_schema()
    for s, items in rows.items():
        if items:
            pq.write_table(pa.Table.from_pylist(items, schema=schema), tmp / f"{s}.parquet")
    return [f"{s}.{ext}" for s in SPLITS if rows.get(s) for ext in ("jsonl", "parquet")]


def _nothing(run: Path, fmt: str, split: str | None, skipped: dict[str, int]) -> ExportError:
    return ExportError(f"nothing to export from {run}: no usable {'passed ' if fmt == 'sft' else ''}episode"
                       f"{' of the ' + split + ' split' if split else ''} (skipped: {skipped})")


def export_run(run: str | Path, fmt: str, out: str | Path, *, split: str | None = None, runtime: str = "local",
               scale_std: bool = False, configs: list[str] | None = None, dedupe: bool = False) -> ExportSummary:
    """Export RUN to OUT (which must not exist). Raises ExportError for bad input; OUT then does not exist.

    configs: SFT of a sweep run: only these config ids' episodes. dedupe: SFT: leave out rows that
    repeat an earlier row's messages and tools exactly (counted either way: ``duplicates``)."""
    run, out = Path(run), Path(out)
    if fmt not in ("sft", "rl"):
        raise ExportError(f"unknown --format {fmt!r}; use 'sft' (chat messages of passed episodes) or 'rl' (token rows)")
    try:
        split = check_split(split)
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    if not run.exists():
        raise ExportError(f"{run} does not exist; pass a sweep run directory, a token-level run directory or a trajectories .jsonl")
    if out.exists():
        raise ExportError(f"{out} already exists; pass a new --out folder (an export never mixes with an older one)")
    if fmt == "rl" and (configs or dedupe):
        raise ExportError(f"{'--config' if configs else '--dedupe'} is for --format sft (a sweep's configs; repeated conversations); "
                          "an RL export keeps every sampled episode of its groups")
    seen = {"duplicates": 0, "cut_deep": 0}
    if fmt == "rl":
        rows, skipped = rl_rows(run, split, scale_std)
        if not any(rows.values()):
            raise _nothing(run, fmt, split, skipped)
        with staged_dir(out) as tmp:
            files = _write_rl(tmp, rows)
        counts = {s: len(v) for s, v in rows.items()}
    elif run.is_dir() and not (run / SWEEP_DB).is_file():
        raise ExportError(f"{run} holds no {SWEEP_DB}: --format sft reads a sweep run directory or a trajectories .jsonl")
    else:  # streamed: one page of trajectories in memory, rows written as they are made
        skipped = {"not_passed": 0, "infra_error": 0, "other_split": 0, "unreadable": 0}
        rows_of = sft_rows(run, split, runtime, skipped, configs=configs, dedupe=dedupe, seen=seen)
        with staged_dir(out) as tmp, contextlib.closing(rows_of) as rows:
            counts = _write_jsonl(tmp, rows)  # the folder is removed again if nothing is written (or anything fails)
            if not any(counts.values()):
                raise _nothing(run, fmt, split, skipped)
        files = [f"{s}.jsonl" for s in SPLITS if counts[s]]
    return ExportSummary(format=fmt, out=str(out), rows=counts, skipped=skipped, files=files,  # type: ignore[arg-type]
                         duplicates=seen["duplicates"], cut_deep=seen["cut_deep"])


__all__ = ["SWEEP_DB", "TOKENS_FILE", "ExportError", "ExportSummary", "append_episodes", "export_run", "read_episodes", "rl_schema",
           "sft_messages", "sft_rows"]
