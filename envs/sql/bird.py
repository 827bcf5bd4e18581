"""Loader for the public BIRD-Interact format, into the same task models as our own suites.

Layout it reads (a user who holds the real data points it at their copy):

    <root>/<tasks>.jsonl                     one task per line (instance_id, selected_database,
                                             amb_user_query, query, sol_sql, preprocess_sql,
                                             clean_up_sqls, test_cases, user_query_ambiguity,
                                             knowledge_ambiguity, follow_up, category, conditions)
    <root>/<db>/<db>_schema.txt              also accepted: <db>/schema.txt (else made from the dump)
    <root>/<db>/<db>_column_meaning_base.json  also accepted: <db>/column_meaning_base.json
    <root>/<db>/<db>_kb.jsonl                also accepted: <db>/kb.jsonl
    the PostgreSQL dump                      see bird_files.py (e.g. postgre_table_dumps/<db>_template/)

The env takes such a folder through public options: make("sql-c-lite", bird=ROOT) (and
bird_tasks=FILE when ROOT holds several .jsonl); see SqlEnvBase.

What maps and how:
- Gold SQL, preprocess_sql and clean_up_sqls are PostgreSQL (dialect="postgres"); on SQLite they
  are transpiled with sqlglot, and tasks that then do not pass with their own gold are listed in
  `skipped` (sqlite_runnable).
- preprocess_sql runs on every fresh copy of the phase (the agent's, the gold's, the grader's);
  clean_up_sqls after grading.
- Tasks with test_cases are judged by them (bird_tests.py: run on the host, on a fresh copy, never
  in the agent's reach). 'Query' tasks without test_cases get the declarative check that compares
  the submission's result with the gold's (expected_from_gold): conditions.order -> ordered,
  conditions.distinct -> distinct, conditions.decimal=d -> Tolerance(decimal=d).
- 'Management' (write) tasks without test_cases have nothing to judge them and are skipped, as are
  tasks without gold SQL (the public release withholds it); both listed in `skipped`.
- Sentinels of the release: children_knowledge -1 (or "-1", null), conditions.decimal -1,
  deleted_knowledge -1/null, sol_sql as a string or a list, follow_up absent, null lists.
- BIRD ships no clarification texts (its simulator asks an LLM to paraphrase the SQL snippet).
  Offline (bird_clarify.py) we paraphrase from the KB, the column meanings and the snippet's
  shape, never its text; the simulators' leak filter checks the result.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from agentgym.envs.sql.bird_clarify import clarify
from agentgym.envs.sql.bird_files import bird_folder, read_kb
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
    dump = bird_folder(db_id, root)
    schema_file = next((folder / n for n in ("schema.txt", f"{db_id}_schema.txt") if (folder / n).is_file()), None)
    if schema_file is None and dump is None:
        _first(folder, "schema.txt", f"{db_id}_schema.txt")  # raises, naming what is missing
    schema = schema_file.read_text(encoding="utf-8") if schema_file else dump.schema_text()  # type: ignore[union-attr]
    meanings = json.loads(_first(folder, "column_meaning_base.json", f"{db_id}_column_meaning_base.json").read_text(encoding="utf-8"))
    meanings = {str(k): v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for k, v in meanings.items()}
    kb = read_kb(_first(folder, "kb.jsonl", f"{db_id}_kb.jsonl"))
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


def _ambiguities(raw: dict[str, Any], db: BirdDatabase) -> list[Ambiguity]:
    out: list[Ambiguity] = []
    uqa = raw.get("user_query_ambiguity") or {}
    groups = [(a, True) for a in uqa.get("critical_ambiguity") or []]
    groups += [(a, False) for a in uqa.get("non_critical_ambiguity") or []]
    groups += [(a, True) for a in raw.get("knowledge_ambiguity") or []]
    kb = {e.id: e for e in db.kb}
    for i, (a, critical) in enumerate(groups, 1):
        if not isinstance(a, dict):
            continue
        deleted = a.get("deleted_knowledge")
        deleted = deleted if isinstance(deleted, int) and not isinstance(deleted, bool) and deleted in kb else None
        term = str(a.get("term") or "").strip() or f"part {i}"
        snippet = str(a.get("sql_snippet") or "")
        text, grounding, keywords = clarify(term, snippet, str(a.get("type") or ""), deleted, db.kb, db.column_meanings)
        out.append(Ambiguity(
            id=f"a{i}", kind=_KINDS.get(str(a.get("type")), "semantic"), critical=critical, term=term,
            keywords=keywords, clarification=text, grounding=grounding, sql_snippet=snippet, deleted_knowledge=deleted,
        ))
    return out


def _phase(raw: dict[str, Any], gold: list[str], cond: dict[str, Any], *, follow: bool = False) -> dict[str, Any]:
    write = str(raw.get("category", "Query")).lower() != "query"
    tests = _sql_list(raw.get("test_cases"))
    return dict(
        query=str(raw.get("query") or ""), gold_sql=gold, checks=[] if tests else [_check(cond)],
        category="write" if write else "read", statement="update" if write else "select",
        knowledge_used=[k for k in raw.get("external_knowledge") or [] if isinstance(k, int)],
        preprocess_sql=_sql_list(raw.get("preprocess_sql")), clean_up_sql=_sql_list(raw.get("clean_up_sqls")),
        test_cases=tests, conditions=dict(cond),
    )


def task_from_bird(raw: dict[str, Any], db: BirdDatabase | dict[int, KBEntry], dialect: str = "postgres") -> SqlTask:
    """One BIRD task line as an SqlTask; raises ValueError with the reason it cannot be."""
    if isinstance(db, dict):  # the older call shape: a KB by id
        db = BirdDatabase(db_id=str(raw.get("selected_database", "")), schema_text="", column_meanings={}, kb=list(db.values()))
    iid = raw.get("instance_id", "?")
    fu = raw.get("follow_up") or {}
    gold, fu_gold = _sql_list(raw.get("sol_sql")), _sql_list(fu.get("sol_sql"))
    if not fu:
        raise ValueError("no follow_up: the envs play two phases (single-phase data such as mini-interact's is not supported)")
    if not gold or not fu_gold:
        raise ValueError("no gold SQL for phase one or the follow-up (the public release withholds it)")
    for what, part in (("", raw), ("the follow-up is a ", fu)):
        if str(part.get("category", "Query")).lower() != "query" and not _sql_list(part.get("test_cases")):
            raise ValueError(f"{what}Management (write) task without test_cases: nothing can judge it")
    cond = raw.get("conditions") or {}
    return SqlTask(
        id=str(iid), db_id=str(raw["selected_database"]), suite="bird", template="bird", dialect=dialect,
        amb_query=str(raw.get("amb_user_query") or raw["query"]), clear_query=str(raw["query"]),
        ambiguities=_ambiguities(raw, db),
        phase1=Phase(**_phase(raw, gold, cond)),
        follow_up=FollowUp(**_phase(fu, fu_gold, fu.get("conditions") or cond), type=str(fu.get("type", "attribute_change"))),
    )


def load_bird(root: Path | str, tasks_file: str | None = None, *, dialect: str = "postgres") -> BirdDataset:
    """Every task of `tasks_file` (default: the only *.jsonl directly under root) with its databases.
    dialect: what the release's SQL is written in (BIRD-Interact: postgres; mini-interact: sqlite)."""
    root = Path(root)
    if tasks_file is None:
        candidates = sorted(root.glob("*.jsonl"))
        if len(candidates) != 1:
            raise FileNotFoundError(f"expected one task .jsonl under {root}, found {[p.name for p in candidates]}; "
                                    "pass tasks_file= (env option bird_tasks=)")
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
            ds.tasks.append(task_from_bird(raw, ds.databases[db_id], dialect))
        except (ValueError, KeyError) as exc:
            ds.skipped.append(f"{raw.get('instance_id', f'line {n}')}: {exc}")
    return ds


def sqlite_runnable(ds: BirdDataset, engine: Any, timeout_s: float = 10.0) -> BirdDataset:
    """The tasks that run on SQLite (engine): their SQL transpiles and each phase passes with its own
    gold there; the others move to `skipped` with the reason."""
    from agentgym.envs.sql.env_base import grade_phase, task_for_dialect

    keep = []
    for t in ds.tasks:
        try:
            lt = task_for_dialect(t, "sqlite")
        except Exception as exc:  # sqlglot's errors: the SQL has no SQLite form
            ds.skipped.append(f"{t.id}: does not run on SQLite (its SQL does not transpile: {type(exc).__name__}); "
                              "use runtime='docker' (PostgreSQL)")
            continue
        bad = None
        for phase in (1, 2):
            try:
                g = grade_phase(engine, lt, phase, ";\n".join(lt.phase1.gold_sql if phase == 1 else lt.follow_up.gold_sql),
                                timeout_s=timeout_s, raise_setup=False)
            except Exception as exc:  # the dump's SQLite translation failed (arrays, custom types...)
                bad = f"the database does not load there: {type(exc).__name__}: {exc}"
                break
            if not g.passed:
                bad = f"phase {phase}: {g.error or 'its own gold fails its checks'}"
                break
        if bad:
            ds.skipped.append(f"{t.id}: does not run on SQLite ({bad[:200]}); use runtime='docker' (PostgreSQL)")
        else:
            keep.append(t)
    ds.tasks = keep
    return ds
