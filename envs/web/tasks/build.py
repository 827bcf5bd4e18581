"""Helpers for task templates: oracle steps and task construction with split by template."""

from __future__ import annotations

from typing import Any

from agentgym.envs.web.tasks.models import OracleStep, WebTask

# Templates held out for evaluation: the split is by template, so test tasks are new kinds of work.
TEST_TEMPLATES = {"shop_stock", "shop_order_total", "tracker_assignee", "tracker_close", "admin_salary",
                  "admin_count", "booking_who", "booking_cancel", "widget_checkboxes", "widget_menu"}


def click(sel: str) -> OracleStep:
    return OracleStep(tool="click", ids={"id": sel})


def fill(sel: str, value: str) -> OracleStep:
    return OracleStep(tool="fill", ids={"id": sel}, args={"value": value})


def select(sel: str, option: str) -> OracleStep:
    return OracleStep(tool="select_option", ids={"id": sel}, args={"options": option})


def hover(sel: str) -> OracleStep:
    return OracleStep(tool="hover", ids={"id": sel})


def drag(src: str, dst: str) -> OracleStep:
    return OracleStep(tool="drag", ids={"source": src, "target": dst})


def goto(site: str, path: str) -> OracleStep:
    return OracleStep(tool="goto", url=(site, path))


def new_tab(site: str, path: str) -> OracleStep:
    return OracleStep(tool="new_tab", url=(site, path))


def send(text: str) -> OracleStep:
    return OracleStep(tool="send_msg_to_user", args={"text": text})


def infeasible(reason: str) -> OracleStep:
    return OracleStep(tool="report_infeasible", args={"reason": reason})


def task(template: str, n: int, kind: str, site: str, start: str, intent: str, checks: list[Any],
         oracle: list[OracleStep]) -> WebTask:
    if oracle[-1].tool not in ("send_msg_to_user", "report_infeasible"):
        oracle = [*oracle, send("done")]
    return WebTask(id=f"{template}-{n}", template=template, kind=kind, sites=[site], start=(site, start), intent=intent,
                   checks=checks, oracle=oracle, min_steps=len(oracle),
                   split="test" if template in TEST_TEMPLATES else "train")
