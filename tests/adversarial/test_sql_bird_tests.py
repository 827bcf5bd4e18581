"""Attacks on BIRD's Python test cases (bird_tests.py: run by the grader on the host), through submit only.

On the hand-written release (tests/data/bird_release), task gallery_2: its test case strips the
comments of both sides and calls ex_base, as most of BIRD-Interact's do. SQLite (local runtime).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import agentgym
from tests.adversarial.sql_episodes import submit

ROOT = Path(__file__).parent.parent / "data" / "bird_release"


@pytest.fixture(scope="module")
def gallery():
    with agentgym.make("sql-c-lite", bird=str(ROOT), runtime="local") as env:
        yield env


def test_attack_temp_tables_shadow_what_the_gold_reads(gallery):
    """The submission and the gold ran on one connection, the submission first: TEMP tables named
    like the gold's tables (SQLite and PostgreSQL both look in the temp schema first) decided the
    gold's result, and `SELECT 'X', 5` matched it. The gold now runs first: reward 0."""
    gallery.reset(options={"task_id": "gallery_2"})
    cheat = ('CREATE TEMP TABLE "Artworks" AS SELECT 1 AS "ArtworkID", \'X\' AS "Title", 1 AS "ListPrice"; '
             'CREATE TEMP TABLE "Sales" AS SELECT 1 AS "ArtworkRef", 10 AS "SalePrice"; '
             'CREATE TEMP TABLE "ExchangeRates" AS SELECT \'EUR\' AS currency, 2 AS "RateToUSD"; '
             "SELECT 'X', 5")
    text, reward, term, info = submit(gallery, cheat)
    assert reward == 0.0 and "error" not in info, (text, info)


def test_attack_unterminated_comments_stall_the_grader(gallery):
    """180 KB of "/* " made the release's remove_comments regex quadratic: minutes in C, where the
    test case's time limit cannot reach, holding the process that serves every local episode. Now
    a linear scan: the submission is judged (reward 0) in seconds."""
    gallery.reset(options={"task_id": "gallery_2"})
    t0 = time.monotonic()
    text, reward, term, info = submit(gallery, "SELECT 1 " + "/* " * 60_000)
    assert reward == 0.0 and "error" not in info, (text[:300], info)
    assert time.monotonic() - t0 < 20


def test_a_server_lost_under_a_test_case_is_infrastructure():
    """A BIRD test case caught every exception as the submission's failure, so a PostgreSQL server
    that died under it (PostgresUnavailable, an InfraError) scored the agent 0 instead of being an
    infrastructure error. Now it propagates; the agent's own failures still fail the test."""
    from agentgym.env import InfraError
    from agentgym.envs.sql.bird_tests import TEST_CASE_DEFAULT, grade_test_cases
    from agentgym.envs.sql.engines.base import SqlError
    from agentgym.envs.sql.engines.pg_container import PostgresUnavailable

    class Db:
        db_id = "x"

        def __init__(self, fail):
            self.fail = fail

        def execute(self, sql, **kw):
            raise self.fail

        def close(self):
            pass

    def grade(fail):
        engine = type("E", (), {"open": lambda self, db_id: Db(fail)})()
        return grade_test_cases(engine, "x", [], "SELECT 1", test_cases=[TEST_CASE_DEFAULT], gold=["SELECT 1"],
                                conditions={}, clean_up=[], timeout_s=5)

    with pytest.raises(InfraError):
        grade(PostgresUnavailable("the PostgreSQL container exited"))
    assert not grade(SqlError("syntax error")).passed
