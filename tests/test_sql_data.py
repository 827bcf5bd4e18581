"""The committed SQL databases: regenerated bit-identically, realistic shape, KB hierarchy."""

import json

import pytest

from agentgym.envs.sql.catalog import DATA_DIR, database_files
from agentgym.envs.sql.engines import SqliteEngine
from agentgym.envs.sql.generate import build_database, content_hash, db_ids, facts
from agentgym.envs.sql.generate.core import render_files

MANIFEST = json.loads((DATA_DIR / "manifest.json").read_text())


def test_data_dir_is_small():
    total = sum(p.stat().st_size for p in DATA_DIR.rglob("*") if p.is_file())
    assert total < 8 * 1024 * 1024, f"data dir is {total} bytes"


def test_committed_files_match_the_manifest():
    for db_id in db_ids():
        for name, digest in MANIFEST["databases"][db_id].items():
            assert content_hash(name, (DATA_DIR / db_id / name).read_bytes()) == digest, f"{db_id}/{name}"


@pytest.mark.parametrize("db_id", ["hospital", "banking_lite"])
def test_regenerating_a_database_is_bit_identical(db_id):
    files = render_files(build_database(db_id))
    for name, data in files.items():
        assert content_hash(name, data) == MANIFEST["databases"][db_id][name], f"{db_id}/{name} drifted"
        if not name.endswith(".gz"):
            assert data == (DATA_DIR / db_id / name).read_bytes()


def test_a_different_seed_gives_different_data():
    a = render_files(build_database("retail_lite"))["dump.sql.gz"]
    b = render_files(build_database("retail_lite", seed=7))["dump.sql.gz"]
    assert content_hash("x.gz", a) != content_hash("x.gz", b)


def test_six_domains_with_realistic_shape():
    engine = SqliteEngine()
    full = db_ids(lite=False)
    assert len(full) >= 6
    for db_id in full:
        db = build_database(db_id)
        lite = build_database(db_id + "_lite")
        assert 5 <= len(db.tables) <= 15, db_id
        rows = sum(len(t.rows) for t in db.tables)
        assert rows >= 3000, f"{db_id} has only {rows} rows"
        assert len(lite.tables) < len(db.tables) and sum(len(t.rows) for t in lite.tables) < rows
        assert any(c.ref for t in db.tables for c in t.columns), "foreign keys"
        copy = engine.open(db_id)
        assert copy.execute("PRAGMA foreign_key_check").rows == [], f"{db_id} violates its foreign keys"
        f = facts(db_id)
        edge = copy.execute(
            f"SELECT SUM({f.adjust_col} IS NULL), SUM({f.amount_col} = 0), SUM({f.amount_col} < 0), "
            f"MAX({f.amount_col}), COUNT(*) - COUNT(DISTINCT {f.amount_col}) FROM {f.fact_table}").rows[0]
        nulls, zeros, negatives, biggest, repeated = edge
        assert nulls > 0 and zeros > 0 and negatives > 0 and repeated > 0, (db_id, edge)
        assert biggest > 20 * copy.execute(f"SELECT AVG({f.amount_col}) FROM {f.fact_table}").rows[0][0]
        copy.close()


@pytest.mark.parametrize("db_id", db_ids())
def test_schema_meanings_and_kb_are_consistent(db_id):
    files = database_files(db_id)
    schema = files.schema_text()
    db = build_database(db_id)
    meanings = files.column_meanings()
    for t in db.tables:
        assert f"CREATE TABLE {t.name} (" in schema
        for c in t.columns:
            assert meanings[f"{db_id}|{t.name}|{c.name}"], c.name
    kb = files.kb()
    ids = {e.id for e in kb}
    assert len(kb) >= 8 and len(ids) == len(kb)
    for e in kb:
        assert e.knowledge and e.description and e.definition
        for child in e.children_knowledge:
            assert child in ids and e.id in next(k for k in kb if k.id == child).parent_knowledge
    assert max(len(e.children_knowledge) for e in kb) >= 2, "the KB must be hierarchical"
