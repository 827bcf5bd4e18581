"""What a task template produces before validation: the task minus expected rows.

A template writes SQL and words; tasks/build.py runs the gold SQL to fill in expected results
and rejects drafts that fail validation. Templates refer to the fact table as `f` and the
entity table as `e` (see generate.core.DomainFacts).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agentgym.envs.sql.generate.core import DomainFacts
from agentgym.envs.sql.grading import Tolerance
from agentgym.envs.sql.models import Ambiguity

MONEY = Tolerance(abs=0.01, rel=1e-6)  # a cent, or a millionth: rounding to cents must pass


@dataclass
class CheckDraft:
    description: str
    query: str | None = None  # None: the submission's own result
    ordered: bool = False
    tolerance: dict[int, Tolerance] = field(default_factory=dict)


@dataclass
class PhaseDraft:
    query: str
    gold_sql: list[str]
    checks: list[CheckDraft]
    category: str = "read"
    statement: str = "select"
    knowledge_used: list[int] = field(default_factory=list)
    type: str = "attribute_change"  # follow-ups only
    # (SQL returning ranked values, n): the draft is rejected when rows n-1 and n tie, because a
    # LIMIT n would then have no single right answer.
    tie_probe: tuple[str, int] | None = None


@dataclass
class Draft:
    template: str
    variant: str
    amb_query: str
    ambiguities: list[Ambiguity]
    phase1: PhaseDraft
    follow_up: PhaseDraft


def year_sql(f: DomainFacts, year: int) -> str:
    return f"f.{f.date_col} >= '{year}-01-01' AND f.{f.date_col} < '{year + 1}-01-01'"


def gross_sql(f: DomainFacts) -> str:
    return f"f.{f.amount_col}"


def join_sql(f: DomainFacts) -> str:
    return f"{f.fact_table} f JOIN {f.entity_table} e ON e.{f.entity_key} = f.{f.fact_fk}"


def settled_words(f: DomainFacts) -> str:
    return " or ".join(repr(s) for s in f.settled)


def metric_words(f: DomainFacts) -> str:
    sign = "minus" if f.adjust_sign < 0 else "plus"
    return (f"the {f.metric_name}: the {f.amount_noun} {sign} the {f.adjust_noun}, "
            f"where a missing {f.adjust_noun} counts as zero")
