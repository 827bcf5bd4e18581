"""PostgreSQL resource walls (issue 13): one episode that fills its disk gets an error while the
others finish with their rewards and nothing restarts; a server killed mid-episode is an
infrastructure error for the episodes on it and the next reset works on a restarted one.

The server here is small on purpose (a 320 MB data tmpfs, a 24 MB quota) so filling is quick.
"""

from __future__ import annotations

import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import agentgym
from agentgym.envs.sql import register_sql_envs

register_sql_envs()
pytestmark = pytest.mark.docker

TASK = "retail_lite.top_entities.2022-top5"
SMALL = {"data_tmpfs": "320m", "memory": "1g", "episode_disk_mb": 24, "disk_reserve_mb": 64, "spares": 0}
FILL = "INSERT INTO fill SELECT repeat('x', 1900) FROM generate_series(1, 20000)"


def make(options: dict) -> agentgym.AgentEnv:
    return agentgym.make("sql-a-lite", runtime="docker", engine_options=options)


def play_gold(env) -> tuple[float, list[dict]]:
    """The reference policy to the end: (total reward, every step's info)."""
    obs, info = env.reset(options={"task_id": TASK})
    policy = env.reference_policy()
    policy.reset(obs, info)
    total, infos, done = 0.0, [], False
    while not done:
        obs, reward, term, trunc, info = env.step(policy.act(obs, info))
        total += reward
        infos.append(info)
        done = term or trunc
    return total, infos


def fill(env, rounds: int = 200) -> tuple[float, dict]:
    """Fill the episode's disk with committed INSERTs until the env says stop."""
    env.reset(options={"task_id": TASK})
    env.step({"name": "execute_sql", "arguments": {"sql": "CREATE TABLE fill(x text)"}})
    total = 0.0
    for _ in range(rounds):
        _, reward, term, trunc, info = env.step({"name": "execute_sql", "arguments": {"sql": FILL}})
        total += reward
        if term or trunc:
            return total, info
    return total, info


def server_log(cid: str) -> str:
    return subprocess.run(["docker", "logs", cid], capture_output=True, text=True, timeout=30).stderr


def test_a_disk_filler_fails_alone_while_eight_others_finish():
    envs = [make(SMALL) for _ in range(9)]
    try:
        envs[0].reset(options={"task_id": TASK})  # starts the shared server
        srv = envs[0].engine.server
        cid, generation = srv.container_id, srv.generation
        with ThreadPoolExecutor(9) as pool:
            filler = pool.submit(fill, envs[0])
            honest = [pool.submit(play_gold, e) for e in envs[1:]]
            reward, info = filler.result(timeout=240)
            results = [h.result(timeout=240) for h in honest]
        assert reward == 0.0 and "disk quota" in info.get("agent_failure", "") and "error" not in info
        for total, infos in results:
            assert total == pytest.approx(1.0)
            assert not any("error" in i or "agent_failure" in i for i in infos)
        # Nothing restarted: the same container and generation, no PANIC, and a new copy works.
        assert srv.container_id == cid and srv.generation == generation
        assert "PANIC" not in server_log(cid)
        assert play_gold(envs[0])[0] == pytest.approx(1.0)
    finally:
        for e in envs:
            e.close()


def test_temp_files_are_capped_by_the_quota():
    env = make(SMALL)
    try:
        env.reset(options={"task_id": TASK})
        sql = "SELECT g FROM generate_series(1, 20000000) g ORDER BY g DESC OFFSET 19999999"
        obs, reward, term, _, info = env.step({"name": "execute_sql", "arguments": {"sql": sql}})
        assert "temp_file_limit" in obs["text"] and not term and "error" not in info
        obs, *_ = env.step({"name": "execute_sql", "arguments": {"sql": "SELECT COUNT(*) FROM orders"}})
        assert "(1 row)" in obs["text"]
    finally:
        env.close()


def test_a_killed_server_is_an_infra_error_then_the_next_reset_works():
    options = {**SMALL, "episode_disk_mb": 25}  # its own server: killing it spoils no other test
    envs = [make(options) for _ in range(3)]
    try:
        for e in envs:
            e.reset(options={"task_id": TASK})
        srv = envs[0].engine.server
        cid, generation = srv.container_id, srv.generation
        out: dict = {}

        def sleeper() -> None:
            out["step"] = envs[0].step({"name": "execute_sql", "arguments": {"sql": "SELECT pg_sleep(4)"}})

        t = threading.Thread(target=sleeper)
        t.start()
        time.sleep(1.0)  # mid-statement
        subprocess.run(["docker", "kill", cid], check=True, capture_output=True, timeout=60)
        t.join(timeout=30)
        obs, reward, term, _, info = out["step"]
        assert "error" in info and "Infrastructure error" in obs["text"] and term
        for e in envs[1:]:  # the others on that server: infrastructure too, never a raw driver error
            obs, _, term, _, info = e.step({"name": "execute_sql", "arguments": {"sql": "SELECT 1"}})
            assert "error" in info and "agent_failure" not in info and term
        # The next reset restarts the server and the episode plays to its full reward.
        total, infos = play_gold(envs[1])
        assert total == pytest.approx(1.0) and not any("error" in i for i in infos)
        assert srv.container_id != cid and srv.generation > generation
        assert play_gold(envs[0])[0] == pytest.approx(1.0)
    finally:
        for e in envs:
            e.close()


def test_a_crashed_backend_restarts_in_place_and_the_next_reset_works():
    """SIGKILL of one backend makes PostgreSQL end every session and recover in place: the
    episodes get infrastructure errors, stale pooled connections are dropped, and resets work."""
    options = {**SMALL, "episode_disk_mb": 26, "spares": 1}
    envs = [make(options) for _ in range(2)]
    try:
        for e in envs:
            e.reset(options={"task_id": TASK})
        srv = envs[0].engine.server
        pid = envs[0].db.connection.info.backend_pid
        subprocess.run(["docker", "exec", srv.container_id, "sh", "-c", f"kill -9 {pid}"], check=True,
                       capture_output=True, timeout=60)
        time.sleep(1.0)  # recovery on a tmpfs takes a moment
        for e in envs:
            obs, _, term, _, info = e.step({"name": "execute_sql", "arguments": {"sql": "SELECT 1"}})
            assert "error" in info and term
        total, infos = play_gold(envs[1])
        assert total == pytest.approx(1.0) and not any("error" in i for i in infos)
    finally:
        for e in envs:
            e.close()
