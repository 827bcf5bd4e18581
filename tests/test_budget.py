from agentgym.budget import Budget, BudgetTracker


class FakeClock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_limits_report_the_first_exhausted_resource():
    clock = FakeClock()
    tr = BudgetTracker(Budget(max_turns=3, max_tool_calls=5, max_seconds=10, max_tokens=100, max_cost=1.0), clock)
    assert tr.exhausted() is None
    tr.record_turn(); tr.record_turn(); tr.record_turn()
    assert tr.exhausted() == "max_turns"
    assert tr.exhausted(include_turns=False) is None
    for _ in range(5):
        tr.record_tool_call("bash")
    assert tr.call_refusal("bash") == "max_tool_calls"
    clock.t += 10
    tr2 = BudgetTracker(Budget(max_turns=None, max_seconds=10), clock)
    assert tr2.exhausted() is None
    clock.t += 10.0
    assert tr2.exhausted() == "max_seconds"
    tr3 = BudgetTracker(Budget(max_turns=None, max_tokens=100, max_cost=0.5))
    tr3.record_tokens(input=60, output=39, cached_input=10)
    assert tr3.exhausted() is None
    tr3.record_tokens(output=1)
    assert tr3.exhausted() == "max_tokens"
    tr4 = BudgetTracker(Budget(max_turns=None, max_cost=0.5))
    tr4.record_cost(0.5)
    assert tr4.exhausted() == "max_cost"


def test_per_tool_limit_and_remaining():
    tr = BudgetTracker(Budget(max_turns=10, max_tool_calls_per_tool={"ask": 2}))
    tr.record_tool_call("ask")
    assert tr.call_refusal("ask") is None
    tr.record_tool_call("ask")
    assert tr.call_refusal("ask") == "max_tool_calls_per_tool"
    assert tr.call_refusal("bash") is None
    assert tr.remaining() == {"turns": 10, "ask_calls": 0}


def test_copy_is_independent():
    tr = BudgetTracker(Budget(max_turns=5))
    tr.record_turn()
    c = tr.copy()
    c.record_turn()
    assert (tr.turns, c.turns) == (1, 2)


def test_footer_is_deterministic_without_time_limit():
    tr = BudgetTracker(Budget(max_turns=4, max_tool_calls=9))
    tr.record_turn(); tr.record_tool_call("x")
    assert tr.footer() == "[budget used: turns 1/4, tool calls 1/9]"


def test_a_bad_budget_is_refused_when_the_env_is_made():
    """budget=7 used to be accepted and fail at every reset (each episode an infra error); max_turns=-3
    was a silent horizon that scored every episode a plain fail."""
    import pydantic
    import pytest

    import agentgym

    with pytest.raises(TypeError, match="budget must be a Budget"):
        agentgym.make("shell-fixture", runtime="local", budget=7)
    for bad in (0, -3):
        with pytest.raises(pydantic.ValidationError, match="max_turns"):
            agentgym.make("shell-fixture", runtime="local", max_turns=bad)
    env = agentgym.make("shell-fixture", runtime="local", budget={"max_turns": 4}, max_turns=2)
    try:
        assert env.unwrapped.default_budget.max_turns == 2
    finally:
        env.close()
