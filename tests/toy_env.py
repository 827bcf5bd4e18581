"""A sandbox-free env for testing the core contract exactly and fast."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from agentgym import AgentEnv, ScriptedPolicy, Tool, ToolCall, ToolResult


class EchoArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str


class AddArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    a: int
    b: int


class SubmitArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answer: int = 0


class ToyEnv(AgentEnv):
    """Tasks 'sum-N': submit the sum 1..N. Tools: echo, add, submit."""

    def __init__(self, n_tasks: int = 5, **kwargs):
        self._ids = [f"sum-{n}" for n in range(1, n_tasks + 1)]
        self.state: list[str] = []
        self.closed = False
        super().__init__(**kwargs)

    def task_ids(self):
        return self._ids

    def _start_episode(self, task_id):
        self.state = []
        return f"Compute 1 + 2 + ... + {task_id.split('-')[1]} and submit it."

    def _fork_episode(self, clone):
        clone.state = list(self.state)

    def _close(self):
        self.closed = True

    def _tools(self):
        return [
            Tool(name="echo", description="Echo text.", params=EchoArgs, handler=self._echo),
            Tool(name="add", description="Add two integers.", params=AddArgs, handler=lambda a: ToolResult(output=str(a.a + a.b))),
            Tool(name="submit", description="Submit the answer.", params=SubmitArgs, handler=self._submit),
        ]

    def _echo(self, args):
        self.state.append(args.text)
        return ToolResult(output=args.text)

    def _submit(self, args):
        n = int(self.task_id.split("-")[1])
        ok = args.answer == n * (n + 1) // 2
        return ToolResult(output="correct" if ok else "wrong", terminated=True, reward=1.0 if ok else 0.0)

    def reference_policy(self):
        n = int(self.task_id.split("-")[1])
        return ScriptedPolicy([ToolCall(name="submit", arguments={"answer": n * (n + 1) // 2})])
