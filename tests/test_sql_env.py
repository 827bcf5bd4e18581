"""The SQL envs (c-Interact, a-Interact) on SQLite: contract, protocol, coins, isolation, no leaks."""

import pytest
from gymnasium.utils.env_checker import check_env

import agentgym
from agentgym.envs.sql import register_sql_envs
from agentgym.envs.sql.a_interact import COSTS
from agentgym.envs.sql.tasks import load_suite

IDS = register_sql_envs()
LITE = {t.id: t for t in load_suite("lite")}
READ = "retail_lite.top_entities.2022-top5"
WRITE = "retail_lite.delete_cancelled.2023"


def call(name, **arguments):
    return {"name": name, "arguments": arguments}


@pytest.fixture
def c_env():
    env = agentgym.make("sql-c-lite", runtime="local")
    yield env
    env.close()


@pytest.fixture
def a_env():
    env = agentgym.make("sql-a-lite", runtime="local")
    yield env
    env.close()


def test_ids_are_registered():
    assert set(IDS) == {"sql-c-lite", "sql-a-lite", "sql-c", "sql-a"}
    assert set(IDS) <= set(agentgym.list_envs())


@pytest.mark.parametrize("env_id", ["sql-c-lite", "sql-a-lite"])
def test_gymnasium_checker(env_id):
    env = agentgym.make(env_id, runtime="local")
    check_env(env, skip_render_check=True)
    env.close()


# validate (gold 1.0, null 0.0) on every SQL id and runtime: tests/test_registered_envs.py


def test_c_interact_protocol_rewards_and_retry(c_env):
    t = LITE[READ]
    obs, _ = c_env.reset(options={"task_id": READ})
    assert t.amb_query in obs["text"] and "CREATE TABLE orders" in obs["text"]
    obs, r, term, _, _ = c_env.step(call("submit", sql="SELECT 1"))
    assert r == 0.0 and not term and "one retry" in obs["text"]
    _, r, term, _, _ = c_env.step(call("submit", sql=";".join(t.phase1.gold_sql)))
    assert r == pytest.approx(0.5) and not term, "phase one passed on the retry"
    _, r, term, _, _ = c_env.step(call("submit", sql="SELECT 2"))
    _, r2, term, _, _ = c_env.step(call("submit", sql="SELECT 3"))
    assert r == 0.0 and r2 == 0.0 and term, "two failures end the follow-up"


def test_c_interact_caps_questions(c_env):
    c_env.reset(options={"task_id": READ})
    cap = len(LITE[READ].ambiguities) + c_env.patience
    for _ in range(cap):
        obs, *_ = c_env.step(call("ask", question="What do you mean by sales?"))
        assert obs["text"].startswith("User:")
    obs, *_ = c_env.step(call("ask", question="What do you mean by sales?"))
    assert "used all" in obs["text"]


def test_a_interact_coins(a_env):
    t = LITE[READ]
    obs, _ = a_env.reset(options={"task_id": READ})
    total = 6 + 2 * len(t.ambiguities) + a_env.patience
    assert f"[coins left: {total:g} of {total:g}]" in obs["text"]
    obs, *_ = a_env.step(call("ask_user", question="What do you mean by sales?"))
    assert obs["text"].rstrip().endswith(f"[coins left: {total - 2:g} of {total:g}]")
    obs, *_ = a_env.step(call("get_column_meaning", table="orders", column="status"))
    assert "lifecycle status" in obs["text"] and f"{total - 2.5:g} of" in obs["text"]
    obs, *_ = a_env.step("not json")
    assert f"{total - 2.7:g} of" in obs["text"], "a malformed action costs 0.2"
    while a_env.coins_left >= COSTS["execute_sql"]:
        a_env.step(call("execute_sql", sql="SELECT 1"))
    obs, *_ = a_env.step(call("execute_sql", sql="SELECT 1"))
    assert "refused" in obs["text"]
    _, r, term, _, _ = a_env.step(call("submit", sql=";".join(t.phase1.gold_sql)))
    assert r == pytest.approx(0.7), "submit is allowed past the budget"


def test_agent_side_effects_never_reach_the_grader(a_env):
    t = LITE[WRITE]
    a_env.reset(options={"task_id": WRITE})
    a_env.step(call("execute_sql", sql="DROP TABLE order_items; DELETE FROM orders"))
    obs, *_ = a_env.step(call("execute_sql", sql="SELECT COUNT(*) FROM orders"))
    assert "\n0\n" in obs["text"]
    _, r, _, _, _ = a_env.step(call("submit", sql=";".join(t.phase1.gold_sql)))
    assert r == pytest.approx(0.7)
    # Phase two starts from fresh + gold phase one, not from the agent's wreckage.
    obs, *_ = a_env.step(call("execute_sql", sql="SELECT COUNT(*) FROM order_items"))
    assert "no such table" not in obs["text"]


def test_runaway_query_is_stopped_and_reported():
    a_env = agentgym.make("sql-a-lite", runtime="local", timeout_s=0.3)
    a_env.reset(options={"task_id": READ})
    obs, _, term, trunc, info = a_env.step(call("execute_sql", sql="WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
                                                "SELECT x + 1 FROM c) SELECT COUNT(*) FROM c"))
    assert "time limit" in obs["text"] and not term and not trunc and "error" not in info
    a_env.close()


def test_gold_and_tests_never_reach_observations():
    for env_id in ("sql-c-lite", "sql-a-lite"):
        env = agentgym.make(env_id, runtime="local")
        for tid in (READ, WRITE, "hospital_lite.count_high_value.2022"):
            t = LITE[tid]
            obs, _ = env.reset(options={"task_id": tid})
            texts = [obs["text"]]
            tools = ["get_all_knowledge_definitions", "get_all_knowledge_names", "get_schema"] if env_id == "sql-a-lite" else []
            for name in tools:
                texts.append(env.step(call(name))[0]["text"])
            policy = env.reference_policy()
            policy.reset(obs, {})
            for _ in range(10):
                obs, _, term, trunc, _ = env.step(policy.act(obs, {}))
                texts.append(obs["text"])
                if term or trunc:
                    break
            blob = "\n".join(texts)
            for sql in t.phase1.gold_sql + t.follow_up.gold_sql:
                assert sql not in blob
            for kb_id in t.withheld_knowledge:
                from agentgym.envs.sql.catalog import cached_kb
                entry = next(e for e in cached_kb(t.db_id) if e.id == kb_id)
                assert f"{entry.knowledge}: {entry.description}" not in blob
        env.close()


def test_fork_gives_an_independent_database(a_env):
    a_env.reset(options={"task_id": READ})
    clone = a_env.fork()
    clone.step(call("execute_sql", sql="DELETE FROM orders"))
    obs, *_ = a_env.step(call("execute_sql", sql="SELECT COUNT(*) > 0 FROM orders"))
    assert "\n1\n" in obs["text"]
    clone.close()


def test_runtime_picks_the_engine_and_is_reported_truthfully():
    env = agentgym.make("sql-c-lite", runtime="local")
    assert env.runtime == "local" and env.engine.dialect == "sqlite"
    env.close()
    with pytest.raises(ValueError, match="runtime='docker' means PostgreSQL"):
        agentgym.make("sql-c-lite", runtime="local", engine="postgres")
