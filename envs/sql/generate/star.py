"""The star every domain shares (entity, fact, flag tables), filled with seeded data.

Domains differ in names, meanings, distributions and their own extra tables; the task templates
only need the star, so it is built once here and each domain module adds its flavour around it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agentgym.envs.sql.generate.core import CITIES, Column, DomainFacts, Draw, Table


@dataclass
class StarSpec:
    facts: DomainFacts
    entity_comment: str
    fact_comment: str
    flag_comment: str
    label_meaning: str
    group_meaning: str
    groups: list[str]
    since_col: str
    since_meaning: str
    status_weights: dict[str, float]
    category_weights: dict[str, float]
    category_meaning: str
    amount_range: tuple[float, float]
    amount_meaning: str
    adjust_range: tuple[float, float]
    adjust_null: float
    adjust_meaning: str
    flag_values: list[str]
    n_entities: tuple[int, int]  # (full, lite)
    n_facts: tuple[int, int]
    # Domain columns after the star's own ones: (columns, row function of (draw, index) -> values).
    entity_extra: tuple[list[Column], Callable[[Draw, int], tuple[Any, ...]]] = field(default=([], lambda d, i: ()))
    fact_extra: tuple[list[Column], Callable[[Draw, int], tuple[Any, ...]]] = field(default=([], lambda d, i: ()))
    ties: tuple[float, ...] = (49.99, 99.0, 250.0)


def build_star(d: Draw, s: StarSpec, lite: bool) -> tuple[Table, Table, Table]:
    f = s.facts
    n_ent = s.n_entities[1 if lite else 0]
    n_fact = s.n_facts[1 if lite else 0]
    e_cols, e_fn = s.entity_extra
    entity = Table(f.entity_table, s.entity_comment, [
        Column(f.entity_key, "INTEGER", f"unique id of the {f.entity_noun}", pk=True),
        Column(f.entity_label, "TEXT", s.label_meaning, not_null=True),
        Column(f.entity_group_col, "TEXT", s.group_meaning),
        Column("city", "TEXT", f"home city of the {f.entity_noun}; NULL when unknown"),
        Column(s.since_col, "DATE", s.since_meaning),
        *([] if lite else e_cols),
    ])
    first_year = min(f.years)
    for i in range(1, n_ent + 1):
        row = (i, d.name(), d.pick(s.groups), d.maybe(0.08, d.pick(CITIES)),
               d.date(f"{first_year - 3}-01-01", f"{max(f.years)}-06-30"))
        entity.rows.append(row + (() if lite else e_fn(d, i)))

    # Skewed activity: a few entities are very active, about a tenth have no facts at all.
    weights = [0.0 if d.rng.random() < 0.1 else d.rng.paretovariate(1.5) for _ in range(n_ent)]
    x_cols, x_fn = s.fact_extra
    fact = Table(f.fact_table, s.fact_comment, [
        Column(f.fact_key, "INTEGER", f"unique id of the {f.fact_noun}", pk=True),
        Column(f.fact_fk, "INTEGER", f"the {f.entity_noun} of this {f.fact_noun}",
               ref=f"{f.entity_table}({f.entity_key})", not_null=True),
        Column(f.date_col, "DATE", f"date of the {f.fact_noun} (YYYY-MM-DD)", not_null=True),
        Column(f.status_col, "TEXT", "lifecycle status: " + ", ".join(repr(k) for k in s.status_weights)),
        Column(f.category_col, "TEXT", s.category_meaning),
        Column(f.amount_col, "REAL", s.amount_meaning),
        Column(f.adjust_col, "REAL", s.adjust_meaning),
        *([] if lite else x_cols),
    ])
    statuses, sw = list(s.status_weights), list(s.status_weights.values())
    cats, cw = list(s.category_weights), list(s.category_weights.values())
    lo, hi = s.amount_range
    alo, ahi = s.adjust_range
    for i in range(1, n_fact + 1):
        owner = d.rng.choices(range(1, n_ent + 1), weights=weights, k=1)[0]
        amount = d.money(lo, hi, zero=0.02, negative=0.02, large=0.004, tie_values=s.ties)
        adjust = d.maybe(s.adjust_null, d.money(alo, ahi, zero=0.1))
        row = (i, owner, d.date(f"{first_year}-01-01", f"{max(f.years)}-12-31"), d.pick(statuses, sw),
               d.maybe(0.03, d.pick(cats, cw)), amount, adjust)
        fact.rows.append(row + (() if lite else x_fn(d, i)))
    fact.rows.sort(key=lambda r: (r[2], r[0]))  # ids in date order, as a real system assigns them
    fact.rows = [(i + 1,) + r[1:] for i, r in enumerate(fact.rows)]

    flags = Table(f.flag_table, s.flag_comment, [
        Column("flag_id", "INTEGER", "unique id of the flag (assigned automatically when omitted)", pk=True),
        Column(f.flag_fk, "INTEGER", f"the flagged {f.entity_noun}", ref=f"{f.entity_table}({f.entity_key})",
               not_null=True),
        Column("flag", "TEXT", "short label: " + ", ".join(repr(v) for v in s.flag_values)),
        Column("created_on", "DATE", "when the flag was set"),
        Column("note", "TEXT", "free-text note; often NULL"),
    ])
    for i in range(1, (6 if lite else 25) + 1):
        flags.rows.append((i, d.rng.randint(1, n_ent), d.pick(s.flag_values), d.date(f"{first_year}-01-01",
                           f"{max(f.years)}-12-31"), d.maybe(0.6, "raised by the service desk")))
    return entity, fact, flags


def child_rows(d: Draw, fact: Table, per_fact: tuple[int, int], make: Callable[[Draw, int, tuple], tuple]) -> list[tuple]:
    """Rows of a table owned by the fact table: per_fact=(min, max) children per fact row."""
    rows = []
    for fr in fact.rows:
        for _ in range(d.rng.randint(*per_fact)):
            rows.append((len(rows) + 1,) + make(d, fr[0], fr))
    return rows
