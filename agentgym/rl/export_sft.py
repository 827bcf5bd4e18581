"""SFT rows of an export: passed episodes as chat messages (agentgym.rl.export runs it).

Why its own module: the SFT reader (sweep pages or a trajectories .jsonl, tool schemas of each env,
the depth cut and duplicate counting) is half of the export; the RL rows, the writers and
``export_run`` stay in agentgym.rl.export, which re-exports every public name here. A sweep's stored
trajectory that does not read back (a corrupt row, one nested past the parser's depth) is skipped
and counted ``unreadable``: one bad row never stops the export of the others.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agentgym.actions import loads_or
from agentgym.guard import MAX_JSON_DEPTH
from agentgym.rl.splits import split_of

SWEEP_DB = "results.sqlite"


class ExportError(ValueError):
    """Bad input for an export: one line that says what to do (import it from agentgym.rl.export)."""


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


Source = Iterator[tuple[str, dict[str, Any], Any, bool, dict[str, Any]]]  # trajectory None: a stored row that does not read back


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
        origin = origins.get(ep["config_id"]) or {"config_id": ep["config_id"], "agent": None, "model": None}
        try:  # a corrupt or over-deep stored row comes back as RunData's note dict: skipped, counted
            traj = Trajectory.model_validate(ep["trajectory"])
        except ValidationError:
            yield spec.get("env") or "", {}, None, False, origin
            continue
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
    (``unreadable``: a sweep's stored trajectory that does not parse, corrupt or nested too deeply;
    ``too_deep``: the first assistant turn's arguments nest past the guard's JSON depth; ``duplicate``
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
            if traj is None:
                skipped["unreadable"] = skipped.get("unreadable", 0) + 1
                continue
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


__all__ = ["SWEEP_DB", "ExportError", "sft_messages", "sft_rows"]
