"""Property-based fuzzing: no input to step() may raise or be taken for an infrastructure error."""

import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toy_env import ToyEnv

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
tool_names = st.sampled_from(["echo", "add", "submit", "", "rm", "ECHO", "x" * 10_000])
call_like = st.fixed_dictionaries(
    {"name": tool_names | st.text(max_size=20) | json_values},
    optional={"arguments": json_values | st.text(max_size=40).map(lambda s: "{" + s), "id": json_values},
)
openai_like = st.fixed_dictionaries(
    {"type": st.just("function"), "function": st.fixed_dictionaries({"name": tool_names}, optional={"arguments": st.text(max_size=40) | json_values})}
)
actions = st.one_of(
    json_values,
    call_like,
    openai_like,
    st.lists(call_like, max_size=4),
    call_like.map(json.dumps),
    st.text(max_size=200),
    st.binary(max_size=64),
    st.integers(min_value=1, max_value=3).map(lambda m: "x" * (m * 400_000)),  # megabyte strings
    st.text(max_size=5).map(lambda s: json.dumps({"name": "echo", "arguments": {"text": s * 300_000}})),
)

_env = ToyEnv()

#: Examples per run of the ToyEnv property. Its time is Hypothesis drawing examples (the env's
#: step costs microseconds), so it grows with this number: 1000 in `make test`; set
#: AGENTGYM_FUZZ_EXAMPLES=3000 (or more) for a deeper run.
EXAMPLES = int(os.environ.get("AGENTGYM_FUZZ_EXAMPLES", "1000"))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(action=actions)
def test_step_never_raises_and_never_reports_infra_errors(action):
    env = _env
    env.reset(options={"task_id": "sum-2", "max_turns": 50})
    obs, reward, terminated, truncated, info = env.step(action)
    assert env.observation_space.contains(obs)
    assert isinstance(reward, float) and isinstance(terminated, bool) and isinstance(truncated, bool)
    assert "error" not in info, info.get("traceback")
    assert len(obs["text"]) < 2_000_000


# The local runtime runs commands on the host: arguments come from an alphabet that cannot spell
# an option, a path outside the sandbox directory, or a redirection.
safe_text = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789 ", max_size=40)
shell_calls = st.fixed_dictionaries(
    {"name": st.sampled_from(["bash", "read_file", "write_file", "submit", "nope"])},
    optional={"arguments": st.dictionaries(
        st.sampled_from(["command", "path", "content", "timeout", "extra"]),
        safe_text | st.integers() | st.floats(allow_nan=True) | st.none() | st.lists(st.integers(), max_size=3),
        max_size=3,
    )},
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(action=shell_calls | st.lists(shell_calls, min_size=1, max_size=3) | safe_text)
def test_shell_env_step_never_raises(action, shell_env):
    obs, reward, terminated, truncated, info = shell_env.step(action)
    assert shell_env.observation_space.contains(obs)
    assert "error" not in info, (info.get("error"), info.get("traceback"))
    if terminated or truncated:
        shell_env.reset(options={"task_id": "hello", "max_turns": 1000})
