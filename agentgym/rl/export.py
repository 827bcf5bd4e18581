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
made, so memory stays at one page however large the run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from agentgym.actions import loads_or
from agentgym.guard import MAX_JSON_DEPTH
from agentgym.rl.groups import make_batch
from agentgym.rl.records import TokenEpisode
from agentgym.rl.splits import SPLITS, check_split, split_of
from agentgym.staging import staged_dir

TOKENS_FILE = "tokens.jsonl"
SWEEP_DB = "results.sqlite"


class ExportError(ValueError):
    """Bad input for an export: one line that says what to do."""


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


# -- SFT ------------------------------------------------------------------------------------------------
def sft_messages(traj: Any) -> list[dict[str, Any]]:
    """The trajectory as chat messages: the transcript the model saw when there is one, else
    rebuilt from its steps (task statement, tool calls as the agent made them, observations)."""
    transcript = getattr(traj, "transcript", None)
    raw = list(getattr(transcript, "messages", None) or []) or _rebuilt(traj)
    names: dict[str, str] = {}
    out = []
    for m in raw:
        m = {k: v for k, v in m.items() if v is not None}
        if m.get("tool_calls"):
            m["tool_calls"] = [_call_with_object_args(c) for c in m["tool_calls"]]
            names.update({c["id"]: c["function"]["name"] for c in m["tool_calls"] if c.get("id")})
        if m.get("role") == "tool" and "name" not in m and m.get("tool_call_id") in names:
            m["name"] = names[m["tool_call_id"]]
        out.append(m)
    return out


def _call_with_object_args(call: dict[str, Any]) -> dict[str, Any]:
    fn = dict(call.get("function") or {})
    if isinstance(fn.get("arguments"), str):
        fn["arguments"] = loads_or(fn["arguments"], fn["arguments"])  # not JSON: the model's text, kept as written
    return {**call, "type": "function", "function": fn}


def _rebuilt(traj: Any) -> list[dict[str, Any]]:
    msgs: list[dict[str, Any]] = [{"role": "user", "content": traj.first_observation}]
    for i, step in enumerate(traj.steps):
        calls = step.action if isinstance(step.action, list) else [step.action]
        calls = [c for c in calls if isinstance(c, dict)]
        if not calls:
            msgs += [{"role": "assistant", "content": str(step.action)}, {"role": "user", "content": step.observation}]
            continue
        shaped = []
        for j, c in enumerate(calls):
            fn = c.get("function") or {"name": c.get("name", ""), "arguments": c.get("arguments", {})}
            shaped.append({"id": c.get("id") or f"call_{i}_{j}", "type": "function", "function": fn})
        msgs.append({"role": "assistant", "content": None, "tool_calls": shaped})
        msgs.append({"role": "tool", "tool_call_id": shaped[0]["id"], "content": step.observation})
    return msgs


Source = Iterator[tuple[str, dict[str, Any], Any, bool, dict[str, Any]]]


def _origin(config: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """config_id, agent (as reports label it) and model (the name the endpoint serves, else its label)."""
    model = spec.get("model") if isinstance(spec.get("model"), dict) else {}
    name = model.get("model") if isinstance(model.get("model"), str) else config.get("model")
    return {"config_id": config["config_id"], "agent": config.get("agent") or None, "model": name if name not in (None, "", "-") else None}


def _sweep_trajectories(run: Path, configs: list[str] | None = None) -> Source:
    """(env id, env kwargs, trajectory, usable, origin) of every stored episode of a sweep run (of
    ``configs`` only, when given), in the order stored, read a page at a time as the report reads
    them (read-only; one page in memory). origin: the config_id, agent and model that produced it."""
    from agentgym.rollout import Trajectory
    from agentgym.view.data import RunData

    data = RunData(run)
    specs = data.specs()
    origins = {c["config_id"]: _origin(c, specs.get(c["config_id"], {})) for c in data.configs()}
    keys = data.keys()
    if configs:
        unknown = sorted(set(configs) - {k[0] for k in keys} - set(origins))
        if unknown:
            have = sorted(set(origins) | {k[0] for k in keys})
            raise ExportError(f"--config {unknown[0]!r} is not a config of {run}; its configs: {', '.join(have) or '(none)'}")
        keys = [k for k in keys if k[0] in configs]
    for ep in data.trajectories(keys):
        spec = specs.get(ep["config_id"], {})
        traj = Trajectory.model_validate(ep["trajectory"])
        origin = origins.get(ep["config_id"]) or {"config_id": ep["config_id"], "agent": None, "model": None}
        yield spec.get("env") or traj.env_id, spec.get("env_kwargs") or {}, traj, not ep["infra_error"], origin


def _jsonl_trajectories(run: Path) -> Source:
    from agentgym.rollout import Trajectory

    with run.open(encoding="utf-8") as lines:  # a line at a time
        for n, line in enumerate(lines, 1):
            if line.strip():
                try:
                    traj = Trajectory.model_validate_json(line)
                except ValueError:
                    raise ExportError(f"{run}:{n} is not a trajectory (write them with `agentgym run ENV --json >> {run.name}`)") from None
                model = traj.transcript.model if traj.transcript else None
                yield traj.env_id, {}, traj, traj.error is None, {"config_id": None, "agent": None, "model": model}


class _Envs:
    """One env per (id, kwargs), made on first need: its tool schemas (read once) and task splits."""

    def __init__(self, runtime: str):
        self.runtime, self._envs = runtime, {}

    def get(self, env_id: str, kwargs: dict[str, Any]) -> tuple[Any, list[dict[str, Any]]]:
        """(env, its tool schemas)."""
        import agentgym

        key = (env_id, json.dumps(kwargs, sort_keys=True))
        if key not in self._envs:
            try:
                env = agentgym.make(env_id, runtime=self.runtime, **kwargs).unwrapped
            except agentgym.UnknownEnvError as exc:
                raise ExportError(str(exc)) from None
            self._envs[key] = (env, env.tools)
        return self._envs[key]

    def close(self) -> None:
        for env, _ in self._envs.values():
            env.close()


def _too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``value`` nests lists/objects deeper than ``limit`` (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > limit:
                return True
            stack.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict) else value))
    return False


def _first_deep_call(messages: list[dict[str, Any]]) -> int | None:
    """Index of the first message with a tool call whose arguments nest past the guard's JSON depth."""
    for i, m in enumerate(messages):
        if any(isinstance(c, dict) and _too_deep((c.get("function") or {}).get("arguments")) for c in m.get("tool_calls") or []):
            return i
    return None


def sft_rows(run: Path, split: str | None, runtime: str, skipped: dict[str, int], *, configs: list[str] | None = None,
             dedupe: bool = False, seen: dict[str, int] | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """(split, SFT row) of every passed episode, one at a time; what is left out is counted in ``skipped``
    (``too_deep``: the first assistant turn's arguments nest past the guard's JSON depth; ``duplicate``
    with ``dedupe``). A later such turn cuts the row before it (the turns before are kept, as
    agentgym.rl.trl_sft does; counted in ``seen["cut_deep"]``). ``seen["duplicates"]`` counts rows
    that repeat an earlier row's messages and tools exactly."""
    if configs and not (run / SWEEP_DB).is_file():
        raise ExportError(f"--config picks configs of a sweep run; {run} is a trajectories file, which has none")
    source = _sweep_trajectories(run, configs) if (run / SWEEP_DB).is_file() else _jsonl_trajectories(run)
    envs = _Envs(runtime)
    digests: set[bytes] = set()
    seen = seen if seen is not None else {}
    seen.setdefault("duplicates", 0)
    seen.setdefault("cut_deep", 0)
    try:
        for env_id, kwargs, traj, usable, origin in source:
            if not usable:
                skipped["infra_error"] += 1
                continue
            if not traj.passed:
                skipped["not_passed"] += 1
                continue
            env, tools = envs.get(env_id, kwargs)
            s = split_of(env, traj.task_id) if traj.task_id else "train"
            if split is not None and s != split:
                skipped["other_split"] += 1
                continue
            messages = sft_messages(traj)
            if (cut := _first_deep_call(messages)) is not None:
                messages = messages[:cut]
                if not any(m.get("role") == "assistant" for m in messages):
                    skipped["too_deep"] = skipped.get("too_deep", 0) + 1
                    continue
                seen["cut_deep"] += 1
            digest = hashlib.sha256(json.dumps([messages, tools], sort_keys=True, ensure_ascii=True).encode()).digest()
            if digest in digests:
                if dedupe:
                    skipped["duplicate"] = skipped.get("duplicate", 0) + 1
                    continue
                seen["duplicates"] += 1
            digests.add(digest)
            yield s, {"messages": messages, "tools": tools, "env_id": env_id, "task_id": traj.task_id,
                      "split": s, "reward": traj.total_reward, **origin}
    finally:
        source.close()
        envs.close()


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
        skipped = {"not_passed": 0, "infra_error": 0, "other_split": 0}
        rows_of = sft_rows(run, split, runtime, skipped, configs=configs, dedupe=dedupe, seen=seen)
        with staged_dir(out) as tmp, contextlib.closing(rows_of) as rows:
            counts = _write_jsonl(tmp, rows)  # the folder is removed again if nothing is written (or anything fails)
            if not any(counts.values()):
                raise _nothing(run, fmt, split, skipped)
        files = [f"{s}.jsonl" for s in SPLITS if counts[s]]
    return ExportSummary(format=fmt, out=str(out), rows=counts, skipped=skipped, files=files,  # type: ignore[arg-type]
                         duplicates=seen["duplicates"], cut_deep=seen["cut_deep"])


__all__ = ["ExportError", "ExportSummary", "TOKENS_FILE", "append_episodes", "export_run", "read_episodes", "rl_schema", "sft_messages"]
