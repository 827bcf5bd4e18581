"""The web domain: Playwright over Debian's Chromium on locally served apps, with tasks checked
against the sites' server state. See envs/web/README.md (and "bring your own site" there)."""

from __future__ import annotations

SITE_IDS = {"shop": "an online shop (catalogue, search, cart, checkout, orders)",
            "tracker": "an issue tracker (filters, issues, comments, labels, assignees)",
            "admin": "an admin back office (employee table with filters, sort, pagination; edit forms)",
            "booking": "a meeting-room booking calendar",
            "widgets": "MiniWoB-style widgets (form, date picker, drag and drop, hover menu, tabs, checkboxes)"}


def register_web_envs() -> list[str]:
    """Register this domain's ids (string entry points: nothing heavy is imported until make())."""
    from agentgym.registry import register

    ids = []
    for site, what in SITE_IDS.items():
        register(f"web-{site}", "agentgym.envs.web.env:WebEnv", kwargs={"sites": [site]},
                 description=f"Web browser tasks on {what}; checked against server state.",
                 tags=["web", site, "heavy"], runtimes=["local", "docker"])
        ids.append(f"web-{site}")
    register("web", "agentgym.envs.web.env:WebEnv", kwargs={},
             description="Web browser tasks on all five built-in sites (every template; split='train'|'test' "
                         "picks one side of the split by template).",
             tags=["web", "heavy"], runtimes=["local", "docker"])
    register("web-lite", "agentgym.envs.web.env:WebEnv", kwargs={"per_template": 1},
             description="One web task per template across the five sites (a quick spread of every kind).",
             tags=["web", "lite", "heavy"], runtimes=["local", "docker"])
    register("web-miniwob", "agentgym.envs.web.miniwob:make_env", kwargs={},
             description="MiniWoB++ (the miniwob package's pages, unedited): every task with a scripted solver, seeded "
                         "per episode, rewarded by the page's own raw reward read as BrowserGym reads it.",
             tags=["web", "miniwob", "heavy"], runtimes=["local", "docker"])
    register("web-miniwob-lite", "agentgym.envs.web.miniwob:make_lite", kwargs={},
             description="Ten MiniWoB++ tasks, one of each common widget (buttons, links, checkboxes, text, login, "
                         "list, tabs, focus, autocomplete).",
             tags=["web", "miniwob", "lite", "heavy"], runtimes=["local", "docker"])
    return [*ids, "web", "web-lite", "web-miniwob", "web-miniwob-lite"]
