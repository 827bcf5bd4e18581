"""SQL attacks on the grader: answers a lenient comparison took for the gold, through submit only.

BIRD-format tasks over retail_lite (sql_episodes.bird_episode), graded as BIRD means: both sides
rounded to the task's decimals, the gold's columns checked even when its result is empty, numeric
text accepted only where the gold column is text.
"""

from __future__ import annotations

import pytest

from tests.adversarial.sql_episodes import bird_episode, submit


def test_attack_off_by_one_count_at_decimal_zero():
    """A BIRD task with decimal=0 used to become an inclusive tolerance of 1, so a count off by one
    passed. Both sides are now rounded to 0 decimals and compared exactly: reward 0."""
    with bird_episode("SELECT COUNT(*) FROM orders WHERE status = 'delivered'", decimal=0) as env:
        for cheat in ("SELECT COUNT(*) + 1 FROM orders WHERE status = 'delivered'",
                      "SELECT COUNT(*) - 1 FROM orders WHERE status = 'delivered'"):
            text, reward, term, info = submit(env, cheat)
            assert reward == 0.0 and "Failed" in text
    with bird_episode("SELECT COUNT(*) FROM orders WHERE status = 'delivered'", decimal=0) as env:
        assert submit(env, "SELECT COUNT(*) FROM orders WHERE status = 'delivered'")[1] == pytest.approx(0.7)


def test_attack_empty_result_against_an_empty_gold():
    """When the gold result is empty, `SELECT 1 WHERE 1=0` (any empty result) used to earn 0.7: the
    column check was skipped. The gold's width is now recorded at grading: reward 0 for the wrong
    width, while an empty result with the gold's columns still passes."""
    with bird_episode("SELECT customer_id, segment FROM customers WHERE 1 = 0") as env:
        text, reward, term, info = submit(env, "SELECT 1 WHERE 1=0")
        assert reward == 0.0 and "Failed" in text
        assert submit(env, "SELECT customer_id, segment FROM customers WHERE customer_id < 0")[1] == pytest.approx(0.5)


def test_attack_numeric_text_does_not_pass_a_numeric_gold():
    """Type leniency as a loophole: where the gold column is numeric, a text answer (e.g. a printf
    that rounds or pads) is not accepted as the number; only a text gold accepts its digits."""
    with bird_episode("SELECT COUNT(*) FROM orders") as env:
        assert submit(env, "SELECT CAST(COUNT(*) AS TEXT) FROM orders")[1] == 0.0
