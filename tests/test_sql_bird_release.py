"""A BIRD-Interact release as users hold it, on a folder written by hand for these tests
(tests/data/bird_release: pg_dump files per table with mixed-case names, NUMERIC columns, a
sequence, COPY blocks and constraints after the data; a KB with -1 sentinels; PostgreSQL gold
SQL, preprocess and clean-up SQL, Python test cases, a Management task). Nothing here comes from
the project's generator. Only public options are used: make/validate(..., bird=ROOT)."""

from pathlib import Path

import pytest

from agentgym.envs.sql import register_sql_envs
from agentgym.envs.sql.bird import load_bird
from agentgym.envs.sql.bird_files import bird_folder
from agentgym.envs.sql.simulator import UserSimulator
from agentgym.envs.sql.simulator_secrets import Secrets
from agentgym.validate import validate

ROOT = Path(__file__).parent / "data" / "bird_release"
register_sql_envs()


@pytest.fixture(scope="module")
def dataset():
    return load_bird(ROOT)


def test_every_field_and_sentinel_of_the_release_is_read(dataset):
    assert dataset.skipped == [] and [t.id for t in dataset.tasks] == ["gallery_1", "gallery_2", "gallery_M_1", "gallery_3"]
    t = {t.id: t for t in dataset.tasks}
    assert all(x.dialect == "postgres" for x in dataset.tasks)
    assert t["gallery_2"].phase1.preprocess_sql[0].startswith('CREATE TABLE "ExchangeRates"')
    assert t["gallery_2"].phase1.clean_up_sql == ['DROP TABLE IF EXISTS "ExchangeRates"']
    assert "def test_case" in t["gallery_2"].phase1.test_cases[0] and t["gallery_2"].phase1.checks == []
    assert t["gallery_M_1"].phase1.category == "write" and t["gallery_M_1"].phase1.test_cases
    assert t["gallery_3"].phase1.checks[0].default_tolerance.decimal == 2
    db = dataset.databases["gallery"]
    kb = {e.id: e for e in db.kb}
    assert kb[0].children_knowledge == [] and kb[3].children_knowledge == [0] and kb[5].children_knowledge == [1, 2]
    assert kb[0].parent_knowledge == [3] and kb[1].parent_knowledge == [5]
    assert '"fields_meaning"' in db.column_meanings["gallery|Sales|verified"]  # a JSON meaning kept as text


def test_the_pg_dump_is_read_as_pg_dump_writes_it():
    folder = bird_folder("gallery", ROOT)
    stmts = folder.statements()
    texts = [s for _, s, _ in stmts]
    assert folder.tables() == ["Artists", "Artworks", "Sales"]
    assert not any("OWNER TO" in s or s.startswith("\\") for s in texts)
    copies = {s: d for k, s, d in stmts if k == "copy"}
    assert len(copies) == 3 and sum(d.count("\n") for d in copies.values()) == 5 + 8 + 12
    # all tables before any data, constraints (foreign keys across files) after it
    kinds = ["table" if s.startswith("CREATE TABLE") else "data" if k == "copy" else "fk" if "FOREIGN KEY" in s else ""
             for k, s, _ in stmts]
    order = [x for x in kinds if x]
    assert order == sorted(order, key=["table", "data", "fk"].index)
    script = folder.dump_sql()  # the SQLite translation: COPY rows as INSERTs, escapes decoded
    assert "'Tomás O''Reilly'" in script and "'ink\\wash'" in script and "NULL" in script


def test_sqlite_runs_what_transpiles_and_lists_the_rest():
    r = validate("sql-c-lite", bird=str(ROOT), runtime="local")
    assert {row.task_id: (row.gold_reward, row.null_reward) for row in r.rows} == {
        "gallery_1": (1.0, 0.0), "gallery_2": (1.0, 0.0), "gallery_M_1": (1.0, 0.0)}
    from agentgym import make

    env = make("sql-c-lite", bird=str(ROOT), runtime="local")
    try:
        assert len(env.skipped) == 1 and env.skipped[0].startswith("gallery_3: does not run on SQLite")
        env.reset(options={"task_id": "gallery_M_1"})
        text = env._statement()
        assert "def test_case" not in text and "UPDATE" not in text and "Trophy Work" in text  # schema/KB: the user's
    finally:
        env.close()


# ---- the simulated user -------------------------------------------------------------------------
PROBES = {
    "gallery_1": [("How should the fees be counted in the takings?", "a1"), ("In which order should the countries appear?", "a2"),
                  ("What exactly is a Hammer Premium?", "a3"),
                  ("Do the takings include the gallery's commission or just the price paid?", "a1"),
                  ("Should the list go from the largest to the smallest amount?", "a2")],
    "gallery_2": [("What counts as a sale that went for a lot of money?", "a1"), ("Which currency do you want the price shown in?", "a2"),
                  ("How is a Premium Sale defined?", "a3"), ("When is a sale price high enough to count?", "a1")],
    "gallery_M_1": [("Which artworks count as having sold strongly?", "a1"),
                    ("By best result, do you mean the highest price or the average one?", "a2")],
    "gallery_3": [("What do you mean by typical: the median or the mean?", "a1"),
                  ("Should I group the customers by their buyer type?", "a2")],
}
FISHING = ["What SQL should I write?", "Can you just give me the query?", "What's the exact WHERE clause you want?",
           "Which columns and conditions should the SELECT use?", "Paste the snippet you have in mind."]


@pytest.mark.parametrize("task_id", list(PROBES))
def test_simulator_routes_new_phrasings_and_never_hands_out_sql(dataset, task_id):
    task = next(t for t in dataset.tasks if t.id == task_id)
    sim = UserSimulator(task)  # defaults: embeddings on, since BIRD annotations carry no keywords
    assert sim.use_embeddings
    secrets = Secrets(task)
    snippets = [a.sql_snippet for a in task.ambiguities]
    for question, want in PROBES[task_id]:
        ans = sim.answer(question)
        assert ans.ambiguity_id == want, (question, ans)
        assert "can't be more specific" not in ans.text and "nothing to add" not in ans.text
        amb = next(a for a in task.ambiguities if a.id == want)
        assert secrets.leak(ans.text, amb.grounding, amb.id) is None, ans.text
    for question in FISHING:
        text = sim.answer(question).text
        assert secrets.leak(text, "", None) is None and not any(s in text for s in snippets), text
    for a in task.ambiguities:  # no annotation's answer is its raw snippet
        if a.deleted_knowledge is None:
            assert a.sql_snippet not in a.clarification and secrets.leak(a.clarification, a.grounding, a.id) is None


def test_rule_simulator_runs_the_leak_filter_on_what_it_would_say(dataset):
    task = next(t for t in dataset.tasks if t.id == "gallery_1")
    a1 = task.ambiguities[0]
    quoting = a1.model_copy(update={"clarification": f"By '{a1.term}' I mean: {a1.sql_snippet}", "grounding": ""})
    sim = UserSimulator(task.model_copy(update={"ambiguities": [quoting, *task.ambiguities[1:]]}), use_embeddings=False)
    ans = sim.answer(f"What do you mean by '{a1.term}'?")
    assert ans.ambiguity_id == "a1" and "can't be more specific" in ans.text and "SalePrice" not in ans.text


# ---- PostgreSQL: the dump loads unchanged, gold 1.0 / null 0.0 in both modes -------------------
@pytest.fixture(scope="module")
def pg_server():
    from agentgym.envs.sql.engines.postgres import PostgresEngine

    eng = PostgresEngine(data_dir=ROOT, spares=0)  # holds the one server both validate() runs share
    eng.server
    yield eng
    eng.close()


@pytest.mark.docker
def test_postgres_dump_keeps_case_numeric_and_sequences(pg_server):
    db = pg_server.open("gallery")
    try:
        res = db.execute('SELECT pg_typeof("ListPrice")::text, ROUND(AVG("ListPrice"), 2) FROM "Artworks" GROUP BY 1')
        assert res.rows[0][0] == "numeric" and str(res.rows[0][1]) == "3162.59"
        new_id = db.execute('INSERT INTO "Sales" ("ArtworkRef", "SalePrice") VALUES (101, 1) RETURNING sale_id').rows
        assert new_id == [[13]]
        with pytest.raises(Exception, match="foreign key"):
            db.execute('INSERT INTO "Sales" ("ArtworkRef", "SalePrice") VALUES (999, 1)')
    finally:
        db.close()


# Every task of the release, in c-Interact and in a-Interact.
@pytest.mark.docker
@pytest.mark.parametrize("env_id", ["sql-c-lite", "sql-a-lite"])
def test_release_validates_on_postgres(pg_server, env_id):
    tasks = ["gallery_1", "gallery_2", "gallery_M_1", "gallery_3"]
    r = validate(env_id, bird=str(ROOT), runtime="docker", engine_options={"spares": 0})
    got = {row.task_id: (row.gold_reward, row.null_reward, row.error) for row in r.rows}
    assert got == {t: (1.0, 0.0, None) for t in tasks}


@pytest.mark.docker
def test_test_cases_and_checks_fail_plausible_wrong_answers(pg_server, dataset):
    from agentgym.envs.sql.env_base import grade_phase

    t = {t.id: t for t in dataset.tasks}
    wrong = {
        "gallery_1": 'SELECT a."Country", ROUND(SUM(s."SalePrice"), 2) AS r FROM "Sales" s JOIN "Artworks" w '
                     'ON w."ArtworkID" = s."ArtworkRef" JOIN "Artists" a ON a."ArtistID" = w."ArtistRef" GROUP BY 1 ORDER BY 2 DESC',
        "gallery_2": 'SELECT w."Title", ROUND(s."SalePrice" / 1.27, 2) FROM "Sales" s JOIN "Artworks" w '
                     'ON w."ArtworkID" = s."ArtworkRef" WHERE s."SalePrice" > 1.2 * w."ListPrice"',
        "gallery_M_1": 'UPDATE "Artworks" w SET "ListPrice" = (SELECT MAX("SalePrice") FROM "Sales" s '
                       'WHERE s."ArtworkRef" = w."ArtworkID") WHERE EXISTS (SELECT 1 FROM "Sales" s WHERE s."ArtworkRef" = w."ArtworkID")',
    }
    for tid, sql in wrong.items():
        assert not grade_phase(pg_server, t[tid], 1, sql, timeout_s=10).passed, tid
    # the preprocess table is there for the right answer, written another way
    right = ('SELECT w."Title", ROUND(s."SalePrice" / (SELECT "RateToUSD" FROM "ExchangeRates" WHERE currency = \'EUR\'), 2) '
             'FROM "Sales" s, "Artworks" w WHERE w."ArtworkID" = s."ArtworkRef" AND s."SalePrice" > w."ListPrice" * 1.2')
    assert grade_phase(pg_server, t["gallery_2"], 1, right, timeout_s=10).passed


# ---- our own SQLite-dialect dumps on PostgreSQL: mixed-case names and NUMERIC -------------------
MIXED_DUMP = ("CREATE TABLE Artist (ArtistId INTEGER PRIMARY KEY, Name TEXT, Price NUMERIC(10,2), Score REAL);\n"
              "INSERT INTO Artist VALUES (1,'a',2.555,0.5),(2,'b',10.004,1.5);\n")


def test_sqlite_dump_translation_keeps_numeric_and_names_tables_as_postgres_stores_them():
    from agentgym.envs.sql.engines.dialect import sqlite_dump_to_postgres

    d = sqlite_dump_to_postgres(MIXED_DUMP)
    assert d.tables == ["artist"] and d.identity == [("artist", "artistid")]
    assert "DECIMAL(10, 2)" in d.ddl[0] and "Score DOUBLE PRECISION" in d.ddl[0]


@pytest.mark.docker
def test_mixed_case_sqlite_dump_loads_on_postgres_and_rounds_numeric(pg_server, tmp_path):
    import gzip

    from agentgym.envs.sql.engines.postgres import PostgresEngine

    (tmp_path / "mixed").mkdir()
    (tmp_path / "mixed" / "dump.sql.gz").write_bytes(gzip.compress(MIXED_DUMP.encode()))
    eng = PostgresEngine(data_dir=tmp_path, spares=0)
    try:
        db = eng.open("mixed")
        assert str(db.execute("SELECT ROUND(SUM(Price), 2) FROM Artist").rows[0][0]) == "12.56"  # NUMERIC, not float
        assert db.execute("INSERT INTO Artist (Name) VALUES ('c') RETURNING ArtistId").rows == [[3]]
        db.close()
    finally:
        eng.close()


# ---- the test-case runner's bounds (SQLite: no Docker needed) ------------------------------------
def test_test_cases_are_bounded_in_time_and_get_a_working_conn():
    import time

    from agentgym.envs.sql.bird_tests import grade_test_cases
    from agentgym.envs.sql.engines import SqliteEngine

    engine = SqliteEngine(data_dir=ROOT)
    cursor_case = ('def test_case(pred_sqls, sol_sqls, db_name, conn):\n    cur = conn.cursor()\n'
                   '    cur.execute(pred_sqls[0])\n    assert cur.fetchone()[0] == 12\n')
    loop_case = "def test_case(pred_sqls, sol_sqls, db_name, conn):\n    while True:\n        pass\n"
    kw = dict(gold=["SELECT 1"], conditions={}, clean_up=[], timeout_s=0.2)
    assert grade_test_cases(engine, "gallery", [], 'SELECT COUNT(*) FROM "Sales"', test_cases=[cursor_case], **kw).passed
    assert not grade_test_cases(engine, "gallery", [], "SELECT 11", test_cases=[cursor_case], **kw).passed
    started = time.monotonic()
    res = grade_test_cases(engine, "gallery", [], "SELECT 1", test_cases=[loop_case], **kw)
    assert not res.passed and "TimeoutError" in res.outcomes[0].reason and time.monotonic() - started < 10
    # a failing assertion's message (which may hold expected values) is not repeated
    leaky = 'def test_case(pred_sqls, sol_sqls, db_name, conn):\n    assert False, "expected 4976.96"\n'
    res = grade_test_cases(engine, "gallery", [], "SELECT 1", test_cases=[leaky], **kw)
    assert "4976" not in res.outcomes[0].reason and "4976" not in res.summary


def test_dumps_unpacked_outside_the_release_folder(tmp_path):
    import shutil

    from agentgym import make

    shutil.copytree(ROOT / "gallery", tmp_path / "gallery")
    shutil.copy(ROOT / "bird_interact_data.jsonl", tmp_path / "bird_interact_data.jsonl")
    with pytest.raises(ValueError, match="no task"):
        make("sql-c-lite", bird=str(tmp_path), runtime="local")  # no dump anywhere: nothing runs, one line says so
    env = make("sql-c-lite", bird=str(tmp_path), bird_dumps=str(ROOT / "postgre_table_dumps"), runtime="local")
    try:
        assert env.task_ids() == ["gallery_1", "gallery_2", "gallery_M_1"]
    finally:
        env.close()


def test_our_dump_format_with_bird_kb_sentinels_resets(tmp_path):
    """A user's folder in our own format (dump.sql.gz) whose kb.jsonl came from BIRD (-1 links)."""
    import gzip
    import json

    from agentgym import make

    db = tmp_path / "shop"
    db.mkdir()
    (db / "dump.sql.gz").write_bytes(gzip.compress(b"CREATE TABLE items (id INTEGER PRIMARY KEY, qty INTEGER);\n"
                                                   b"INSERT INTO items VALUES (1, 5), (2, 0);\n"))
    (db / "schema.txt").write_text("CREATE TABLE items (id INTEGER PRIMARY KEY, qty INTEGER);\n")
    (db / "column_meaning_base.json").write_text(json.dumps({"shop|items|qty": "units in stock"}))
    (db / "kb.jsonl").write_text(json.dumps({"id": 0, "knowledge": "Empty", "description": "Out of stock.",
                                             "definition": "qty = 0", "type": "domain_knowledge", "children_knowledge": -1}) + "\n")
    task = {"instance_id": "shop_1", "selected_database": "shop", "query": "How many items are Empty?",
            "amb_user_query": "How many items ran out?", "sol_sql": ["SELECT COUNT(*) FROM items WHERE qty = 0"],
            "conditions": {"decimal": -1}, "category": "Query",
            "follow_up": {"query": "And how many are not?", "sol_sql": "SELECT COUNT(*) FROM items WHERE qty <> 0"}}
    (tmp_path / "tasks.jsonl").write_text(json.dumps(task) + "\n")
    env = make("sql-c-lite", bird=str(tmp_path), runtime="local")
    try:
        obs, _ = env.reset(options={"task_id": "shop_1"})
        assert "Empty" in obs["text"] and "units in stock" in obs["text"]
    finally:
        env.close()


def test_sqlite_translation_of_types_sqlite_lacks(tmp_path):
    import sqlite3

    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "odd.sql").write_text(
        "CREATE TYPE public.mood AS ENUM ('calm', 'wild');\nALTER TYPE public.mood OWNER TO root;\n"
        "CREATE TABLE public.t (id integer, tags text[], m public.mood, j jsonb, ok boolean);\n"
        "COPY public.t (id, tags, m, j, ok) FROM stdin;\n1\t{x,y}\tcalm\t{\"k\": 1}\tt\n2\t\\N\twild\tnull\tf\n\\.\n")
    conn = sqlite3.connect(":memory:")
    conn.executescript(bird_folder("odd", tmp_path).dump_sql())
    assert conn.execute("SELECT * FROM t ORDER BY id").fetchall() == [(1, "{x,y}", "calm", '{"k": 1}', 1),
                                                                      (2, None, "wild", "null", 0)]


ODD_DUMP = r"""SET client_encoding = 'UTF8';
SELECT pg_catalog.set_config('search_path', '', false);
CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA public;
COMMENT ON EXTENSION citext IS 'data type for case-insensitive character strings';
CREATE SCHEMA extra;
ALTER SCHEMA extra OWNER TO root;
CREATE TYPE public.mood AS ENUM ('calm', 'wild');
CREATE FUNCTION public.twice(x integer) RETURNS integer LANGUAGE sql AS $$ SELECT x * 2; $$;
CREATE TABLE public."Odd" (id integer NOT NULL, name public.citext, tags text[], m public.mood);
COPY public."Odd" (id, name, tags, m) FROM stdin;
1	Alpha	{x,y}	calm
2	beta	\N	wild
\.
CREATE TABLE extra.notes (n text);
GRANT ALL ON SCHEMA public TO PUBLIC;
"""


@pytest.mark.docker
def test_release_dump_features_load_on_postgres(pg_server, tmp_path):
    from agentgym.envs.sql.engines.postgres import PostgresEngine

    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "odd.sql").write_text(ODD_DUMP)
    eng = PostgresEngine(data_dir=tmp_path, spares=0)
    try:
        db = eng.open("odd")
        rows = db.execute("SELECT id, public.twice(id), tags[1], m::text FROM \"Odd\" WHERE name = 'ALPHA'").rows
        assert rows == [[1, 2, "x", "calm"]]  # citext compares without case; array, enum, function kept
        assert db.execute("INSERT INTO extra.notes VALUES ('ok')").rowcount == 1
        db.close()
    finally:
        eng.close()
