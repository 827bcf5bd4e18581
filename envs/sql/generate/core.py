"""Building blocks of the database generator: table/column specs, value helpers, writers.

Determinism is the contract here: the same seed gives byte-identical files on any machine. So
every random draw goes through one random.Random, nothing iterates a set or relies on hash order,
floats are rounded before they are written and written with repr (shortest round-trip form), and
gzip gets mtime=0 and no file name.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import random
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from agentgym.envs.sql.models import KBEntry

INSERT_BATCH = 200  # rows per INSERT statement: short lines for diffs, few statements for speed


@dataclass
class Column:
    name: str
    type: str  # INTEGER, REAL, TEXT, DATE: a portable subset that transpiles to PostgreSQL
    meaning: str
    pk: bool = False
    ref: str | None = None  # "table(column)"
    on_delete: str | None = None  # "CASCADE" where a parent's rows own the children
    not_null: bool = False


@dataclass
class Table:
    name: str
    comment: str
    columns: list[Column]
    rows: list[tuple[Any, ...]] = field(default_factory=list)


@dataclass
class Database:
    db_id: str
    title: str
    tables: list[Table]
    kb: list[KBEntry]

    def table(self, name: str) -> Table:
        return next(t for t in self.tables if t.name == name)


class DomainFacts(BaseModel):
    """The parts of a domain that the task templates are written against.

    Templates refer to the fact table as alias f and the entity table as alias e; every phrase
    here is what a user or a clear request calls the thing.
    """

    model_config = ConfigDict(frozen=True)

    db: str
    entity_table: str
    entity_key: str
    entity_label: str
    entity_noun: str
    entity_plural: str
    entity_group_col: str
    entity_group_noun: str
    fact_table: str
    fact_key: str
    fact_fk: str
    fact_noun: str
    fact_plural: str
    date_col: str
    amount_col: str
    amount_noun: str
    adjust_col: str  # nullable; NULL means "no adjustment"
    adjust_noun: str
    adjust_sign: int  # metric = amount + sign * COALESCE(adjust, 0)
    status_col: str
    settled: list[str]
    open_status: str
    expired_status: str
    cancel_status: str
    failed_status: str  # another unsuccessful status, the one a careless DELETE sweeps up too
    category_col: str
    category_noun: str
    categories: list[str]
    child_table: str  # references the fact table ON DELETE CASCADE
    flag_table: str
    flag_fk: str
    years: list[int]
    metric_name: str
    metric_vague: str
    high_value_name: str
    high_value_vague: str
    high_value_threshold: float
    lifetime_name: str
    premium_name: str
    premium_vague: str
    premium_threshold: float
    settled_name: str
    gross_name: str
    adjust_name: str

    @property
    def metric_sql(self) -> str:
        op = "-" if self.adjust_sign < 0 else "+"
        return f"f.{self.amount_col} {op} COALESCE(f.{self.adjust_col}, 0)"

    @property
    def settled_sql(self) -> str:
        return f"f.{self.status_col} IN ({', '.join(sql_literal(s) for s in self.settled)})"


# KB ids of the generic entries every domain has (tasks refer to them by these ids).
KB_GROSS, KB_ADJUST, KB_METRIC, KB_SETTLED, KB_HIGH_VALUE, KB_LIFETIME, KB_PREMIUM = range(7)


def generic_kb(f: DomainFacts, extra: list[tuple[str, str, str, str, list[int]]]) -> list[KBEntry]:
    """The seven entries the templates use, then the domain's own (name, description,
    definition, type, children) entries; parent_knowledge is filled in as the reverse edge."""
    settled = ", ".join(sql_literal(s) for s in f.settled)
    op = "minus" if f.adjust_sign < 0 else "plus"
    entries = [
        (f.gross_name, f"The recorded {f.amount_noun} of a {f.fact_noun}, before any {f.adjust_noun}.",
         f"{f.fact_table}.{f.amount_col}", "domain_knowledge", []),
        (f.adjust_name, f"The {f.adjust_noun} attached to a {f.fact_noun}; a missing value means none.",
         f"COALESCE({f.fact_table}.{f.adjust_col}, 0)", "value_illustration", []),
        (f.metric_name, f"What a {f.fact_noun} is really worth to the business: {f.gross_name} {op} {f.adjust_name}.",
         f"{f.fact_table}.{f.amount_col} {'-' if f.adjust_sign < 0 else '+'} COALESCE({f.fact_table}.{f.adjust_col}, 0)",
         "calculation_knowledge", [KB_GROSS, KB_ADJUST]),
        (f.settled_name, f"A {f.fact_noun} that counts for reporting: its status is final and successful.",
         f"{f.fact_table}.{f.status_col} IN ({settled})", "domain_knowledge", []),
        (f.high_value_name, f"A {f.settled_name.lower()} whose {f.metric_name} reaches the high-value line.",
         f"{f.settled_name} AND {f.metric_name} >= {f.high_value_threshold:g}", "calculation_knowledge",
         [KB_METRIC, KB_SETTLED]),
        (f.lifetime_name, f"Everything a {f.entity_noun} has been worth: the sum of {f.metric_name} over their "
         f"{f.settled_name.lower()}s, all time.", f"SUM({f.metric_name}) over the {f.entity_noun}'s {f.settled_name}s",
         "calculation_knowledge", [KB_METRIC, KB_SETTLED]),
        (f.premium_name, f"A {f.entity_noun} whose {f.lifetime_name} is above the premium line.",
         f"{f.lifetime_name} > {f.premium_threshold:g}", "calculation_knowledge", [KB_LIFETIME]),
    ]
    entries += extra
    out = [KBEntry(id=i, knowledge=n, description=d, definition=df, type=t, children_knowledge=list(c))
           for i, (n, d, df, t, c) in enumerate(entries)]
    for e in out:
        for child in e.children_knowledge:
            out[child].parent_knowledge.append(e.id)
    return out


# ---- value helpers -----------------------------------------------------------------------------
FIRST = ["Ada", "Bruno", "Chen", "Dalia", "Emeka", "Farah", "Goran", "Hana", "Ivo", "Jun", "Kira", "Luis",
         "Mei", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Viktor", "Wen", "Yara", "Zoe"]
LAST = ["Abara", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito", "Jensen",
        "Kowalski", "Lopez", "Moreau", "Novak", "Okafor", "Patel", "Rossi", "Silva", "Tanaka", "Urban",
        "Varga", "Weber", "Xu", "Yilmaz", "Zhang"]
CITIES = ["Lisbon", "Nairobi", "Osaka", "Denver", "Krakow", "Lyon", "Pune", "Quito", "Tampere", "Cork",
          "Austin", "Porto", "Seoul", "Accra", "Ghent"]


class Draw:
    """Seeded draws with the edge cases tasks need: NULLs, zeros, negatives, large values, ties."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def pick(self, seq: list[Any], weights: list[float] | None = None) -> Any:
        return self.rng.choices(seq, weights=weights, k=1)[0]

    def name(self) -> str:
        return f"{self.pick(FIRST)} {self.pick(LAST)}"

    def date(self, start: str, end: str) -> str:
        a, b = dt.date.fromisoformat(start).toordinal(), dt.date.fromisoformat(end).toordinal()
        return dt.date.fromordinal(self.rng.randint(a, b)).isoformat()

    def money(self, lo: float, hi: float, *, zero: float = 0.0, negative: float = 0.0, large: float = 0.0,
              tie_values: tuple[float, ...] = ()) -> float:
        """A 2-decimal amount, sometimes exactly 0, negative (refunds, reversals), very large,
        or one of a few shared values so that ties exist."""
        r = self.rng.random()
        if r < zero:
            return 0.0
        if r < zero + negative:
            return -round(self.rng.uniform(lo, hi) / 4, 2)
        if r < zero + negative + large:
            return round(self.rng.uniform(hi * 20, hi * 200), 2)
        if tie_values and r < zero + negative + large + 0.03:
            return self.pick(list(tie_values))
        return round(self.rng.uniform(lo, hi), 2)

    def maybe(self, p_null: float, value: Any) -> Any:
        return None if self.rng.random() < p_null else value


def sql_literal(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    return "'" + str(v).replace("'", "''") + "'"


# ---- writers -----------------------------------------------------------------------------------
def _create(t: Table, with_meanings: bool) -> str:
    lines = []
    fks = []
    for c in t.columns:
        decl = f"  {c.name} {c.type}"
        if c.pk:
            decl += " PRIMARY KEY"
        elif c.not_null:
            decl += " NOT NULL"
        lines.append((decl, c.meaning if with_meanings else ""))
        if c.ref:
            fks.append(f"  FOREIGN KEY ({c.name}) REFERENCES {c.ref}" + (f" ON DELETE {c.on_delete}" if c.on_delete else ""))
    body = [d for d, _ in lines] + fks
    out = [f"-- {t.comment}", f"CREATE TABLE {t.name} ("]
    for i, text in enumerate(body):
        comma = "," if i < len(body) - 1 else ""
        meaning = lines[i][1] if i < len(lines) else ""
        out.append(f"{text}{comma}" + (f"  -- {meaning}" if meaning else ""))
    out.append(");")
    return "\n".join(out)


def dump_sql(db: Database) -> str:
    parts = [f"-- agentgym SQL database '{db.db_id}': {db.title}",
             "-- Generated; do not edit. Regenerate with: python -m agentgym.envs.sql.generate", ""]
    for t in db.tables:
        parts.append(_create(t, with_meanings=True))
        parts.append("")
    for t in db.tables:
        for i in range(0, len(t.rows), INSERT_BATCH):
            batch = t.rows[i:i + INSERT_BATCH]
            values = ",\n".join("(" + ",".join(sql_literal(v) for v in r) + ")" for r in batch)
            parts.append(f"INSERT INTO {t.name} VALUES\n{values};")
    return "\n".join(parts) + "\n"


def schema_text(db: Database, sample_rows: int = 3) -> str:
    """CREATE statements with comments and a few sample rows: what an agent reads first."""
    parts = [f"-- Database '{db.db_id}': {db.title}", ""]
    for t in db.tables:
        parts.append(_create(t, with_meanings=True))
        parts.append(f"-- {len(t.rows)} rows; first {min(sample_rows, len(t.rows))}:")
        parts.append("-- " + " | ".join(c.name for c in t.columns))
        for r in t.rows[:sample_rows]:
            parts.append("-- " + " | ".join("NULL" if v is None else str(v) for v in r))
        parts.append("")
    return "\n".join(parts)


def column_meanings(db: Database) -> dict[str, str]:
    return {f"{db.db_id}|{t.name}|{c.name}": c.meaning for t in db.tables for c in t.columns}


def kb_jsonl(db: Database) -> str:
    return "".join(e.model_dump_json() + "\n" for e in db.kb)


def gzip_bytes(text: str) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as f:
        f.write(text.encode("utf-8"))
    return buf.getvalue()


def render_files(db: Database) -> dict[str, bytes]:
    """Every committed file of one database, name -> bytes."""
    return {
        "dump.sql.gz": gzip_bytes(dump_sql(db)),
        "schema.txt": schema_text(db).encode("utf-8"),
        "column_meaning_base.json": (json.dumps(column_meanings(db), indent=1) + "\n").encode("utf-8"),
        "kb.jsonl": kb_jsonl(db).encode("utf-8"),
    }
