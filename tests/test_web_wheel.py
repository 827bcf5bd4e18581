"""The wheel (scroll and wheel tools) on a document that is navigating away: arming the wait for
the scroll fails there ("Execution context was destroyed"), and the wheel must still be sent, as
it was before the wait existed, not become a 'scroll failed' error. A fake page makes the moment
deterministic (a real page's navigation races the arm call)."""

from __future__ import annotations

import asyncio

from agentgym.envs.web.pointer import WHEEL_ARM_JS, WHEEL_WAIT_JS, wheel_landed


class _Page:
    def __init__(self, arm_fails: bool) -> None:
        self.arm_fails, self.calls = arm_fails, []
        outer = self

        class _Mouse:
            async def wheel(self, dx: float, dy: float) -> None:
                outer.calls.append(("wheel", dx, dy))

        self.mouse = _Mouse()

    async def evaluate(self, js: str) -> None:
        self.calls.append("arm" if js == WHEEL_ARM_JS else "wait" if js == WHEEL_WAIT_JS else js)
        if self.arm_fails:
            raise RuntimeError("Page.evaluate: Execution context was destroyed, most likely because of a navigation")


def test_a_navigating_document_still_gets_the_wheel() -> None:
    page = _Page(arm_fails=True)
    asyncio.run(wheel_landed(page, 0, 300))
    assert page.calls == ["arm", ("wheel", 0, 300)], "the wheel is sent, and no wait on a document never armed"


def test_an_armed_document_waits_for_the_scroll() -> None:
    page = _Page(arm_fails=False)
    asyncio.run(wheel_landed(page, 5, 7))
    assert page.calls == ["arm", ("wheel", 5, 7), "wait"]
