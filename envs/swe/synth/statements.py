"""Issue-style problem statements written from an injected bug's OBSERVED failure (templates).

A statement names the public function or behaviour that misbehaves (from the mutated function's
module and qualified name), quotes a trimmed excerpt of what the failing run showed (the assertion
or exception message) and says what was expected. It never includes the diff, the original line or
the mutated line: `write_statement` drops any excerpt line that would leak them.
"""

from __future__ import annotations

import random
import re
from pathlib import PurePosixPath

from agentgym.envs.swe.synth.mutate import Mutation
from agentgym.envs.swe.synth.projects import Project

MAX_EXCERPT_LINES = 6
MAX_EXCERPT_CHARS = 600

TITLES = [
    "{subject} gives wrong results",
    "Regression in {subject}",
    "{subject} behaves incorrectly",
    "Bug: {subject} no longer works as documented",
    "Unexpected behaviour from {subject}",
    "{subject} is broken in {project} {version}",
]
OPENERS = [
    "After installing {project} {version} from source, {subject} does not do what it should.",
    "I think something is off with {subject} in {project} {version}.",
    "While using {project} {version} I ran into a problem with {subject}.",
    "{subject} in {project} {version} seems to have a bug.",
    "We hit a correctness problem in {project} {version}: {subject} misbehaves.",
]
OBSERVED = [
    "Running the project's own test suite shows the failure:",
    "This is what I see when I run the tests ({tests}):",
    "The test suite catches it; the failing run reports:",
    "Observed output (from {tests}):",
]
EXPECTED = [
    "Expected: {subject} should behave as documented, and the existing tests ({tests}) should pass.",
    "I would expect {subject} to work as it did before; the tests listed above should pass again.",
    "The expected behaviour is the documented one: the checks in {tests} describe it.",
    "Please fix {subject} so that it returns the correct result again (see {tests}).",
]


def module_name(project: Project, path: str) -> str:
    """Dotted module for a source path ('src/cachetools/func.py' -> 'cachetools.func')."""
    p = PurePosixPath(path)
    if project.src_subdir and p.parts[0] == project.src_subdir:
        p = PurePosixPath(*p.parts[1:])
    parts = list(p.with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def subject_for(project: Project, mutation: Mutation) -> str:
    """The public name to blame: the function itself, or its nearest public owner."""
    mod = module_name(project, mutation.file)
    names = mutation.function.split(".")
    public = [n for n in names if not n.startswith("_") or (n.startswith("__") and n.endswith("__"))]
    if len(public) == len(names):
        if names[-1] == "__init__" and len(names) > 1:
            return f"constructing `{mod}.{'.'.join(names[:-1])}`"
        return f"`{mod}.{'.'.join(names)}`"
    while names and not (names[-1] in public):
        names.pop()
    if names:
        return f"`{mod}.{'.'.join(names)}`"
    return f"the `{mod}` module"


def _excerpt(message: str, forbidden: list[str]) -> str:
    lines: list[str] = []
    for line in message.splitlines():
        s = line.rstrip()
        if not s.strip():
            continue
        if any(f and f in s for f in forbidden):
            continue  # would leak the buggy or the original code
        lines.append(s[:200])
        if len(lines) >= MAX_EXCERPT_LINES:
            break
    text = "\n".join(lines)
    return text[:MAX_EXCERPT_CHARS]


def _short_test(node_id: str) -> str:
    return node_id.split("::", 1)[-1]


def write_statement(project: Project, mutation: Mutation, messages: dict[str, str], seed: int) -> str:
    """A natural issue report for one validated bug (deterministic for a seed)."""
    rng = random.Random(seed)
    subject = subject_for(project, mutation)
    failing = sorted(messages)
    tests = ", ".join(f"`{_short_test(t)}`" for t in failing[:3]) + (" and others" if len(failing) > 3 else "")
    forbidden = [ln.strip() for ln in (mutation.original_snippet + mutation.mutated_snippet).splitlines()
                 if len(ln.strip()) >= 6]
    fmt = {"subject": subject, "project": project.name, "version": project.version, "tests": tests}
    title = rng.choice(TITLES).format(**fmt)
    title = title[0].upper() + title[1:]
    excerpts: list[str] = []
    for t in failing[:2]:
        ex = _excerpt(messages[t], forbidden)
        if ex:
            excerpts.append(f"{_short_test(t)}:\n{ex}")
    parts = [title, "", rng.choice(OPENERS).format(**fmt)]
    if excerpts:
        parts += ["", rng.choice(OBSERVED).format(**fmt), "", "```", "\n\n".join(excerpts), "```"]
    else:
        parts += ["", f"Several checks fail: {tests}."]
    parts += ["", rng.choice(EXPECTED).format(**fmt)]
    text = "\n".join(parts).strip() + "\n"
    return re.sub(r"\n{3,}", "\n\n", text)
