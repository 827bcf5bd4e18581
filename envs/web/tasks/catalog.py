"""The built-in task catalogue: every template over every built-in site."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from agentgym.envs.web.tasks.models import WebTask


@lru_cache(maxsize=None)
def _site_tasks(site: str) -> tuple[WebTask, ...]:
    from agentgym.envs.web.tasks import admin_booking_widgets as abw
    from agentgym.envs.web.tasks import shop_tracker as st

    makers = {"shop": st.shop_tasks, "tracker": st.tracker_tasks, "admin": abw.admin_tasks,
              "booking": abw.booking_tasks, "widgets": abw.widget_tasks}
    if site not in makers:
        raise ValueError(f"no built-in tasks for site {site!r}; built-in sites: {', '.join(makers)}")
    return tuple(makers[site]())


def build_tasks(sites: Iterable[str]) -> list[WebTask]:
    return [t for s in sites for t in _site_tasks(s)]
