"""WebEnv: browser tasks on locally served sites, checked against the sites' server state.

Observation: {"text", "url", "tabs", "focused", "last_action_error", "chat"} (+ "screenshot",
an RGB array, when screenshot=True). "text" holds the action's result and the page as an
accessibility-tree-like text with element ids; the other keys repeat the structured parts.
Episodes end with send_msg_to_user (the answer / "done") or report_infeasible.

No cookie, storage, tab, history or init script carries over from one episode to the next. An
env's episodes share one browser context, recycled between them (held.py, Session.recycle: a new
tab, every other closed, cookies and the sites' storage cleared), which is much faster than a new
context; one that cannot be recycled is replaced by a new one. With prewarm (the default), an env
reset more than once whose context will not be recycled makes the next one in the background; not
while the shared browser holds more contexts than there are CPU cores.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from agentgym.actions import NoArgs, Tool, ToolCall, ToolResult
from agentgym.env import AgentEnv
from agentgym.policy import Policy, ScriptedPolicy
from agentgym.sandbox.factory import resolve_runtime
from agentgym.spaces import TextSpace
from agentgym.envs.web import actions as A
from agentgym.envs.web import byo
from agentgym.envs.web.browser import BrowserHost
from agentgym.envs.web.held import RECYCLE, Held, release_soon
from agentgym.envs.web.hosting import SiteSpec, make_host
from agentgym.envs.web.observation import COORDS_NOTE
from agentgym.envs.web.pagecalls import page_call
from agentgym.envs.web.pointer import pointer_tools
from agentgym.envs.web.session import BrowserActionError, Observation, Session, VIEWPORT
from agentgym.envs.web.report import grader_report as web_grader_report
from agentgym.envs.web.tasks.checks import EpisodeEnd, WebGrade, grade_checks, hook_key
from agentgym.envs.web.tasks.models import HookCheck, OracleStep, WebTask

EXTRA_KEYS = ("url", "tabs", "focused", "last_action_error", "chat")


def _held_attr(name: str) -> property:
    return property(lambda self: getattr(self._held, name), lambda self, v: setattr(self._held, name, v))


class WebEnv(AgentEnv):
    """Browser tasks over the given sites. `tasks` defaults to the built-in catalogue for them.

    browser="host" (the default): the process's shared Chromium, launched here by Playwright.
    browser="container" (runtime="docker" only): the env's own Chromium in a container on its
    sites' internal network, driven over CDP: no internet and no host loopback even for requests
    that would slip past the route filter and the proxy; slower to start (a container per env).
    coords=True: each element line of the page text ends with its box (@x,y,w,h, viewport CSS
    pixels) and the tools add mouse_click, mouse_move, mouse_down, mouse_up, mouse_drag, wheel and
    select_text (pointer.py); False (the default) leaves the tools and the page text as they are.
    """

    host = _held_attr("host")  # the site servers (SiteHost)
    browser = _held_attr("browser")  # this env's share of the process's Chromium (BrowserHost)
    session = _held_attr("session")  # the episode's browser context (Session)

    def __init__(self, runtime: str = "auto", sites: Sequence[str | SiteSpec | dict] | None = None,
                 tasks: Sequence[WebTask | dict] | None = None, split: str | None = None,
                 per_template: int | None = None, screenshot: bool = False, prewarm: bool = True,
                 browser: str = "host", coords: bool = False, **kwargs: Any):
        if not isinstance(coords, bool):
            raise ValueError(f"coords={coords!r}: use true or false (true: element boxes and the mouse_*, wheel, select_text tools)")
        self.coords = coords
        self.runtime = resolve_runtime(runtime)  # type: ignore[arg-type]
        if browser not in ("host", "container"):
            raise ValueError(f"browser={browser!r}: use 'host' (Chromium launched here) or 'container' (runtime='docker')")
        if browser == "container" and self.runtime != "docker":
            raise ValueError("browser='container' runs Chromium in a container on the sites' Docker network: "
                             "it needs runtime='docker' (and a Docker engine)")
        self.browser_mode = browser
        from agentgym.envs.web.sites import BUILTIN_SITES

        specs = [s if isinstance(s, SiteSpec) else SiteSpec(name=s) if isinstance(s, str) else SiteSpec.model_validate(s)
                 for s in (sites or BUILTIN_SITES)]
        self.site_specs = specs
        if tasks is None:
            from agentgym.envs.web.tasks.catalog import build_tasks

            tasks = build_tasks([s.name for s in specs if s.builtin])
        chosen = [t if isinstance(t, WebTask) else WebTask.model_validate(t) for t in tasks]
        chosen = [t for t in chosen if split is None or t.split == split]
        if per_template:
            seen: dict[str, int] = {}
            chosen = [t for t in chosen if seen.setdefault(t.template, 0) < per_template and not seen.__setitem__(t.template, seen[t.template] + 1)]
        names = {s.name for s in specs}
        for t in chosen:
            if not set(t.sites) <= names:
                raise ValueError(f"task {t.id} uses sites {t.sites} but this env serves {sorted(names)}")
        self._tasks = {t.id: t for t in chosen}
        self.screenshot = screenshot
        self.prewarm = prewarm
        self._resets = 0
        self._calls: list[tuple[str, Any]] = []  # this episode's browser actions and id lookups, for fork()
        self._held = Held()
        self._finalizer = weakref.finalize(self, release_soon, self._held)
        self._before: dict[str, Any] = {}
        self._obs: Observation | None = None
        self._error = ""
        self._chat: list[tuple[str, str]] = []
        self.last_png: bytes | None = None
        self.last_check: str = ""
        self.last_grade: WebGrade | None = None  # every check's expected vs got: grader_report() only
        self._reset_seed: int | None = None
        self.page_seed = 0  # the episode's seed, as the sites' init scripts see it
        self.intent = ""  # the episode's instruction (the task's intent, then what the page says)
        super().__init__(**kwargs)
        obs_spaces: dict[str, spaces.Space] = {"text": TextSpace(), **{k: TextSpace() for k in EXTRA_KEYS}}
        if screenshot:
            obs_spaces["screenshot"] = spaces.Box(0, 255, (VIEWPORT["height"], VIEWPORT["width"], 3), np.uint8)
        self.observation_space = spaces.Dict(obs_spaces)

    # ---- domain hooks -----------------------------------------------------------------------------
    def task_ids(self) -> list[str]:
        return list(self._tasks)

    def required_images(self) -> list[str]:
        """The images a docker-runtime episode starts, made on a Ray node before its first one: the
        sites container's, and the browser's with browser='container'; none on the local runtime."""
        from agentgym.envs.web.browser_container import BROWSER_IMAGE
        from agentgym.envs.web.hosting import SITES_IMAGE

        if self.runtime != "docker":
            return []
        return [SITES_IMAGE] + ([BROWSER_IMAGE] if self.browser_mode == "container" else [])

    def task(self, task_id: str | None = None) -> WebTask:
        return self._tasks[task_id or self.task_id or ""]

    def _start_episode(self, task_id: str) -> str:
        task = self._tasks[task_id]
        self._calls = []
        self.page_seed = byo.episode_seed(self._reset_seed, self.np_random)
        self._start_browser(task)
        self.intent = task.intent
        if task.intent_from_page:
            said = byo.read_instruction(lambda js: self.browser.call(page_call(self.session.page.evaluate(js))), task.intent_from_page)
            self.intent = f"{task.intent} {said}".strip()
        self._error = ""
        self._chat = [("user", self.intent)]
        self.last_check, self.last_grade = "", None
        page = self._observe()
        if RECYCLE and self.session.recyclable:  # the next episode's tab, while the agent reads this page
            self.browser.loop.call_soon_threadsafe(self.session.make_next_tab)
        return (f"Task ({task_id}): {self.intent}\nWork in the browser with the tools. When you are done, call "
                "send_msg_to_user (with the answer, if the task asks a question); if the task cannot be done on these "
                f"sites, call report_infeasible. Both end the task.{' ' + COORDS_NOTE if self.coords else ''}\n\n{page}")

    def _start_browser(self, task: WebTask) -> None:
        """Sites reset (their state before the episode kept for the checks), and a context at the start page."""
        if self.browser is not None and not self.browser.alive:  # Chromium died: let go of it, take a new one
            BrowserHost.release(self.browser)
            self.browser = None
            if self.browser_mode == "container" and self.host is not None:  # its container went with it
                self.host.close()
                self.host = None
        if self.host is None:
            self.host = make_host(self.runtime, self.site_specs, self.browser_mode)
        if self.browser is None:
            self.browser = BrowserHost.acquire(self.host.cdp_url)
        stateful = [s for s in task.sites if not self._spec(s).static_dir]  # a static folder has no state to reset
        for site in stateful:
            self.host.reset(site)
        self._before = {s: self.host.state(s) for s in stateful}
        origins = [self.host.origins[s] for s in task.sites]
        start = self.host.origins[task.start[0]] + task.start[1]
        hooked = any(isinstance(c, HookCheck) for c in task.checks)  # the start page is the task page
        session = (self._held.take_used() or self._held.take_spare()
                   or self.browser.call(Session.prepare(self.browser.browser, self.host.proxy_host, self.host.static_dirs)))
        try:  # the sites' init scripts, with the episode's seed, before the start page loads
            for site in task.sites:
                spec = self._spec(site)
                if spec.init_script:
                    js = byo.wrap_init_script(spec.init_script, self.host.origins[site], self.page_seed)
                    self.browser.call(session.add_episode_script(js))
        except BaseException:
            self.browser.call(session.close())
            raise
        self.browser.call(session.begin(origins, start, hooked))  # it closes the session if it fails
        self.session = session
        self._resets += 1
        # An env reset twice is likely to be reset again; but when the shared browser already holds
        # more contexts than there are cores (many envs in parallel), making spares only slows
        # everyone's steps down (16 parallel episodes on 2 cores: most actions then timed out).
        # A context that the next episode recycles needs no spare.
        if (self.prewarm and self._resets > 1 and not (RECYCLE and session.recyclable)
                and len(self.browser.browser.contexts) <= (os.cpu_count() or 1)):
            self._held.make_spare()

    def _spec(self, site: str) -> SiteSpec:
        return next(s for s in self.site_specs if s.name == site)

    def _end_episode(self) -> None:
        self._held.end_session(wait=False)  # off the next reset's path; close() waits for it

    def _fork_episode(self, clone: AgentEnv) -> None:
        """Own site servers and context, brought to this state by replaying the episode (fork.py)."""
        from agentgym.envs.web.fork import fork_into

        fork_into(self, clone)  # type: ignore[arg-type]

    def _close(self) -> None:
        self._held.release()

    # ---- observations -----------------------------------------------------------------------------
    def _observe(self) -> str:
        assert self.session is not None and self.browser is not None
        self._obs = self.browser.call(self.session.observe(self.coords))
        return self.page_text()

    def page_text(self) -> str:
        o = self._obs
        if o is None:
            return ""
        tabs = " | ".join(f"[{t.index}{'*' if t.active else ''}] {t.title or '(untitled)'} ({t.url})" for t in o.tabs)
        head = [f"URL: {o.url}", f"Tabs: {tabs}"]
        if o.snapshot.focused:
            head.append(f"Focused: {o.snapshot.focused}")
        if self._error:
            head.append(f"Last action error: {self._error}")
        return "\n".join(head) + "\n\n" + (o.snapshot.text or "(empty page)")

    def _extra(self) -> dict[str, Any]:
        o = self._obs
        extra: dict[str, Any] = {
            "url": o.url if o else "",
            "tabs": "\n".join(f"{t.index}{'*' if t.active else ''}\t{t.title}\t{t.url}" for t in o.tabs) if o else "",
            "focused": o.snapshot.focused if o else "",
            "last_action_error": self._error,
            "chat": "\n".join(f"{role}: {text}" for role, text in self._chat),
        }
        if self.screenshot:
            extra["screenshot"] = self._screenshot()
        return extra

    def _screenshot(self) -> np.ndarray:
        shape = (VIEWPORT["height"], VIEWPORT["width"], 3)
        if self.session is None or self.browser is None or not self.session.pages:
            return np.zeros(shape, np.uint8)
        png, w, h, rgba = self.browser.call(self.session.screenshot())
        self.last_png = png
        return np.frombuffer(rgba, np.uint8).reshape(h, w, 4)[:, :, :3].copy()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self._reset_seed = seed
        obs, info = super().reset(seed=seed, options=options)
        return {**obs, **self._extra()}, info

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = super().step(action)
        return {**obs, **self._extra()}, reward, terminated, truncated, info

    # ---- tools ------------------------------------------------------------------------------------
    def _act(self, what: Any) -> ToolResult:
        assert self.session is not None and self.browser is not None
        try:
            msg = self.browser.call(what)
            self._error = ""
        except BrowserActionError as exc:
            msg, self._error = f"Error: {exc}", str(exc)
        page = self._observe()
        return ToolResult(output=f"{msg}\n\n{page}", is_error=bool(self._error))

    def _tools(self) -> list[Tool]:
        from agentgym.envs.web.fork import FINAL_TOOLS, recorded

        tools = self._tool_list()
        for t in tools:  # browser actions are recorded, so that fork() can replay them
            if t.name not in FINAL_TOOLS:
                t.handler = recorded(self, t.name, t.handler)
        return tools

    def _tool_list(self) -> list[Tool]:
        s = lambda: self.session  # noqa: E731 - the session of the current episode, looked up at call time
        T = Tool
        return self._browser_tools(s) + (pointer_tools(self._act, s) if self.coords else []) + [
            T(name="send_msg_to_user", description="Send your answer or final message to the user. Ends the task.",
              params=A.MessageArgs, handler=lambda a: self._finish(a.text, False)),
            T(name="report_infeasible", description="Say the task cannot be done on these sites. Ends the task.",
              params=A.InfeasibleArgs, handler=lambda a: self._finish(a.reason, True)),
            T(name="noop", description="Do nothing (optionally wait).", params=A.NoopArgs,
              handler=lambda a: self._act(s().wait(a.wait_ms))),
        ]

    def _browser_tools(self, s: Any) -> list[Tool]:
        T = Tool
        return [
            T(name="click", description="Click an element by id.", params=A.ClickArgs,
              handler=lambda a: self._act(s().click(a.id, a.button, a.double))),
            T(name="fill", description="Replace the text of an input or textarea.", params=A.FillArgs,
              handler=lambda a: self._act(s().fill(a.id, a.value))),
            T(name="select_option", description="Choose option(s) of a dropdown (<select>) by label or value.",
              params=A.SelectArgs, handler=lambda a: self._act(s().select_option(a.id, [a.options] if isinstance(a.options, str) else a.options))),
            T(name="press", description="Press a key (optionally on an element).", params=A.PressArgs,
              handler=lambda a: self._act(s().press(a.key, a.id))),
            T(name="hover", description="Move the mouse over an element (opens hover menus).", params=A.ElementArgs,
              handler=lambda a: self._act(s().hover(a.id))),
            T(name="scroll", description="Scroll the page by pixels, or an element into view.", params=A.ScrollArgs,
              handler=lambda a: self._act(s().scroll(a.dx, a.dy, a.id))),
            T(name="drag", description="Drag an element and drop it on another.", params=A.DragArgs,
              handler=lambda a: self._act(s().drag(a.source, a.target))),
            T(name="goto", description="Open a URL in the active tab (only this task's sites).", params=A.GotoArgs,
              handler=lambda a: self._act(s().goto(a.url))),
            T(name="go_back", description="Go back in the active tab's history.", params=NoArgs,
              handler=lambda a: self._act(s().history(True))),
            T(name="go_forward", description="Go forward in the active tab's history.", params=NoArgs,
              handler=lambda a: self._act(s().history(False))),
            T(name="new_tab", description="Open a new tab (optionally at a URL) and switch to it.", params=A.NewTabArgs,
              handler=lambda a: self._act(s().new_tab(a.url))),
            T(name="tab_focus", description="Switch to the tab with this index.", params=A.TabArgs,
              handler=lambda a: self._act(s().tab_focus(a.index))),
            T(name="tab_close", description="Close a tab (default: the active one).", params=A.TabCloseArgs,
              handler=lambda a: self._act(s().tab_close(a.index))),
        ]

    def _finish(self, text: str, infeasible: bool) -> ToolResult:
        assert self.session is not None and self.browser is not None and self.host is not None
        self._chat.append(("assistant", text))
        task = self.task()
        # Page rewards are read now, when the agent ends the episode (never when a page says it is
        # done), from the task page's first document, whichever tab is active.
        hooks = {hook_key(c): self.browser.call(self.session.reward_hook(c.name, c.attempts))
                 for c in task.checks if isinstance(c, HookCheck)}
        end = EpisodeEnd(message=None if infeasible else text, infeasible=infeasible, url=self._obs.url if self._obs else "",
                         tab_urls=[t.url for t in self._obs.tabs] if self._obs else [], hooks=hooks)
        grade = grade_checks(task.checks, end, self.host.origins, self._before, self.host.state)
        ok, detail = grade.passed, grade.detail
        self.last_check, self.last_grade = detail, grade
        return ToolResult(output=f"Task ended. {'Passed' if ok else 'Failed'}.", terminated=True,
                          reward=1.0 if ok else 0.0, info={"passed": ok, "detail": detail})

    def grader_report(self) -> dict[str, Any] | None:
        """Every check's expected vs got (envs/web/report.py), read by the rollout after the episode;
        never in an observation or info (expected answers are secrets while it runs)."""
        return web_grader_report(self.last_grade)

    # ---- policies ---------------------------------------------------------------------------------
    def element_id(self, selector: str) -> str:
        """The element id of the first match of a CSS selector on the active page (for oracles)."""
        assert self.session is not None and self.browser is not None
        ident = self.browser.call(self.session.element_id(selector))
        self._calls.append(("element_id", selector))  # it may number elements: a fork replays it
        return ident

    def read_page(self, js: str, arg: Any = None) -> Any:
        """Evaluate a script on the active page and return its value (for reference policies that
        read a random problem off the page; never a tool of the agent's). It must not change the
        page: fork() replays only the tools and element_id lookups."""
        assert self.session is not None and self.browser is not None
        return self.browser.call(page_call(self.session.page.evaluate(js, arg)))

    def reference_policy(self) -> Policy:
        task = self.task()
        if task.oracle_policy:
            return byo.load_policy(task.oracle_policy, self, task)
        return OraclePolicy(self, task)

    def null_policy(self) -> Policy:
        """Ends at once with an empty message: no answer, no state change, no infeasibility report."""
        return ScriptedPolicy([ToolCall(name="send_msg_to_user", arguments={"text": ""})])


class OraclePolicy:
    """Plays a task's scripted oracle, resolving CSS selectors to element ids on the live page."""

    def __init__(self, env: WebEnv, task: WebTask):
        self.env, self.steps, self._i = env, list(task.oracle), 0

    def reset(self, obs: dict[str, Any], info: dict[str, Any]) -> None:
        self._i = 0

    def act(self, obs: dict[str, Any], info: dict[str, Any]) -> ToolCall:
        if self._i >= len(self.steps):
            return ToolCall(name="send_msg_to_user", arguments={"text": "done"})
        step: OracleStep = self.steps[self._i]
        self._i += 1
        args = dict(step.args)
        for name, selector in step.ids.items():
            args[name] = self.env.element_id(selector)
        if step.url is not None:
            assert self.env.host is not None
            args["url"] = self.env.host.origins[step.url[0]] + step.url[1]
        return ToolCall(name=step.tool, arguments=args)
