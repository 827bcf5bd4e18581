"""Read (analytics) task templates. Each returns a Draft for one domain and one variant.

Every critical ambiguity carries alt_sql: the submission a reasonable agent would write under
the other reading. tasks/build.py checks that it FAILS the task's checks, which is what makes
the ambiguity critical rather than decorative.
"""

from __future__ import annotations

from agentgym.envs.sql.generate.core import KB_HIGH_VALUE, KB_METRIC, KB_PREMIUM, KB_SETTLED, DomainFacts
from agentgym.envs.sql.models import Ambiguity
from agentgym.envs.sql.tasks.drafts import (
    MONEY, CheckDraft, Draft, PhaseDraft, gross_sql, join_sql, metric_words, settled_words, year_sql,
)


def _metric_ambiguity(f: DomainFacts, alt: list[str], aid: str = "a1") -> Ambiguity:
    return Ambiguity(
        id=aid, kind="knowledge", critical=True, term=f.metric_vague,
        keywords=["measure", "calculate", "compute", "metric", "definition", "mean", "value", "amount",
                  f.adjust_noun, f.amount_noun, "net", "gross", "formula"],
        clarification=f"By '{f.metric_vague}' I mean {metric_words(f)}.",
        sql_snippet=f.metric_sql, alt_sql=alt, deleted_knowledge=KB_METRIC,
    )


def _settled_ambiguity(f: DomainFacts, term: str, alt: list[str], aid: str) -> Ambiguity:
    return Ambiguity(
        id=aid, kind="scope", critical=True, term=term,
        keywords=["status", "which", "include", "count", "cancelled", "pending", "all", "only", "exclude"],
        clarification=f"Only {f.fact_plural} whose status is {settled_words(f)} count; ignore every other status.",
        sql_snippet=f.settled_sql, alt_sql=alt,
    )


def top_entities(f: DomainFacts, year: int, n: int) -> Draft:
    def q(metric: str, limit: int, settled: bool = True) -> str:
        where = (f"{f.settled_sql} AND " if settled else "") + year_sql(f, year)
        return (f"SELECT e.{f.entity_label}, SUM({metric}) AS total FROM {join_sql(f)} WHERE {where} "
                f"GROUP BY e.{f.entity_key}, e.{f.entity_label} ORDER BY total DESC LIMIT {limit}")

    gold = q(f.metric_sql, n)
    probe = (f"SELECT SUM({f.metric_sql}) AS total FROM {join_sql(f)} WHERE {f.settled_sql} AND {year_sql(f, year)} "
             f"GROUP BY e.{f.entity_key} ORDER BY total DESC LIMIT {n + 1}")
    top = (f"SELECT f.{f.fact_fk} AS id, SUM({f.metric_sql}) AS total FROM {f.fact_table} f WHERE {f.settled_sql} "
           f"AND {year_sql(f, year)} GROUP BY f.{f.fact_fk} ORDER BY total DESC LIMIT {n}")
    follow = (f"WITH top AS ({top}) SELECT e.{f.entity_label}, t.total, COUNT(*) AS settled_count FROM top t "
              f"JOIN {f.entity_table} e ON e.{f.entity_key} = t.id JOIN {f.fact_table} f ON f.{f.fact_fk} = t.id "
              f"WHERE {f.settled_sql} AND {year_sql(f, year)} GROUP BY t.id, e.{f.entity_label}, t.total")
    return Draft(
        template="top_entities", variant=f"{year}-top{n}",
        amb_query=f"Who were our top {f.entity_plural} by {f.metric_vague} in {year}? "
                  f"Only count the {f.fact_plural} that went through.",
        ambiguities=[
            _metric_ambiguity(f, [q(gross_sql(f), n)]),
            Ambiguity(id="a2", kind="threshold", critical=True, term="top",
                      keywords=["how many", "number", "limit", "n", "count", "rows", "best", "list"],
                      clarification=f"I want the top {n}.", sql_snippet=f"LIMIT {n}", alt_sql=[q(f.metric_sql, n + 5)]),
            _settled_ambiguity(f, "went through", [q(f.metric_sql, n, settled=False)], "a3"),
            Ambiguity(id="a4", kind="format", critical=False, term="output columns",
                      keywords=["columns", "output", "show", "name", "id", "order", "sort", "format", "return", "result"],
                      clarification=f"Show each {f.entity_noun}'s name and their total; the row order does not matter."),
        ],
        phase1=PhaseDraft(
            query=f"List the {n} {f.entity_plural} with the highest total {f.metric_name} over their "
                  f"{f.fact_plural} with status {settled_words(f)} dated in {year}. Return the {f.entity_noun}'s "
                  f"{f.entity_label} and that total.",
            gold_sql=[gold], checks=[CheckDraft("top entities and totals", tolerance={1: MONEY})],
            knowledge_used=[KB_METRIC, KB_SETTLED], tie_probe=(probe, n),
        ),
        follow_up=PhaseDraft(
            query=f"For those same {n} {f.entity_plural}, also show how many such {f.fact_plural} each had in "
                  f"{year}: name, total, count.",
            gold_sql=[follow], checks=[CheckDraft("top entities with counts", tolerance={1: MONEY})],
            knowledge_used=[KB_METRIC, KB_SETTLED], type="attribute_change",
        ),
    )


def count_high_value(f: DomainFacts, year: int) -> Draft:
    t = f.high_value_threshold

    def q(metric: str, start: str, end: str, group: bool = False) -> str:
        sel = f"f.{f.category_col}, COUNT(*)" if group else "COUNT(*)"
        tail = f" GROUP BY f.{f.category_col}" if group else ""
        return (f"SELECT {sel} FROM {f.fact_table} f WHERE {f.settled_sql} AND ({metric}) >= {t:g} "
                f"AND f.{f.date_col} >= '{start}' AND f.{f.date_col} < '{end}'{tail}")

    cal = (f"{year}-01-01", f"{year + 1}-01-01")
    return Draft(
        template="count_high_value", variant=str(year),
        amb_query=f"How many {f.high_value_vague} did we have in {year}?",
        ambiguities=[
            Ambiguity(id="a1", kind="knowledge", critical=True, term=f.high_value_vague,
                      keywords=["big", "large", "threshold", "count", "qualify", "definition", "mean", "cut-off", "value"],
                      clarification=f"'{f.high_value_vague}' means {f.high_value_name}s: {f.fact_plural} with status "
                                    f"{settled_words(f)} whose {f.metric_name} is at least {t:g}.",
                      sql_snippet=f"({f.metric_sql}) >= {t:g}", alt_sql=[q(gross_sql(f), *cal)],
                      deleted_knowledge=KB_HIGH_VALUE),
            Ambiguity(id="a2", kind="scope", critical=True, term=f"in {year}",
                      keywords=["year", "period", "calendar", "fiscal", "date", "when", "range"],
                      clarification=f"Calendar year {year}: January 1 to December 31.",
                      sql_snippet=year_sql(f, year), alt_sql=[q(f.metric_sql, f"{year}-04-01", f"{year + 1}-04-01")]),
            Ambiguity(id="a3", kind="format", critical=False, term="how many",
                      keywords=["format", "output", "number", "columns", "show"],
                      clarification="Just the number is fine."),
        ],
        phase1=PhaseDraft(
            query=f"Count the {f.high_value_name}s ({f.fact_plural} with status {settled_words(f)} and "
                  f"{f.metric_name} of at least {t:g}) dated in calendar year {year}.",
            gold_sql=[q(f.metric_sql, *cal)], checks=[CheckDraft("count")],
            knowledge_used=[KB_HIGH_VALUE, KB_METRIC, KB_SETTLED],
        ),
        follow_up=PhaseDraft(
            query=f"Break that count down by {f.category_noun}: one row per {f.category_col} value (including "
                  f"a missing one) with its count.",
            gold_sql=[q(f.metric_sql, *cal, group=True)], checks=[CheckDraft("counts per category")],
            knowledge_used=[KB_HIGH_VALUE], type="topic_pivot",
        ),
    )


def monthly_trend(f: DomainFacts, year: int) -> Draft:
    month = f"strftime('%Y-%m', f.{f.date_col})"

    def q(metric: str, settled: bool = True, agg: str = "SUM", order: str = "month") -> str:
        where = (f"{f.settled_sql} AND " if settled else "") + year_sql(f, year)
        return (f"SELECT {month} AS month, {agg}({metric}) AS value FROM {f.fact_table} f WHERE {where} "
                f"GROUP BY {month} ORDER BY {order}")

    best = q(f.metric_sql, order="value DESC") + " LIMIT 1"
    return Draft(
        template="monthly_trend", variant=str(year),
        amb_query=f"Show me the {f.metric_vague} we actually booked, month by month, for {year}.",
        ambiguities=[
            _metric_ambiguity(f, [q(gross_sql(f))]),
            _settled_ambiguity(f, "actually booked", [q(f.metric_sql, settled=False)], "a2"),
            Ambiguity(id="a3", kind="aggregation", critical=True, term="month by month",
                      keywords=["total", "sum", "average", "mean", "per month", "aggregate", "add up"],
                      clarification=f"The total for each month, not an average per {f.fact_noun}.",
                      sql_snippet="SUM(...)", alt_sql=[q(f.metric_sql, agg="AVG")]),
            Ambiguity(id="a4", kind="sort", critical=False, term="month labels",
                      keywords=["order", "sort", "format", "label", "columns", "month format"],
                      clarification="One row per month, labelled like 2023-01, in calendar order."),
        ],
        phase1=PhaseDraft(
            query=f"For each month of {year}, the total {f.metric_name} of {f.fact_plural} with status "
                  f"{settled_words(f)}: month as 'YYYY-MM' and the total, in calendar order.",
            gold_sql=[q(f.metric_sql)], checks=[CheckDraft("monthly totals in order", ordered=True, tolerance={1: MONEY})],
            knowledge_used=[KB_METRIC, KB_SETTLED],
        ),
        follow_up=PhaseDraft(
            query=f"Which month of {year} had the highest total? Return just that month and its total.",
            gold_sql=[best], checks=[CheckDraft("best month", tolerance={1: MONEY})],
            knowledge_used=[KB_METRIC], type="result_based",
            tie_probe=(q(f.metric_sql, order="value DESC").replace("SELECT " + month + " AS month, ", "SELECT ", 1) + " LIMIT 2", 1),
        ),
    )


def null_average(f: DomainFacts, year: int) -> Draft:
    def q(avg: str, drop_null_cat: bool = True, extra: str = "") -> str:
        cat = f" AND f.{f.category_col} IS NOT NULL" if drop_null_cat else ""
        return (f"SELECT f.{f.category_col}, {avg}{extra} FROM {f.fact_table} f WHERE {year_sql(f, year)}{cat} "
                f"GROUP BY f.{f.category_col}")

    zero = f"AVG(COALESCE(f.{f.adjust_col}, 0))"
    missing = f", SUM(CASE WHEN f.{f.adjust_col} IS NULL THEN 1 ELSE 0 END)"
    return Draft(
        template="null_average", variant=str(year),
        amb_query=f"What's the average {f.adjust_noun} per {f.category_noun} in {year}?",
        ambiguities=[
            Ambiguity(id="a1", kind="null_handling", critical=True, term=f"average {f.adjust_noun}",
                      keywords=["missing", "null", "empty", "blank", "zero", "none", "no value", "recorded"],
                      clarification=f"Count {f.fact_plural} with no {f.adjust_noun} recorded as 0: they had none.",
                      sql_snippet=zero, alt_sql=[q(f"AVG(f.{f.adjust_col})")]),
            Ambiguity(id="a2", kind="scope", critical=True, term=f"per {f.category_noun}",
                      keywords=["unknown", "missing", "group", "category", "unrecorded", "blank", "exclude"],
                      clarification=f"Leave out {f.fact_plural} whose {f.category_noun} is not recorded.",
                      sql_snippet=f"f.{f.category_col} IS NOT NULL", alt_sql=[q(zero, drop_null_cat=False)]),
            Ambiguity(id="a3", kind="format", critical=False, term="rounding",
                      keywords=["round", "decimals", "precision", "format", "digits"],
                      clarification="Two decimals are enough."),
        ],
        phase1=PhaseDraft(
            query=f"For each recorded {f.category_noun} ({f.category_col} not NULL), the average {f.adjust_col} of "
                  f"its {f.fact_plural} dated in {year}, counting a missing {f.adjust_col} as 0.",
            gold_sql=[q(zero)], checks=[CheckDraft("averages", tolerance={1: MONEY})],
        ),
        follow_up=PhaseDraft(
            query=f"Also show, per {f.category_noun}, how many of those {f.fact_plural} had no {f.adjust_noun} "
                  "recorded: category, average, count of missing.",
            gold_sql=[q(zero, extra=missing)], checks=[CheckDraft("averages and missing counts", tolerance={1: MONEY})],
        ),
    )


def category_share(f: DomainFacts, year: int) -> Draft:
    def q(metric: str, scale: str = "100.0 * ", drop_null: bool = True, yr: int = year) -> str:
        cat = f" AND f.{f.category_col} IS NOT NULL" if drop_null else ""
        where = f"{f.settled_sql} AND {year_sql(f, yr)}{cat}"
        return (f"SELECT f.{f.category_col}, {scale}SUM({metric}) / (SELECT SUM({metric}) FROM {f.fact_table} f "
                f"WHERE {where}) AS share FROM {f.fact_table} f WHERE {where} GROUP BY f.{f.category_col}")

    pct = {1: MONEY}
    return Draft(
        template="category_share", variant=str(year),
        amb_query=f"What share of our {f.metric_vague} from {f.settled_name.lower()}s came from each "
                  f"{f.category_noun} in {year}?",
        ambiguities=[
            _metric_ambiguity(f, [q(gross_sql(f))]),
            Ambiguity(id="a2", kind="format", critical=True, term="share",
                      keywords=["percent", "percentage", "fraction", "ratio", "proportion", "scale", "0-100", "units"],
                      clarification="As a percentage of the total, from 0 to 100.", sql_snippet="100.0 * ...",
                      alt_sql=[q(f.metric_sql, scale="1.0 * ")]),
            Ambiguity(id="a3", kind="scope", critical=True, term=f"each {f.category_noun}",
                      keywords=["unknown", "missing", "null", "unrecorded", "include", "exclude", "blank"],
                      clarification=f"Only {f.fact_plural} with a recorded {f.category_noun}; leave the rest out of "
                                    "the total too.",
                      sql_snippet=f"f.{f.category_col} IS NOT NULL", alt_sql=[q(f.metric_sql, drop_null=False)]),
        ],
        phase1=PhaseDraft(
            query=f"For {year}, each recorded {f.category_noun}'s percentage (0-100) of the total {f.metric_name} "
                  f"of {f.fact_plural} with status {settled_words(f)}, counting only {f.fact_plural} whose "
                  f"{f.category_col} is recorded.",
            gold_sql=[q(f.metric_sql)], checks=[CheckDraft("shares", tolerance=pct)],
            knowledge_used=[KB_METRIC, KB_SETTLED],
        ),
        follow_up=PhaseDraft(
            query=f"Now the same shares for {year - 1}.",
            gold_sql=[q(f.metric_sql, yr=year - 1)], checks=[CheckDraft("shares previous year", tolerance=pct)],
            knowledge_used=[KB_METRIC, KB_SETTLED], type="topic_pivot",
        ),
    )


def premium_entities(f: DomainFacts, group: str | None) -> Draft:
    p = f.premium_threshold
    last = max(f.years)

    def q(metric: str, since: str | None = None) -> str:
        g = f" AND e.{f.entity_group_col} = '{group}'" if group else ""
        s = f" AND f.{f.date_col} >= '{since}'" if since else ""
        return (f"SELECT e.{f.entity_label}, SUM({metric}) AS lifetime FROM {join_sql(f)} WHERE {f.settled_sql}{g}{s} "
                f"GROUP BY e.{f.entity_key}, e.{f.entity_label} HAVING SUM({metric}) > {p:g}")

    ids = (f"SELECT f.{f.fact_fk} AS id FROM {f.fact_table} f WHERE {f.settled_sql} GROUP BY f.{f.fact_fk} "
           f"HAVING SUM({f.metric_sql}) > {p:g}")
    g = f" AND e.{f.entity_group_col} = '{group}'" if group else ""
    follow = (f"SELECT e.{f.entity_group_col}, COUNT(*) FROM {f.entity_table} e JOIN ({ids}) p ON p.id = e.{f.entity_key} "
              f"WHERE 1 = 1{g} GROUP BY e.{f.entity_group_col}")
    who = f"{group} {f.entity_plural}" if group else f.entity_plural
    return Draft(
        template="premium_entities", variant=group or "all",
        amb_query=f"Which {who} are our {f.premium_vague}?",
        ambiguities=[
            Ambiguity(id="a1", kind="knowledge", critical=True, term=f.premium_vague,
                      keywords=["best", "top", "definition", "mean", "threshold", "qualify", "criteria", "premium"],
                      clarification=f"Our {f.premium_vague} are {f.premium_name}s: their {f.lifetime_name} "
                                    f"(total {f.metric_name} over {f.fact_plural} with status {settled_words(f)}) "
                                    f"is above {p:g}.",
                      sql_snippet=f"HAVING SUM(...) > {p:g}", alt_sql=[q(gross_sql(f))], deleted_knowledge=KB_PREMIUM),
            Ambiguity(id="a2", kind="scope", critical=True, term="time period",
                      keywords=["period", "year", "time", "since", "when", "all time", "recent", "date range"],
                      clarification="Over all time, not just the latest year.", alt_sql=[q(f.metric_sql, f"{last}-01-01")]),
            Ambiguity(id="a3", kind="format", critical=False, term="output columns",
                      keywords=["columns", "show", "output", "name", "order", "sort"],
                      clarification=f"Show their {f.entity_label} and their lifetime total, in any order."),
        ],
        phase1=PhaseDraft(
            query=f"List the {who} whose total {f.metric_name} over all their {f.fact_plural} with status "
                  f"{settled_words(f)} (all time) is above {p:g}: {f.entity_label} and that total.",
            gold_sql=[q(f.metric_sql)], checks=[CheckDraft("premium entities", tolerance={1: MONEY})],
            knowledge_used=[KB_PREMIUM, KB_METRIC, KB_SETTLED],
        ),
        follow_up=PhaseDraft(
            query=f"How many of them are there in each {f.entity_group_noun}?",
            gold_sql=[follow], checks=[CheckDraft("premium per group")],
            knowledge_used=[KB_PREMIUM], type="aggregation",
        ),
    )
