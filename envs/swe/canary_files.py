"""The grading run's test files in the sandbox: read before the agent's code runs, written back with canaries.

Why its own module: the pytest grader (grading.py) reads the run's test files right after putting
them back (before anything of the agent's has run), plants must-fail canaries among them
(canaries.py) and writes them into the sandbox with their mtimes kept, then removes .git (with it,
a diff against the commit would show which tests were added). Where the spec's reinstall step runs
the agent's setup.py in between, every file read is written back, so what that code did to them
(a rewritten test, a link in place of one) is undone.
"""

from __future__ import annotations

import random
import secrets
import shlex

from agentgym.envs.swe.canaries import Canary, plant
from agentgym.sandbox import Sandbox


def read_tests(sbx: Sandbox, tests: list[str], max_bytes: int) -> dict[str, str]:
    """The run's .py test files (regular files up to max_bytes, no links): path -> text."""
    q = shlex.quote
    paths = [t for t in tests if t.endswith(".py")]
    if not paths:
        return {}
    listing = sbx.exec("for f in " + " ".join(q(p) for p in paths) + "; do "
                       "if [ -f \"$f\" ] && [ ! -L \"$f\" ]; then printf '%s\\t%s\\n' \"$(stat -c %s -- \"$f\")\" \"$f\"; fi; done",
                       timeout=60)
    files = {}
    for line in listing.stdout.splitlines():
        size, _, path = line.partition("\t")
        if path in paths and size.isdigit() and int(size) <= max_bytes:
            files[path] = sbx.read_file(path, max_bytes=max_bytes).decode("utf-8", "replace")
    return files


def plant_canaries(sbx: Sandbox, fail_to_pass: list[str], files: dict[str, str], scratch: str, count: int,
                   rewrite_all: bool = False) -> list[Canary]:
    """Plant canaries in the run's test files (their mtimes kept), then remove .git: with it, a diff
    against the commit would show which tests were added. rewrite_all: write every file back (the
    reinstall step ran the agent's code after they were read: it may have changed them)."""
    q = shlex.quote
    changed, canaries = plant(files, fail_to_pass, random.Random(secrets.token_bytes(32)), count)
    if rewrite_all:
        changed = {**files, **changed}
    if not changed:
        return []
    refs = {path: f"{scratch}/{secrets.token_hex(6)}" for path in changed}
    sbx.exec(" ; ".join(f"touch -r {q(p)} {q(r)}" for p, r in refs.items()), timeout=60)
    if rewrite_all:  # not through a link the agent's code may have put there
        sbx.exec("rm -f -- " + " ".join(q(p) for p in changed), timeout=60)
    for path, text in changed.items():
        sbx.write_file(path, text)
    sbx.exec(" ; ".join(f"touch -r {q(r)} {q(p)}" for p, r in refs.items()) + " ; rm -rf .git " +
             " ".join(q(r) for r in refs.values()), timeout=120)
    return canaries
