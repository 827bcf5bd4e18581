"""Banking transactions: account holders move money through channels; fees apply."""

from __future__ import annotations

from agentgym.envs.sql.generate.core import Column, Database, DomainFacts, Draw, Table, generic_kb
from agentgym.envs.sql.generate.star import StarSpec, build_star, child_rows

FACTS = DomainFacts(
    db="banking", entity_table="account_holders", entity_key="holder_id", entity_label="holder_name",
    entity_noun="account holder", entity_plural="account holders", entity_group_col="risk_band",
    entity_group_noun="risk band", fact_table="transactions", fact_key="txn_id", fact_fk="holder_id",
    fact_noun="transaction", fact_plural="transactions", date_col="txn_date", amount_col="amount",
    amount_noun="transaction amount", adjust_col="fee", adjust_noun="fee", adjust_sign=-1, status_col="txn_status",
    settled=["posted", "cleared"], open_status="pending", expired_status="stale", cancel_status="reversed", failed_status="declined",
    category_col="channel", category_noun="channel", categories=["atm", "branch", "online", "mobile"],
    child_table="txn_audit", flag_table="holder_alerts", flag_fk="holder_id", years=[2021, 2022, 2023, 2024],
    metric_name="Net Transaction Value", metric_vague="net flows", high_value_name="Large Transaction",
    high_value_vague="big transactions", high_value_threshold=2000, lifetime_name="Holder Lifetime Volume",
    premium_name="Private Banking Client", premium_vague="wealthiest clients", premium_threshold=10000,
    settled_name="Booked Transaction", gross_name="Transaction Amount", adjust_name="Transaction Fee",
)

SPEC = StarSpec(
    facts=FACTS, entity_comment="People who hold accounts with the bank.", fact_comment="One row per transaction.",
    flag_comment="Compliance and service alerts on holders.", label_meaning="holder's full legal name",
    group_meaning="risk band from KYC: 'low', 'medium', 'high'", groups=["low", "low", "medium", "high"],
    since_col="customer_since", since_meaning="date the holder opened their first account",
    status_weights={"posted": 0.55, "cleared": 0.15, "pending": 0.13, "reversed": 0.1, "declined": 0.07},
    category_weights={"atm": 0.2, "branch": 0.1, "online": 0.4, "mobile": 0.3},
    category_meaning="channel the transaction came through; NULL for batch postings",
    amount_range=(5, 3500), amount_meaning="amount in EUR; negative for debits and chargebacks",
    adjust_range=(0.5, 25), adjust_null=0.5, adjust_meaning="fee charged in EUR; NULL when free",
    flag_values=["aml_review", "dormant", "complaint"], n_entities=(350, 70), n_facts=(2800, 450),
    entity_extra=([Column("credit_score", "INTEGER", "bureau score 300-850; NULL when thin file")],
                  lambda d, i: (d.maybe(0.1, d.rng.randint(300, 850)),)),
    fact_extra=([Column("account_id", "INTEGER", "account debited or credited", ref="accounts(account_id)")],
                lambda d, i: (d.rng.randint(1, 500),)),
    ties=(100.0, 20.0, 500.0),
)


def build(seed: int, lite: bool = False) -> Database:
    d = Draw(seed)
    branches = Table("branches", "Bank branches.", [
        Column("branch_id", "INTEGER", "unique id", pk=True),
        Column("city", "TEXT", "branch city"),
        Column("opened_on", "DATE", "opening date"),
    ], [(i, d.pick(["Lisbon", "Cork", "Ghent", "Lyon", "Krakow"]), d.date("1990-01-01", "2020-12-31")) for i in range(1, 13)])
    holders, txns, alerts = build_star(d, SPEC, lite)
    n_holders = len(holders.rows)
    accounts = Table("accounts", "Accounts; a holder may have several.", [
        Column("account_id", "INTEGER", "unique id", pk=True),
        Column("holder_id", "INTEGER", "owner", ref="account_holders(holder_id)"),
        Column("branch_id", "INTEGER", "home branch", ref="branches(branch_id)"),
        Column("kind", "TEXT", "'current', 'savings', 'business'"),
        Column("balance", "REAL", "balance in EUR; negative when overdrawn"),
        Column("closed_on", "DATE", "closing date; NULL while open"),
    ], [(i, d.rng.randint(1, n_holders), d.rng.randint(1, 12), d.pick(["current", "savings", "business"]),
         d.money(0, 20000, zero=0.05, negative=0.08, large=0.01), d.maybe(0.9, d.date("2021-01-01", "2024-12-31")))
        for i in range(1, 501)])
    audit = Table("txn_audit", "Review log of transactions; deleted with the transaction.", [
        Column("audit_id", "INTEGER", "unique id", pk=True),
        Column("txn_id", "INTEGER", "the transaction", ref="transactions(txn_id)", on_delete="CASCADE", not_null=True),
        Column("reviewer", "TEXT", "who reviewed it"),
        Column("outcome", "TEXT", "'ok', 'query', 'escalated'"),
    ], child_rows(d, txns, (0, 2), lambda d, tid, fr: (tid, d.pick(["auto", "ops", "compliance"]),
                                                        d.pick(["ok", "ok", "ok", "query", "escalated"]))))
    tables = [holders, txns, audit, alerts]
    if not lite:
        tables = [branches, holders, accounts, txns, audit, alerts]
        tables.append(Table("loans", "Loans granted to holders.", [
            Column("loan_id", "INTEGER", "unique id", pk=True),
            Column("holder_id", "INTEGER", "borrower", ref="account_holders(holder_id)"),
            Column("principal", "REAL", "amount lent in EUR"),
            Column("rate_pct", "REAL", "annual interest rate in percent; 0 for staff loans"),
            Column("defaulted", "INTEGER", "1 when in default"),
        ], [(i, d.rng.randint(1, n_holders), d.money(1000, 400000), d.pick([0.0, 3.5, 4.9, 7.25]), d.pick([0, 0, 0, 1]))
            for i in range(1, 121)]))
    else:
        tables.insert(0, branches)
    kb = generic_kb(FACTS, [
        ("Overdrawn Account", "An account with a negative balance.", "accounts.balance < 0", "domain_knowledge", []),
        ("Default Rate", "Share of loans in default.", "AVG(loans.defaulted)", "calculation_knowledge", []),
    ])
    return Database("banking", "Holders, accounts and transactions of a retail bank", tables, kb)
