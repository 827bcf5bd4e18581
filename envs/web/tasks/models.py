"""Task data: a web task, its checker and its scripted oracle steps (pydantic at the boundary)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AnswerCheck(_M):
    """The message to the user must match: normalized exact, must include every item, or a number."""

    kind: Literal["answer"] = "answer"
    mode: Literal["exact", "must_include", "numeric"]
    expected: str | list[str] | float
    tolerance: float = 0.01


class StateCheck(_M):
    """A named check over the site's server state (before and after the episode)."""

    kind: Literal["state"] = "state"
    site: str
    fn: str = Field(description="name of a function in agentgym.envs.web.tasks.checks.STATE_CHECKS")
    params: dict[str, Any] = Field(default_factory=dict)


class UrlCheck(_M):
    """The active tab must show this site path (and query, when given)."""

    kind: Literal["url"] = "url"
    site: str
    path: str
    query: dict[str, str] | None = None


class TabsCheck(_M):
    """Every one of these site paths must be open in some tab."""

    kind: Literal["tabs"] = "tabs"
    site: str
    paths: list[str]


class InfeasibleCheck(_M):
    kind: Literal["infeasible"] = "infeasible"


class HookCheck(_M):
    """The page's own reward, for sites without server state: a global of the task page (by default
    window.agentgymReward) must be a number >= min when the episode ends. It is read only from the
    document the env opened as the task page, and only when that page was loaded once (see
    envs/web/taskpage.py). `attempts` names the page's own count of finished attempts, if it keeps
    one (MiniWoB: WOB_EPISODE_ID): the reward then also needs that count to be at most 1."""

    kind: Literal["hook"] = "hook"
    name: str = Field("agentgymReward", pattern=r"^[A-Za-z_$][A-Za-z0-9_$]*$")
    min: float = 1.0
    above: bool = Field(False, description="the value must be > min rather than >= min (BrowserGym counts a MiniWoB "
                        "episode solved when its raw reward is > 0)")
    attempts: str | None = Field(None, pattern=r"^[A-Za-z_$][A-Za-z0-9_$]*$")


Check = Annotated[Union[AnswerCheck, StateCheck, UrlCheck, TabsCheck, InfeasibleCheck, HookCheck], Field(discriminator="kind")]


class OracleStep(_M):
    """One scripted tool call. ``ids`` maps argument names to CSS selectors resolved to element
    ids on the live page; ``url`` = (site, path) becomes the absolute ``url`` argument."""

    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    ids: dict[str, str] = Field(default_factory=dict)
    url: tuple[str, str] | None = None


class WebTask(_M):
    id: str
    template: str
    kind: Literal["info", "state", "navigation", "multi_tab", "infeasible", "widget"]
    sites: list[str]
    start: tuple[str, str] = Field(description="(site, path) the episode starts on")
    intent: str
    checks: list[Check] = Field(description="all must pass")
    oracle: list[OracleStep]
    min_steps: int = Field(ge=1)
    split: Literal["train", "test"]
    intent_from_page: str | None = Field(None, description="a JavaScript expression evaluated in the start page once it "
                                         "has loaded: its text (or the 'utterance' of an object) is the instruction, "
                                         "after `intent`; e.g. \"document.querySelector('#query').textContent\"")
    oracle_policy: str | None = Field(None, description="'module:function'; function(env, task) returns the reference "
                                      "policy (reset(obs, info), act(obs, info) -> ToolCall) instead of the fixed `oracle` "
                                      "steps: for pages whose problem is random, a policy that reads the page")
