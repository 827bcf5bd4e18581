"""The committed SQL task suites: counts, annotations, and validation re-run on fresh copies."""

import hashlib
import json
from collections import Counter

from agentgym.envs.sql.catalog import DATA_DIR, cached_kb
from agentgym.envs.sql.engines import SqliteEngine
from agentgym.envs.sql.grading import grade_fresh
from agentgym.envs.sql.tasks import load_suite
from agentgym.envs.sql.tasks.build import build_suite, suite_jsonl

FULL = load_suite("full")
LITE = load_suite("lite")


def test_suite_sizes_and_categories():
    assert len(FULL) >= 150 and len(LITE) >= 50
    kinds = Counter(t.phase1.statement for t in FULL)
    assert kinds["select"] >= 60 and all(kinds[k] >= 5 for k in ("insert", "update", "delete", "ddl")), kinds
    assert len({t.db_id for t in FULL}) >= 6 and all(t.db_id.endswith("_lite") for t in LITE)
    assert len({t.id for t in FULL + LITE}) == len(FULL) + len(LITE)


def test_every_task_is_annotated():
    for t in FULL + LITE:
        assert t.amb_query and t.clear_query and t.amb_query != t.clear_query
        assert t.critical, t.id
        kb_ids = {e.id for e in cached_kb(t.db_id)}
        for a in t.ambiguities:
            assert a.term and a.clarification
            if a.critical:
                assert a.alt_sql, f"{t.id}:{a.id} is critical without an alternative reading"
            if a.deleted_knowledge is not None:
                assert a.deleted_knowledge in kb_ids
        assert t.follow_up.query and t.follow_up.gold_sql and t.follow_up.checks
    assert sum(bool(t.withheld_knowledge) for t in FULL) >= 50, "knowledge ambiguities"
    assert sum(not a.critical for t in FULL for a in t.ambiguities) >= 50, "non-critical ambiguities"


def _validate(engine, t):
    gold1 = ";\n".join(t.phase1.gold_sql)
    assert grade_fresh(engine, t.db_id, [], gold1, t.phase1.checks).passed, t.id
    assert not grade_fresh(engine, t.db_id, [], "", t.phase1.checks).passed
    assert not grade_fresh(engine, t.db_id, [], "SELECT 1", t.phase1.checks).passed
    for a in t.critical:
        assert not grade_fresh(engine, t.db_id, [], ";\n".join(a.alt_sql), t.phase1.checks).passed, f"{t.id}:{a.id}"
    setup = t.phase1.gold_sql if t.phase1.category == "write" else []
    gold2 = ";\n".join(t.follow_up.gold_sql)
    assert grade_fresh(engine, t.db_id, setup, gold2, t.follow_up.checks).passed, t.id
    assert not grade_fresh(engine, t.db_id, setup, gold1, t.follow_up.checks).passed


def test_lite_suite_validates_on_fresh_copies():
    engine = SqliteEngine()
    for t in LITE:
        _validate(engine, t)


def test_a_sample_of_the_full_suite_validates():
    engine = SqliteEngine()
    for t in FULL[::7]:
        _validate(engine, t)


def test_regenerating_one_database_tasks_is_identical():
    committed = [t for t in LITE if t.db_id == "airline_lite"]
    rebuilt = build_suite("lite", only=["airline_lite"])
    assert suite_jsonl(rebuilt) == suite_jsonl(committed)


def test_gold_never_appears_in_the_request_texts():
    for t in FULL:
        for text in (t.amb_query, t.clear_query, t.follow_up.query):
            assert "SELECT" not in text and "COALESCE" not in text


def test_committed_suites_match_the_manifest():
    manifest = json.loads((DATA_DIR / "manifest.json").read_text())
    for suite, digest in manifest["tasks"].items():
        text = (DATA_DIR / "tasks" / f"{suite}.jsonl").read_bytes()
        assert hashlib.sha256(text).hexdigest() == digest, f"{suite}.jsonl was edited by hand; regenerate"
