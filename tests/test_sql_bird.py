"""The BIRD-Interact loader, on a tiny fixture written here in the public format."""

import gzip
import json

import pytest

from agentgym.envs.sql.bird import load_bird
from agentgym.envs.sql.engines import SqliteEngine
from agentgym.envs.sql.grading import grade_fresh

DUMP = """CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL, qty INTEGER);
INSERT INTO items VALUES (1,'bolt',0.5,100),(2,'nut',0.25,0),(3,'gear',12.0,3),(4,'shaft',40.0,NULL);
"""
KB = [
    {"id": 0, "knowledge": "Stock Value", "description": "Money tied up in an item.", "definition": "price * qty",
     "type": "calculation_knowledge", "children_knowledge": -1},
    {"id": 1, "knowledge": "Dead Stock", "description": "Items whose stock value is zero or unknown.",
     "definition": "Stock Value = 0 OR qty IS NULL", "type": "domain_knowledge", "children_knowledge": [0]},
]
QUERY_TASK = {
    "instance_id": "shop_1", "selected_database": "shop",
    "query": "List each item's name and Stock Value, highest first.",
    "amb_user_query": "List each item's name and how much it is worth, highest first.",
    "sol_sql": ["SELECT name, price * qty AS v FROM items WHERE qty IS NOT NULL ORDER BY v DESC"],
    "external_knowledge": [0], "category": "Query", "conditions": {"decimal": 2, "distinct": False, "order": True},
    "user_query_ambiguity": {
        "critical_ambiguity": [{"term": "worth", "sql_snippet": "price * qty", "is_mask": True,
                                "type": "knowledge_linking_ambiguity"}],
        "non_critical_ambiguity": [{"term": "highest first", "sql_snippet": "ORDER BY v DESC", "is_mask": False,
                                    "type": "sort_ambiguity"}]},
    "knowledge_ambiguity": [{"term": "Stock Value", "sql_snippet": "price * qty", "is_mask": False,
                             "type": "knowledge_ambiguity", "deleted_knowledge": 0}],
    "follow_up": {"query": "Now only the dead stock names.", "sol_sql": "SELECT name FROM items WHERE price * qty = 0 OR qty IS NULL",
                  "external_knowledge": [1], "type": "topic_pivot", "category": "Query"},
}
MANAGEMENT_TASK = dict(QUERY_TASK, instance_id="shop_2", category="Management")
WITHHELD_TASK = dict(QUERY_TASK, instance_id="shop_3", sol_sql=[])


@pytest.fixture
def bird_root(tmp_path):
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "shop_schema.txt").write_text("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL, qty INTEGER);\n")
    (tmp_path / "shop" / "column_meaning_base.json").write_text(json.dumps({"shop|items|qty": "units in stock"}))
    (tmp_path / "shop" / "kb.jsonl").write_text("".join(json.dumps(k) + "\n" for k in KB))
    (tmp_path / "tasks.jsonl").write_text("".join(json.dumps(t) + "\n" for t in (QUERY_TASK, MANAGEMENT_TASK, WITHHELD_TASK)))
    return tmp_path


def test_loads_tasks_databases_and_says_what_it_skipped(bird_root):
    ds = load_bird(bird_root)
    assert [t.id for t in ds.tasks] == ["shop_1"]
    assert any(s.startswith("shop_2:") and "Management" in s for s in ds.skipped)
    assert any(s.startswith("shop_3:") and "gold" in s for s in ds.skipped)
    db = ds.databases["shop"]
    assert "CREATE TABLE items" in db.schema_text and db.column_meanings["shop|items|qty"] == "units in stock"
    assert db.kb[0].parent_knowledge == [1] and db.kb[1].children_knowledge == [0]


def test_task_maps_ambiguities_and_conditions(bird_root):
    t = load_bird(bird_root).tasks[0]
    assert t.suite == "bird" and t.amb_query.startswith("List each item's name and how much")
    assert [a.critical for a in t.ambiguities] == [True, False, True]
    assert t.withheld_knowledge == [0]
    knowledge = t.ambiguities[2]
    assert "Stock Value" in knowledge.clarification and "price * qty" in knowledge.clarification
    check = t.phase1.checks[0]
    assert check.ordered and check.expected_from_gold and check.default_tolerance.decimal == 2


def test_loaded_task_grades_with_the_same_grader(bird_root, tmp_path):
    data = tmp_path / "data"
    (data / "shop").mkdir(parents=True)
    (data / "shop" / "dump.sql.gz").write_bytes(gzip.compress(DUMP.encode()))
    engine = SqliteEngine(data_dir=data)
    t = load_bird(bird_root).tasks[0]
    gold = t.phase1.gold_sql

    def grade(sql):
        return grade_fresh(engine, "shop", [], sql, t.phase1.checks, gold=gold).passed

    assert grade(gold[0])
    assert grade("SELECT name, ROUND(price * qty, 2) FROM items WHERE qty IS NOT NULL ORDER BY 2 DESC")
    assert not grade("SELECT name, price * qty FROM items WHERE qty IS NOT NULL ORDER BY 2 ASC"), "order matters"
    assert not grade("SELECT name, price FROM items WHERE qty IS NOT NULL ORDER BY 2 DESC")
    fu = t.follow_up
    assert grade_fresh(engine, "shop", [], fu.gold_sql[0], fu.checks, gold=fu.gold_sql).passed
