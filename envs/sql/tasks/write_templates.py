"""Write task templates (UPDATE, DELETE, INSERT, DDL). They are judged by table state: each
check is a state query run after the submission, compared with its result after the gold."""

from __future__ import annotations

from agentgym.envs.sql.generate.core import KB_HIGH_VALUE, KB_METRIC, KB_PREMIUM, KB_SETTLED, DomainFacts
from agentgym.envs.sql.models import Ambiguity
from agentgym.envs.sql.tasks.drafts import MONEY, CheckDraft, Draft, PhaseDraft, gross_sql, settled_words, year_sql


def expire_open(f: DomainFacts, cutoff: str, earlier: str) -> Draft:
    def upd(before: str) -> str:
        return (f"UPDATE {f.fact_table} SET {f.status_col} = '{f.expired_status}' "
                f"WHERE {f.status_col} = '{f.open_status}' AND {f.date_col} < '{before}'")

    return Draft(
        template="expire_open", variant=cutoff,
        amb_query=f"Please close out the old {f.open_status} {f.fact_plural}: mark them as {f.expired_status}.",
        ambiguities=[
            Ambiguity(id="a1", kind="threshold", critical=True, term="old",
                      keywords=["date", "cutoff", "cut-off", "before", "how old", "when", "age", "older than"],
                      clarification=f"'Old' means dated before {cutoff}.", sql_snippet=f"{f.date_col} < '{cutoff}'",
                      alt_sql=[upd(earlier)]),
            Ambiguity(id="a2", kind="semantic", critical=False, term="close out",
                      keywords=["delete", "remove", "change", "other columns", "keep", "what else"],
                      clarification="Only change their status; leave everything else as it is."),
        ],
        phase1=PhaseDraft(
            query=f"Set {f.status_col} to '{f.expired_status}' for every {f.fact_noun} whose status is "
                  f"'{f.open_status}' and whose {f.date_col} is before {cutoff}.",
            gold_sql=[upd(cutoff)], category="write", statement="update",
            checks=[CheckDraft("status counts", f"SELECT {f.status_col}, COUNT(*) FROM {f.fact_table} GROUP BY {f.status_col}"),
                    CheckDraft("which rows expired", f"SELECT {f.fact_key} FROM {f.fact_table} "
                                                     f"WHERE {f.status_col} = '{f.expired_status}'")],
        ),
        follow_up=PhaseDraft(
            query=f"How many {f.fact_plural} are {f.expired_status} now, per {f.category_noun}?",
            gold_sql=[f"SELECT f.{f.category_col}, COUNT(*) FROM {f.fact_table} f WHERE f.{f.status_col} = "
                      f"'{f.expired_status}' GROUP BY f.{f.category_col}"],
            checks=[CheckDraft("expired per category")], type="result_based",
        ),
    )


def delete_cancelled(f: DomainFacts, year: int) -> Draft:
    def dele(statuses: list[str], before: int) -> str:
        st = ", ".join(f"'{s}'" for s in statuses)
        return f"DELETE FROM {f.fact_table} WHERE {f.status_col} IN ({st}) AND {f.date_col} < '{before}-01-01'"

    return Draft(
        template="delete_cancelled", variant=str(year),
        amb_query=f"Delete the old {f.cancel_status} {f.fact_plural}; we don't need them any more.",
        ambiguities=[
            Ambiguity(id="a1", kind="threshold", critical=True, term="old",
                      keywords=["date", "cutoff", "before", "year", "how old", "when", "older than"],
                      clarification=f"'Old' means dated before {year}-01-01.", alt_sql=[dele([f.cancel_status], year - 1)]),
            Ambiguity(id="a2", kind="scope", critical=True, term=f"{f.cancel_status} {f.fact_plural}",
                      keywords=["status", "statuses", "which", "include", f.failed_status, "failed", "other", "also"],
                      clarification=f"Only status '{f.cancel_status}'; do not touch '{f.failed_status}' or any other status.",
                      alt_sql=[dele([f.cancel_status, f.failed_status], year)]),
            Ambiguity(id="a3", kind="semantic", critical=False, term="delete",
                      keywords=["related", "child", "cascade", f.child_table, "lines", "dependent"],
                      clarification=f"Yes, really delete them; their {f.child_table} rows can go with them."),
        ],
        phase1=PhaseDraft(
            query=f"Delete every {f.fact_noun} with status '{f.cancel_status}' dated before {year}-01-01 "
                  f"(their {f.child_table} rows go with them).",
            gold_sql=[dele([f.cancel_status], year)], category="write", statement="delete",
            checks=[CheckDraft("remaining statuses", f"SELECT {f.status_col}, COUNT(*) FROM {f.fact_table} GROUP BY {f.status_col}"),
                    CheckDraft("remaining ids before the cut-off", f"SELECT {f.fact_key} FROM {f.fact_table} "
                                                                    f"WHERE {f.date_col} < '{year}-01-01'"),
                    CheckDraft("child rows", f"SELECT COUNT(*) FROM {f.child_table}")],
        ),
        follow_up=PhaseDraft(
            query=f"How many {f.fact_plural} are left for each status?",
            gold_sql=[f"SELECT {f.status_col}, COUNT(*) FROM {f.fact_table} GROUP BY {f.status_col}"],
            checks=[CheckDraft("counts per status")], type="result_based",
        ),
    )


def archive_high_value(f: DomainFacts, year: int) -> Draft:
    table = f"{f.fact_table}_archive_{year}"
    t = f.high_value_threshold

    def ctas(metric: str) -> str:
        return (f"CREATE TABLE {table} AS SELECT * FROM {f.fact_table} f WHERE {f.settled_sql} "
                f"AND ({metric}) >= {t:g} AND {year_sql(f, year)}")

    moved = f"DELETE FROM {f.fact_table} WHERE {f.fact_key} IN (SELECT {f.fact_key} FROM {table})"
    day = f"{year + 1}-01-31"
    return Draft(
        template="archive_high_value", variant=str(year),
        amb_query=f"Archive our {f.high_value_vague} from {year} into a new table {table}.",
        ambiguities=[
            Ambiguity(id="a1", kind="knowledge", critical=True, term=f.high_value_vague,
                      keywords=["big", "large", "threshold", "qualify", "definition", "mean", "which", "value"],
                      clarification=f"'{f.high_value_vague}' means {f.high_value_name}s: {f.fact_plural} with status "
                                    f"{settled_words(f)} whose {f.metric_name} is at least {t:g}.",
                      alt_sql=[ctas(gross_sql(f))], deleted_knowledge=KB_HIGH_VALUE),
            Ambiguity(id="a2", kind="semantic", critical=True, term="archive",
                      keywords=["copy", "move", "delete", "originals", "keep", "remove", "columns"],
                      clarification="Copy them into the new table with all their columns; keep the originals where they are.",
                      alt_sql=[ctas(f.metric_sql), moved]),
        ],
        phase1=PhaseDraft(
            query=f"Create a table {table} holding a copy (all columns) of every {f.fact_noun} dated in {year} with "
                  f"status {settled_words(f)} and {f.metric_name} of at least {t:g}; keep the originals.",
            gold_sql=[ctas(f.metric_sql)], category="write", statement="ddl",
            knowledge_used=[KB_HIGH_VALUE, KB_METRIC, KB_SETTLED],
            checks=[CheckDraft("archived ids", f"SELECT {f.fact_key} FROM {table}"),
                    CheckDraft("archived amounts", f"SELECT COUNT(*), SUM({f.amount_col}) FROM {table}", tolerance={1: MONEY}),
                    CheckDraft("originals kept", f"SELECT COUNT(*) FROM {f.fact_table}")],
        ),
        follow_up=PhaseDraft(
            query=f"Add a column archived_on (a DATE) to {table} and set it to '{day}' on every row.",
            gold_sql=[f"ALTER TABLE {table} ADD COLUMN archived_on DATE", f"UPDATE {table} SET archived_on = '{day}'"],
            category="write", statement="ddl", type="attribute_change",
            checks=[CheckDraft("archived_on filled", f"SELECT archived_on, COUNT(*) FROM {table} GROUP BY archived_on")],
        ),
    )


def flag_premium(f: DomainFacts, group: str | None, day: str) -> Draft:
    p = f.premium_threshold
    label = "premium_review"

    def ins(metric: str) -> str:
        g = (f" AND f.{f.fact_fk} IN (SELECT {f.entity_key} FROM {f.entity_table} WHERE {f.entity_group_col} = '{group}')"
             if group else "")
        return (f"INSERT INTO {f.flag_table} ({f.flag_fk}, flag, created_on) SELECT f.{f.fact_fk}, '{label}', '{day}' "
                f"FROM {f.fact_table} f WHERE {f.settled_sql}{g} GROUP BY f.{f.fact_fk} HAVING SUM({metric}) > {p:g}")

    who = f"{group} {f.premium_vague}" if group else f.premium_vague
    return Draft(
        template="flag_premium", variant=group or "all",
        amb_query=f"Flag all our {who} in {f.flag_table} with the label '{label}', dated {day}.",
        ambiguities=[
            Ambiguity(id="a1", kind="knowledge", critical=True, term=f.premium_vague,
                      keywords=["best", "top", "definition", "mean", "threshold", "qualify", "criteria", "which"],
                      clarification=f"Our {f.premium_vague} are {f.premium_name}s: their {f.lifetime_name} "
                                    f"(total {f.metric_name} over {f.fact_plural} with status {settled_words(f)}, "
                                    f"all time) is above {p:g}.",
                      alt_sql=[ins(gross_sql(f))], deleted_knowledge=KB_PREMIUM),
            Ambiguity(id="a2", kind="format", critical=False, term="flag",
                      keywords=["note", "columns", "comment", "text", "fields"],
                      clarification="One flag row per person; leave the note empty."),
        ],
        phase1=PhaseDraft(
            query=f"Insert one row into {f.flag_table} ({f.flag_fk}, flag '{label}', created_on '{day}') for every "
                  f"{(group + ' ') if group else ''}{f.entity_noun} whose total {f.metric_name} over {f.fact_plural} "
                  f"with status {settled_words(f)} (all time) is above {p:g}.",
            gold_sql=[ins(f.metric_sql)], category="write", statement="insert",
            knowledge_used=[KB_PREMIUM, KB_METRIC, KB_SETTLED],
            checks=[CheckDraft("flagged rows", f"SELECT {f.flag_fk}, created_on FROM {f.flag_table} WHERE flag = '{label}'"),
                    CheckDraft("no other rows", f"SELECT COUNT(*) FROM {f.flag_table}")],
        ),
        follow_up=PhaseDraft(
            query=f"How many {f.entity_plural} carry the '{label}' flag now, per {f.entity_group_noun}?",
            gold_sql=[f"SELECT e.{f.entity_group_col}, COUNT(DISTINCT e.{f.entity_key}) FROM {f.entity_table} e JOIN "
                      f"{f.flag_table} g ON g.{f.flag_fk} = e.{f.entity_key} WHERE g.flag = '{label}' "
                      f"GROUP BY e.{f.entity_group_col}"],
            checks=[CheckDraft("flagged per group")], type="aggregation",
        ),
    )


def clear_adjustment(f: DomainFacts, category: str, year: int) -> Draft:
    def upd(value: str, only_open: bool = False) -> str:
        st = f" AND {f.status_col} = '{f.open_status}'" if only_open else ""
        return (f"UPDATE {f.fact_table} SET {f.adjust_col} = {value} WHERE {f.category_col} = '{category}' "
                f"AND {f.date_col} >= '{year}-01-01' AND {f.date_col} < '{year + 1}-01-01'{st}")

    scope = f"f.{f.category_col} = '{category}' AND {year_sql(f, year)}"
    return Draft(
        template="clear_adjustment", variant=f"{category}-{year}",
        amb_query=f"Clear the {f.adjust_noun} on all {category} {f.fact_plural} from {year}.",
        ambiguities=[
            Ambiguity(id="a1", kind="null_handling", critical=True, term="clear",
                      keywords=["zero", "null", "empty", "blank", "remove", "set to", "value", "missing"],
                      clarification="Set it to 0 (zero), not to NULL: we want to record that there is none.",
                      alt_sql=[upd("NULL")]),
            Ambiguity(id="a2", kind="scope", critical=True, term=f"all {category} {f.fact_plural}",
                      keywords=["status", "open", "pending", "which", "only", "every", "include"],
                      clarification=f"Every status, not only the {f.open_status} ones.", alt_sql=[upd("0", only_open=True)]),
        ],
        phase1=PhaseDraft(
            query=f"Set {f.adjust_col} to 0 on every {f.fact_noun} (any status) with {f.category_col} '{category}' "
                  f"dated in {year}.",
            gold_sql=[upd("0")], category="write", statement="update",
            checks=[CheckDraft("cleared rows", f"SELECT COUNT(*), SUM(CASE WHEN f.{f.adjust_col} IS NULL THEN 1 ELSE 0 END), "
                                               f"SUM(f.{f.adjust_col}) FROM {f.fact_table} f WHERE {scope}", tolerance={2: MONEY}),
                    CheckDraft("nothing else changed", f"SELECT COUNT(f.{f.adjust_col}), SUM(f.{f.adjust_col}) "
                                                        f"FROM {f.fact_table} f", tolerance={1: MONEY})],
        ),
        follow_up=PhaseDraft(
            query=f"What is the total {f.metric_name} of those {category} {f.fact_plural} from {year} now "
                  f"(all statuses)?",
            gold_sql=[f"SELECT SUM({f.metric_sql}) FROM {f.fact_table} f WHERE {scope}"],
            checks=[CheckDraft("total after clearing", tolerance={0: MONEY})], knowledge_used=[KB_METRIC],
            type="result_based",
        ),
    )
