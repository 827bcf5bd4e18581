"""Turn template drafts into validated tasks and write the suites.

Validation, per task, on fresh SQLite copies:
- the gold SQL passes its own checks (phase one and follow-up);
- null answers fail: an empty submission, and `SELECT 1` (for a write: a state left unchanged);
- every critical ambiguity's alternative reading fails. One that passes is demoted to
  non-critical (it does not change the answer on this data); a task left with no critical
  ambiguity is dropped;
- read results are non-empty, and a LIMIT never cuts through a tie;
- the follow-up is not answered by re-submitting phase one's gold.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

from pydantic import BaseModel, Field

from agentgym.envs.sql.engines.sqlite import SqliteEngine
from agentgym.envs.sql.generate import db_ids, facts
from agentgym.envs.sql.generate.core import DomainFacts
from agentgym.envs.sql.grading import Check, grade_fresh, jsonable_rows
from agentgym.envs.sql.models import FollowUp, Phase, SqlTask
from agentgym.envs.sql.tasks import read_templates as R
from agentgym.envs.sql.tasks import write_templates as W
from agentgym.envs.sql.tasks.drafts import Draft, PhaseDraft

TASKS_DIR = "tasks"


class Rejected(Exception):
    pass


class BuildReport(BaseModel):
    built: dict[str, int] = Field(default_factory=dict)
    rejected: list[str] = Field(default_factory=list)
    demoted: list[str] = Field(default_factory=list)
    hashes: dict[str, str] = Field(default_factory=dict)

    def summary(self) -> str:
        return (f"tasks: {self.built}; rejected {len(self.rejected)}; demoted ambiguities {len(self.demoted)}")


def drafts_for(f: DomainFacts, groups: list[str], lite: bool) -> list[Draft]:
    y = f.years[-3:]
    out = [
        *[R.top_entities(f, yr, n) for yr, n in zip(y, (5, 3, 10))],
        *[R.count_high_value(f, yr) for yr in y],
        *[R.monthly_trend(f, yr) for yr in y],
        *[R.null_average(f, yr) for yr in y],
        *[R.category_share(f, yr) for yr in y],
        *[R.premium_entities(f, g) for g in (None, groups[0], groups[1])],
        *[W.expire_open(f, c, e) for c, e in (("2023-01-01", "2022-01-01"), ("2024-01-01", "2023-07-01"))],
        *[W.delete_cancelled(f, yr) for yr in (2023, 2024)],
        *[W.archive_high_value(f, yr) for yr in (2023, 2024)],
        *[W.flag_premium(f, g, d) for g, d in ((None, "2025-01-15"), (groups[0], "2025-02-01"))],
        *[W.clear_adjustment(f, c, yr) for c, yr in ((f.categories[0], 2023), (f.categories[1], 2024))],
    ]
    if lite:  # one variant per template: the lite suite is small and quick to run
        seen: set[str] = set()
        out = [d for d in out if not (d.template in seen or seen.add(d.template))]
    return out


def _run_all(db, statements: list[str]):
    res = None
    for s in statements:
        res = db.execute(s, timeout_s=30, max_rows=100000)
    return res


def _expected(engine: SqliteEngine, db_id: str, setup: list[str], p: PhaseDraft) -> list[Check]:
    db = engine.open(db_id)
    try:
        _run_all(db, setup)
        if p.tie_probe is not None:
            probe, n = p.tie_probe
            vals = [r[0] for r in db.execute(probe, timeout_s=30, max_rows=n + 1).rows]
            if len(vals) > n and vals[n - 1] is not None and vals[n] is not None and abs(vals[n - 1] - vals[n]) < 0.02:
                raise Rejected(f"tie at the LIMIT {n} boundary")
        res = _run_all(db, p.gold_sql)
        checks = []
        for c in p.checks:
            rows = res.rows if c.query is None else db.execute(c.query, timeout_s=30, max_rows=100000).rows
            if c.query is None and (not rows or all(v is None for r in rows for v in r)):
                raise Rejected(f"gold result is empty ({c.description})")
            checks.append(Check(description=c.description, query=c.query, expected=jsonable_rows(rows),
                                ordered=c.ordered, tolerance=c.tolerance))
        return checks
    finally:
        db.close()


def _phase(p: PhaseDraft, checks: list[Check], follow: bool):
    cls = FollowUp if follow else Phase
    extra = {"type": p.type} if follow else {}
    return cls(query=p.query, gold_sql=p.gold_sql, checks=checks, category=p.category, statement=p.statement,
               knowledge_used=p.knowledge_used, **extra)


def realize(engine: SqliteEngine, db_id: str, suite: str, d: Draft, report: BuildReport) -> SqlTask:
    tid = f"{db_id}.{d.template}.{d.variant}"

    def must_fail(setup: list[str], sql: str, checks: list[Check], what: str) -> None:
        if grade_fresh(engine, db_id, setup, sql, checks).passed:
            raise Rejected(f"{what} passes")

    c1 = _expected(engine, db_id, [], d.phase1)
    gold1 = ";\n".join(d.phase1.gold_sql)
    res = grade_fresh(engine, db_id, [], gold1, c1)
    if not res.passed:
        raise Rejected(f"gold fails its own checks: {res.error or [o.reason for o in res.outcomes]}")
    must_fail([], "", c1, "empty submission")
    must_fail([], "SELECT 1", c1, "SELECT 1")
    ambiguities = []
    for a in d.ambiguities:
        if a.critical and a.alt_sql and grade_fresh(engine, db_id, [], ";\n".join(a.alt_sql), c1).passed:
            report.demoted.append(f"{tid}:{a.id}")
            a = a.model_copy(update={"critical": False})
        ambiguities.append(a)
    if not any(a.critical for a in ambiguities):
        raise Rejected("no critical ambiguity changes the answer")

    setup = d.phase1.gold_sql if d.phase1.category == "write" else []
    c2 = _expected(engine, db_id, setup, d.follow_up)
    gold2 = ";\n".join(d.follow_up.gold_sql)
    res = grade_fresh(engine, db_id, setup, gold2, c2)
    if not res.passed:
        raise Rejected(f"follow-up gold fails: {res.error or [o.reason for o in res.outcomes]}")
    must_fail(setup, "", c2, "empty follow-up")
    must_fail(setup, "SELECT 1", c2, "follow-up SELECT 1")
    must_fail(setup, gold1, c2, "phase-one gold as the follow-up")
    return SqlTask(
        id=tid, db_id=db_id, suite=suite, template=d.template, amb_query=d.amb_query, clear_query=d.phase1.query,
        ambiguities=ambiguities, phase1=_phase(d.phase1, c1, False), follow_up=_phase(d.follow_up, c2, True),
    )


def build_suite(suite: str, engine: SqliteEngine | None = None, report: BuildReport | None = None,
                only: list[str] | None = None) -> list[SqlTask]:
    """Validated tasks of a suite (`only`: just these databases, for tests)."""
    engine = engine or SqliteEngine()
    report = report if report is not None else BuildReport()
    tasks: list[SqlTask] = []
    for db_id in db_ids(lite=suite == "lite"):
        if only is not None and db_id not in only:
            continue
        f = facts(db_id)
        db = engine.open(db_id)
        groups = [r[0] for r in db.execute(f"SELECT DISTINCT {f.entity_group_col} FROM {f.entity_table} "
                                            f"WHERE {f.entity_group_col} IS NOT NULL ORDER BY 1", max_rows=50).rows]
        db.close()
        for d in drafts_for(f, groups, lite=suite == "lite"):
            try:
                tasks.append(realize(engine, db_id, suite, d, report))
            except Rejected as exc:
                report.rejected.append(f"{db_id}.{d.template}.{d.variant}: {exc}")
    report.built[suite] = len(tasks)
    return tasks


#: Fields only BIRD data fills in: left out of the committed suites, so their bytes (and hashes) stay.
_BIRD_ONLY = {k: True for k in ("preprocess_sql", "clean_up_sql", "test_cases", "conditions")}


def suite_jsonl(tasks: list[SqlTask]) -> str:
    skip = {"dialect": True, "phase1": _BIRD_ONLY, "follow_up": _BIRD_ONLY}
    return "".join(t.model_dump_json(exclude_none=False, exclude=skip) + "\n" for t in tasks)


def write_suites(out_dir: Path, seed: int | None = None) -> BuildReport:
    """Write tasks/<suite>.jsonl under out_dir. (The seed is the databases'; templates are fixed.)"""
    report = BuildReport()
    engine = SqliteEngine(data_dir=out_dir)
    (out_dir / TASKS_DIR).mkdir(parents=True, exist_ok=True)
    for suite in ("lite", "full"):
        text = suite_jsonl(build_suite(suite, engine, report))
        (out_dir / TASKS_DIR / f"{suite}.jsonl").write_text(text, encoding="utf-8")
        report.hashes[suite] = hashlib.sha256(text.encode("utf-8")).hexdigest()
    for line in report.rejected:
        print("rejected:", line)
    return report


def category_counts(tasks: list[SqlTask]) -> Counter[str]:
    return Counter(f"{t.phase1.category}:{t.phase1.statement}" for t in tasks)
