"""Loader for the public BIRD-Interact format, into the same task models as our own suites.

Layout it reads (a user who holds the real data points it at their copy):

    <root>/<tasks>.jsonl                     one task per line (instance_id, selected_database,
                                             amb_user_query, query, sol_sql, user_query_ambiguity,
                                             knowledge_ambiguity, follow_up, category, conditions)
    <root>/<db>/schema.txt                   also accepted: <db>/<db>_schema.txt
    <root>/<db>/column_meaning_base.json     also accepted: <db>/<db>_column_meaning_base.json
    <root>/<db>/kb.jsonl                     also accepted: <db>/<db>_kb.jsonl

What maps and what does not:
- 'Query' tasks become read tasks whose check compares the submission's result with the gold's,
  computed at grading time (expected_from_gold): the public files ship gold SQL, not results.
  conditions.order -> ordered (rows tied under the gold's ORDER BY may come in any order),
  conditions.distinct -> distinct, conditions.decimal=d -> Tolerance(decimal=d) on every column:
  both sides rounded to d decimals and then compared exactly, as BIRD's evaluation does.
- 'Management' tasks (writes) are judged upstream by Python test functions, which we never
  execute; without a declarative state check they would be free reward, so they are SKIPPED and
  listed in BirdDataset.skipped with the reason.
- Tasks without gold SQL (the public release withholds it) are skipped the same way.
- BIRD ships no clarification texts (its simulator asks an LLM to paraphrase the SQL snippet).
  Offline we answer a knowledge ambiguity with its withheld KB entry's definition, and any
  other with the snippet's wording, which is what that LLM would have paraphrased.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from agentgym.envs.sql.grading import Check, Tolerance
from agentgym.envs.sql.models import Ambiguity, FollowUp, KBEntry, Phase, SqlTask

_KINDS = {
    "knowledge_linking_ambiguity": "knowledge_linking",
    "knowledge_ambiguity": "knowledge",
    "semantic_ambiguity": "semantic",
    "schema_linking_ambiguity": "semantic",
    "sort_ambiguity": "sort",
    "threshold_ambiguity": "threshold",
    "aggregation_ambiguity": "aggregation",
    "null_ambiguity": "null_handling",
    "format_ambiguity": "format",
}


class BirdDatabase(BaseModel):
    db_id: str
    schema_text: str
    column_meanings: dict[str, str]
    kb: list[KBEntry]


class BirdDataset(BaseModel):
    tasks: list[SqlTask] = Field(default_factory=list)
    databases: dict[str, BirdDatabase] = Field(default_factory=dict)
    skipped: list[str] = Field(default_factory=list, description="'instance_id: reason' per task not loaded")


def _first(folder: Path, *names: str) -> Path:
    for n in names:
        if (folder / n).is_file():
            return folder / n
    raise FileNotFoundError(f"none of {', '.join(names)} in {folder}; see agentgym.envs.sql.bird for the layout")


def load_database(root: Path, db_id: str) -> BirdDatabase:
    folder = root / db_id
    schema = _first(folder, "schema.txt", f"{db_id}_schema.txt").read_text(encoding="utf-8")
    meanings = json.loads(_first(folder, "column_meaning_base.json", f"{db_id}_column_meaning_base.json").read_text(encoding="utf-8"))
    kb = []
    for line in _first(folder, "kb.jsonl", f"{db_id}_kb.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            raw = json.loads(line)
            children = raw.get("children_knowledge")
            raw["children_knowledge"] = [c for c in children if c != -1] if isinstance(children, list) else []
            kb.append(KBEntry.model_validate(raw))
    by_id = {e.id: e for e in kb}
    for e in kb:  # BIRD stores one direction only; fill in the reverse edge
        for c in e.children_knowledge:
            if c in by_id and e.id not in by_id[c].parent_knowledge:
                by_id[c].parent_knowledge.append(e.id)
    return BirdDatabase(db_id=db_id, schema_text=schema, column_meanings=meanings, kb=kb)


def _sql_list(v: Any) -> list[str]:
    if v is None:
        return []
    return [s for s in ([v] if isinstance(v, str) else list(v)) if isinstance(s, str) and s.strip()]


def _check(conditions: dict[str, Any]) -> Check:
    decimal = conditions.get("decimal", -1)
    tol = Tolerance(decimal=decimal) if isinstance(decimal, int) and 0 <= decimal <= 15 else Tolerance(abs=1e-6, rel=1e-9)
    return Check(description="result equals the gold query's", expected=[], expected_from_gold=True,
                 ordered=bool(conditions.get("order", False)), distinct=bool(conditions.get("distinct", False)),
                 default_tolerance=tol)


def _ambiguities(raw: dict[str, Any], kb: dict[int, KBEntry]) -> list[Ambiguity]:
    out: list[Ambiguity] = []
    uqa = raw.get("user_query_ambiguity") or {}
    groups = [(a, True) for a in uqa.get("critical_ambiguity") or []]
    groups += [(a, False) for a in uqa.get("non_critical_ambiguity") or []]
    groups += [(a, True) for a in raw.get("knowledge_ambiguity") or []]
    for i, (a, critical) in enumerate(groups, 1):
        deleted = a.get("deleted_knowledge")
        term = str(a.get("term") or "").strip()
        if isinstance(deleted, int) and deleted in kb:
            entry = kb[deleted]
            answer = f"'{term}' refers to {entry.knowledge}: {entry.description} Definition: {entry.definition}"
        else:
            snippet = " ".join(str(a.get("sql_snippet") or "").split())
            answer = f"By '{term}' I mean: {snippet}" if snippet else f"'{term}' is meant in its usual sense."
        out.append(Ambiguity(
            id=f"a{i}", kind=_KINDS.get(str(a.get("type")), "semantic"), critical=critical, term=term or f"part {i}",
            clarification=answer, sql_snippet=str(a.get("sql_snippet") or ""),
            deleted_knowledge=deleted if isinstance(deleted, int) else None,
        ))
    return out


def task_from_bird(raw: dict[str, Any], kb: dict[int, KBEntry]) -> SqlTask:
    """One BIRD task line as an SqlTask; raises ValueError with the reason it cannot be."""
    iid = raw.get("instance_id", "?")
    if str(raw.get("category", "Query")).lower() != "query":
        raise ValueError("Management (write) task: judged upstream by Python tests we do not run")
    gold = _sql_list(raw.get("sol_sql"))
    fu = raw.get("follow_up") or {}
    fu_gold = _sql_list(fu.get("sol_sql"))
    if not gold or not fu_gold:
        raise ValueError("no gold SQL for phase one or the follow-up (the public release withholds it)")
    if str(fu.get("category", "Query")).lower() != "query":
        raise ValueError("the follow-up is a Management task")
    cond = raw.get("conditions") or {}
    return SqlTask(
        id=str(iid), db_id=str(raw["selected_database"]), suite="bird", template="bird",
        amb_query=str(raw.get("amb_user_query") or raw["query"]), clear_query=str(raw["query"]),
        ambiguities=_ambiguities(raw, kb),
        phase1=Phase(query=str(raw["query"]), gold_sql=gold, checks=[_check(cond)], category="read",
                     knowledge_used=[k for k in raw.get("external_knowledge") or [] if isinstance(k, int)]),
        follow_up=FollowUp(query=str(fu.get("query", "")), gold_sql=fu_gold, checks=[_check(fu.get("conditions") or cond)],
                           category="read", type=str(fu.get("type", "attribute_change")),
                           knowledge_used=[k for k in fu.get("external_knowledge") or [] if isinstance(k, int)]),
    )


def load_bird(root: Path | str, tasks_file: str | None = None) -> BirdDataset:
    """Every task of `tasks_file` (default: the only *.jsonl directly under root) with its databases."""
    root = Path(root)
    if tasks_file is None:
        candidates = sorted(root.glob("*.jsonl"))
        if len(candidates) != 1:
            raise FileNotFoundError(f"expected one task .jsonl under {root}, found {[p.name for p in candidates]}; "
                                    "pass tasks_file=")
        path = candidates[0]
    else:
        path = root / tasks_file
    ds = BirdDataset()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        raw = json.loads(line)
        db_id = str(raw.get("selected_database", ""))
        if db_id not in ds.databases:
            try:
                ds.databases[db_id] = load_database(root, db_id)
            except FileNotFoundError as exc:
                ds.skipped.append(f"{raw.get('instance_id', f'line {n}')}: {exc}")
                continue
        try:
            ds.tasks.append(task_from_bird(raw, {e.id: e for e in ds.databases[db_id].kb}))
        except (ValueError, KeyError) as exc:
            ds.skipped.append(f"{raw.get('instance_id', f'line {n}')}: {exc}")
    return ds
