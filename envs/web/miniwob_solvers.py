"""Scripted solvers for MiniWoB++ pages: the reference policies `agentgym validate web-miniwob` runs.

Why policies: every MiniWoB episode is a fresh random problem, so fixed oracle steps cannot solve
it. A solver is a generator over a Page: it reads the problem off the live page (read-only
scripts through WebEnv.read_page), and yields the agent's own tool calls (click, fill, ...) on
element ids found by CSS paths (WebEnv.element_id); after each yield the env has stepped, so the
next read sees the page the action left. Solvers act only through the agent's tools: what they
prove is that the task is solvable in this env, by the same means an agent has.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from agentgym.actions import ToolCall

# Helpers in scope of every read: $$ (all matches), txt (trimmed text), vis (rendered), and a[]:
# the arguments. path(el) is a CSS path unique to el, which element_id resolves.
PRELUDE = """
const $$ = (s, r) => [...(r || document).querySelectorAll(s)];
const txt = (e) => (e.textContent || '').replace(/\\s+/g, ' ').trim();
const vis = (e) => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden'; };
const path = (e) => {
  if (!e || !e.tagName) return null;
  const parts = [];
  for (; e && e.nodeType === 1 && e !== document.documentElement; e = e.parentElement) {
    if (e.id && /^[A-Za-z][\\w-]*$/.test(e.id) && document.querySelectorAll('#' + e.id).length === 1) { parts.unshift('#' + e.id); break; }
    const i = [...e.parentElement.children].indexOf(e) + 1;
    parts.unshift(e.tagName.toLowerCase() + ':nth-child(' + i + ')');
  }
  return parts.join(' > ');
};
const query = () => txt(document.getElementById('query'));
"""


class Page:
    """What a solver sees and does: reads of the live page, and tool calls on its elements."""

    def __init__(self, env: Any):
        self.env = env

    def read(self, expr: str, *args: Any) -> Any:
        """Evaluate a JavaScript expression (PRELUDE's helpers and `a`, the arguments, in scope)."""
        return self.env.read_page(f"(a) => {{ {PRELUDE}\nreturn ({expr}); }}", list(args))

    def id(self, expr: str, *args: Any) -> str:
        """The element id of the element an expression picks (an element, or a CSS selector string)."""
        sel = self.read(f"(() => {{ const x = ({expr}); return typeof x === 'string' ? x : path(x); }})()", *args)
        if not sel:
            raise LookupError(f"the solver found no element for {expr!r} (args {args!r})")
        return self.env.element_id(sel)

    def query(self) -> str:
        return self.read("query()")

    def quoted(self) -> list[str]:
        return re.findall(r'"([^"]*)"', self.query())

    # tool calls
    def click(self, expr: str, *args: Any) -> ToolCall:
        return ToolCall(name="click", arguments={"id": self.id(expr, *args)})

    def fill(self, expr: str, value: str, *args: Any) -> ToolCall:
        return ToolCall(name="fill", arguments={"id": self.id(expr, *args), "value": value})

    def select(self, expr: str, option: str | list[str], *args: Any) -> ToolCall:
        return ToolCall(name="select_option", arguments={"id": self.id(expr, *args), "options": option})

    def press(self, key: str, expr: str | None = None, *args: Any) -> ToolCall:
        arguments: dict[str, Any] = {"key": key}
        if expr is not None:
            arguments["id"] = self.id(expr, *args)
        return ToolCall(name="press", arguments=arguments)


Solver = Callable[[Page], Iterator[ToolCall]]
SOLVERS: dict[str, Solver] = {}
FAMILY: dict[str, str] = {}


def solves(*names: str, family_name: str | None = None) -> Callable[[Solver], Solver]:
    def add(fn: Solver) -> Solver:
        for n in names:
            SOLVERS[n] = fn
            FAMILY[n] = family_name or names[0]
        return fn
    return add


def family(name: str) -> str:
    """The template of a task: the family its solver covers (variants share one)."""
    return FAMILY.get(name, name)


class MiniwobPolicy:
    """A solver as a reference policy; when it has nothing more to do it ends the episode."""

    def __init__(self, env: Any, task: Any):
        self.env, self.name = env, task.id.removeprefix("miniwob.")
        self._steps: Iterator[ToolCall] | None = None

    def reset(self, obs: dict[str, Any], info: dict[str, Any]) -> None:
        self._steps = None

    def act(self, obs: dict[str, Any], info: dict[str, Any]) -> ToolCall:
        if self._steps is None:
            self._steps = SOLVERS[self.name](Page(self.env))
        step = next(self._steps, None)
        return step or ToolCall(name="send_msg_to_user", arguments={"text": "done"})


def policy(env: Any, task: Any) -> MiniwobPolicy:
    return MiniwobPolicy(env, task)


from agentgym.envs.web.miniwob_tasks import EXCLUDED, LITE  # noqa: E402,F401 - the solvers register themselves
from agentgym.envs.web import miniwob_apps  # noqa: E402,F401 - likewise
