"""What the LLM user simulator may and may not say, from host-side task fields only: the secrets
its deterministic post-filter refuses in a reply (SQL, fragments of the hidden SQL, expected result
values, other ambiguities' clarifications) and the clauses of the clear query that are safe to use
when the agent asks about an unannotated part of the request. See simulator_llm for the stages."""

from __future__ import annotations

import re

from agentgym.envs.sql.models import SqlTask
from agentgym.envs.sql.simulator import _stem, _tokens

# ---- the post-filter's view of a task's secrets -----------------------------------------------------
_SQL_TOKEN = re.compile(r"'[^']*'|[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*|\d+(?:\.\d+)?|[<>=!]+|[(),*]")
_NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?")
_SQL_PATTERNS = [
    re.compile(p, re.IGNORECASE | re.DOTALL)
    for p in (
        r"\bselect\b.{0,300}?\bfrom\s+[a-z_]",
        r"\binsert\s+into\b",
        r"\bupdate\s+[a-z_]\w*\s+set\b",
        r"\bdelete\s+from\b",
        r"\b(create|alter|drop|truncate)\s+(table|view|index|database|schema)\b",
        r"\bgroup\s+by\b",
        r"\border\s+by\s+[a-z_][\w.]*\s*(asc|desc|,|;|$)",
        r"\b(coalesce|nullif|ifnull|sum|avg|count|min|max|round|cast|strftime|date_trunc|extract)\s*\(",
        r"\bwhere\s+[a-z_][\w.]*\s*(=|<>|!=|<=|>=|<|>|\bin\s*\(|\bis\s+(not\s+)?null\b|\blike\b|\bbetween\b)",
        r"\bjoin\s+[a-z_]\w*(\s+(as\s+)?[a-z_]\w*)?\s+on\b",
        r"\bcase\s+when\b",
        r"\blimit\s+\d+",
        r"\b[a-z_]\w*\.[a-z_]\w*\s*(=|<>|!=|<|>)",
        r"```",
    )
]


def _sql_grams(text: str, n: int = 4) -> set[tuple[str, ...]]:
    toks = _SQL_TOKEN.findall(text.lower())
    return {tuple(toks[i:i + n]) for i in range(len(toks) - n + 1)}


def _squash(text: str) -> str:
    return " ".join(text.lower().split())


def _numbers(text: str) -> set[float]:
    out = set()
    for m in _NUMBER.findall(text):
        try:
            out.add(float(m.replace(",", "")))
        except ValueError:
            continue
    return out


class Secrets:
    """What no reply may contain: built once per task, from host-side fields only."""

    MAX_VALUES = 20_000

    def __init__(self, task: SqlTask):
        hidden_sql = task.phase1.gold_sql + task.follow_up.gold_sql
        hidden_sql += [s for a in task.ambiguities for s in a.alt_sql]
        snippets = [a.sql_snippet for a in task.ambiguities if a.sql_snippet]
        self.grams: set[tuple[str, ...]] = set()
        for s in hidden_sql + snippets:
            self.grams |= _sql_grams(s)
        self.fragments = {_squash(s) for s in hidden_sql + snippets if len(s.strip()) >= 6}
        self.strings: set[str] = set()
        self.numbers: set[float] = set()
        for check in task.phase1.checks + task.follow_up.checks:
            for row in check.expected:
                for v in row:
                    if len(self.strings) + len(self.numbers) >= self.MAX_VALUES:
                        break
                    if isinstance(v, bool) or v is None:
                        continue
                    if isinstance(v, (int, float)):
                        self.numbers.add(float(v))
                    elif len(str(v).strip()) >= 3:
                        self.strings.add(_squash(str(v)))
        self.clarifications = {a.id: _squash(a.clarification) for a in task.ambiguities}

    def leak(self, text: str, allowed: str, chosen: str | None) -> str | None:
        """Why `text` may not go to the agent, or None. Anything also in `allowed` (what stage 2
        was given) is not a leak: the annotation may say it."""
        for pat in _SQL_PATTERNS:
            if pat.search(text) and not pat.search(allowed):
                return "sql"
        if (_sql_grams(text) & self.grams) - _sql_grams(allowed):
            return "hidden sql fragment"
        low, allowed_low = _squash(text), _squash(allowed)
        if any(f in low and f not in allowed_low for f in self.fragments):
            return "hidden sql fragment"
        if any(s in low and s not in allowed_low for s in self.strings):
            return "result value"
        for x in _numbers(text) - _numbers(allowed):
            if any(abs(x - v) <= max(0.006, 5e-4 * abs(v)) for v in self.numbers):
                return "result value"
        if any(c in low and c not in allowed_low for aid, c in self.clarifications.items() if aid != chosen):
            return "another ambiguity"
        return None


_CLAUSE_SPLIT = re.compile(r"[.;:?!,]\s+|[.;:?!]$|\s+(?=(?:with|where|whose|over|that|counting|excluding|including)\b)")


def stems(text: str) -> set[str]:
    return {_stem(w) for w in _tokens(text)}


def safe_clauses(task: SqlTask) -> list[str]:
    """Clauses of the clear query that add nothing an annotated ambiguity resolves: every word
    they add to the ambiguous request is in no clarification, snippet or term, and they add no
    number. Only these may inform an answer about an unannotated part of the request."""
    known = stems(task.amb_query)
    secret = set()
    for a in task.ambiguities:
        secret |= stems(a.clarification) | stems(a.sql_snippet) | stems(a.term)
    out = []
    for clause in _CLAUSE_SPLIT.split(task.clear_query):
        clause = clause.strip(" .;:,")
        if not clause:
            continue
        new = stems(clause) - known
        if new & secret or any(any(ch.isdigit() for ch in w) for w in new):
            continue
        out.append(clause)
    return out
