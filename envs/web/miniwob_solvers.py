"""Scripted solvers for MiniWoB++ pages: the reference policies `agentgym validate web-miniwob` runs.

Why policies: every MiniWoB episode is a fresh random problem, so fixed oracle steps cannot solve
it. A solver is a generator over a Page: it reads the problem off the live page (read-only
scripts through WebEnv.read_page), and yields the agent's own tool calls (click, fill, ...) on
elements it picks by script; after each yield the env has stepped, so the next read sees the page
the action left. Solvers act only through the agent's tools: what they prove is that the task is
solvable in this env, by the same means an agent has.

And only on what the agent can see: read_page may work out WHAT to do, but every element an
action targets must have an id in the observation the policy was given. A solver names its
target by a CSS path; MiniwobPolicy turns it into the id the observation gave that element
(never numbering an element itself), and a target the observation does not list fails validation
with UnlistedTarget, which names the element. A target not listed yet (a menu still opening) is
waited for with noops, as an agent would wait, for at most LISTED_WAIT_STEPS observations. So the
ids a solver's episode records are the observation's own, and replay in a new episode.
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
        self.obs_text = ""  # the observation the policy was last given (MiniwobPolicy keeps it current)

    def read(self, expr: str, *args: Any) -> Any:
        """Evaluate a JavaScript expression (PRELUDE's helpers and `a`, the arguments, in scope)."""
        return self.env.read_page(f"(a) => {{ {PRELUDE}\nreturn ({expr}); }}", list(args))

    def id(self, expr: str, *args: Any) -> str:
        """A reference to the element an expression picks (an element, or a CSS selector string):
        its CSS path, which MiniwobPolicy turns into the element's id in the observation."""
        sel = self.read(f"(() => {{ const x = ({expr}); return typeof x === 'string' ? x : path(x); }})()", *args)
        if not sel:
            raise LookupError(f"the solver found no element for {expr!r} (args {args!r})")
        return REF + sel

    def query(self) -> str:
        return self.read("query()")

    def quoted(self) -> list[str]:
        return re.findall(r'"([^"]*)"', self.query())

    def box(self, expr: str, *args: Any) -> tuple[float, float, float, float]:
        """The box (x, y, w, h, viewport CSS pixels) that the observation shows for the element an
        expression picks: where a pointer action may aim (env option coords=True). An element the
        observation does not list, or lists without a box, is UnlistedTarget: no reading the page
        to find a place to act."""
        ident = self.read(f"(() => {{ const x = ({expr}); const e = typeof x === 'string' ? document.querySelector(x) : x;"
                          " return e ? e.getAttribute('data-agid') : null; })()", *args)
        m = ident and re.search(rf"^\s*\[{ident}\] .*@(-?\d+),(-?\d+),(\d+),(\d+)\s*$", self.obs_text, re.M)
        if not m:
            raise UnlistedTarget(f"the solver aims at {expr!r} {args!r}, which the observation it was given does not list "
                                 "with a box (@x,y,w,h): an agent could not see where it is (coords=True lists boxes)")
        return tuple(float(v) for v in m.groups())  # type: ignore[return-value]

    def picture(self) -> Any:
        """The page as the agent sees it with the env option screenshot=True: an RGB array of the
        viewport (pixels are CSS pixels). For a picture (canvas, SVG) the text shows nothing of."""
        return self.env._screenshot()

    # tool calls
    def pointer(self, name: str, **arguments: Any) -> ToolCall:
        """A coordinate tool (mouse_click, mouse_move, mouse_down, mouse_up, mouse_drag, wheel): its
        points come from boxes the observation showed (box) or from the picture (picture)."""
        return ToolCall(name=name, arguments={k: round(v, 1) if isinstance(v, float) else v for k, v in arguments.items()})

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


TARGET_ARGS = ("id", "source", "target")  # the arguments of the tools that name an element
REF = "css:"  # a solver's reference to an element, by CSS path (Page.id)
LISTED_WAIT_STEPS = 20  # noops of 100 ms a target may take to appear in the observation
_LINE_ID = re.compile(r"^\s*\[(\d+)\] ", re.M)
ID_OF_JS = "(s) => { const e = document.querySelector(s); return e ? e.getAttribute('data-agid') : null; }"
DESCRIBE_JS = "(s) => { const e = document.querySelector(s); return e ? e.outerHTML.slice(0, 160) : '(no longer on the page)'; }"


class UnlistedTarget(Exception):
    """A reference policy acted on an element the agent's observation does not list."""


def listed_ids(text: str) -> set[str]:
    """The element ids an observation text lists (its page lines, not the action's result)."""
    return set(_LINE_ID.findall(text or ""))


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
    """A solver as a reference policy; when it has nothing more to do it ends the episode. Every
    element it acts on must be listed in the observation it was given (else UnlistedTarget)."""

    def __init__(self, env: Any, task: Any):
        self.env, self.name = env, task.id.removeprefix("miniwob.")
        self._steps: Iterator[ToolCall] | None = None
        self._pending: ToolCall | None = None  # a step whose target the observation does not list yet
        self._waited = 0

    def reset(self, obs: dict[str, Any], info: dict[str, Any]) -> None:
        self._steps, self._pending, self._waited = None, None, 0

    def act(self, obs: dict[str, Any], info: dict[str, Any]) -> ToolCall:
        if self._steps is None:
            self._page = Page(self.env)
            self._steps = SOLVERS[self.name](self._page)
        self._page.obs_text = obs.get("text", "")
        step = self._pending or next(self._steps, None)
        if step is None:
            return ToolCall(name="send_msg_to_user", arguments={"text": "done"})
        resolved, missing = self._resolve(step, listed_ids(obs.get("text", "")))
        if missing is None:
            self._pending, self._waited = None, 0
            return resolved
        if self._waited >= LISTED_WAIT_STEPS:
            raise UnlistedTarget(f"the solver of miniwob.{self.name} acts ({step.name}) on {self._describe(missing)}, which the "
                                 "observation it was given does not list: an agent could not act on it (list it in "
                                 "the observation, or act on what is listed)")
        self._pending, self._waited = step, self._waited + 1
        return ToolCall(name="noop", arguments={"wait_ms": 100})

    def _resolve(self, step: ToolCall, listed: set[str]) -> tuple[ToolCall, str | None]:
        """The step with its element references turned into the observation's ids, or the first
        target (a reference or an id) that the observation does not list."""
        args = dict(step.arguments)
        for key in TARGET_ARGS:
            value = str(args.get(key, ""))
            if key not in args:
                continue
            if value.startswith(REF):
                ident = self.env.read_page(ID_OF_JS, value[len(REF):])
                if ident is None or ident not in listed:
                    return step, value
                args[key] = self.env.element_id(value[len(REF):])  # the same id (it has one); whoever watches
                # element_id (benchmarks/web_miniwob.py maps ids to selectors for its BrowserGym replay) sees it
            elif value not in listed:
                return step, value
        return ToolCall(name=step.name, arguments=args), None

    def _describe(self, target: str) -> str:
        """An element for an error message: its id (if it has one) and the start of its HTML."""
        selector = target[len(REF):] if target.startswith(REF) else f'[data-agid="{target}"]'
        try:
            ident, html = self.env.read_page(f"(s) => [({ID_OF_JS})(s), ({DESCRIBE_JS})(s)]", selector)
        except Exception as exc:  # noqa: BLE001 - only a description for the error
            ident, html = None, f"(unreadable: {type(exc).__name__})"
        return f"{'[' + str(ident) + '] ' if ident else ''}{html}"


def policy(env: Any, task: Any) -> MiniwobPolicy:
    return MiniwobPolicy(env, task)


from agentgym.envs.web.miniwob_tasks import EXCLUDED, LITE  # noqa: E402,F401 - the solvers register themselves
from agentgym.envs.web import miniwob_apps, miniwob_coords, miniwob_more  # noqa: E402,F401 - likewise
