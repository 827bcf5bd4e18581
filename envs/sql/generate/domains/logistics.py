"""Logistics shipments: clients ship parcels through warehouses with carriers."""

from __future__ import annotations

from agentgym.envs.sql.generate.core import Column, Database, DomainFacts, Draw, Table, generic_kb
from agentgym.envs.sql.generate.star import StarSpec, build_star, child_rows

FACTS = DomainFacts(
    db="logistics", entity_table="clients", entity_key="client_id", entity_label="client_name",
    entity_noun="client", entity_plural="clients", entity_group_col="industry", entity_group_noun="industry",
    fact_table="shipments", fact_key="shipment_id", fact_fk="client_id", fact_noun="shipment", fact_plural="shipments",
    date_col="shipped_on", amount_col="freight_charge", amount_noun="freight charge", adjust_col="insurance_fee",
    adjust_noun="insurance fee", adjust_sign=1, status_col="shipment_status", settled=["delivered", "invoiced"],
    open_status="booked", expired_status="voided", cancel_status="cancelled", failed_status="lost", category_col="service_level",
    category_noun="service level", categories=["standard", "express", "overnight", "freight"],
    child_table="tracking_events", flag_table="client_alerts", flag_fk="client_id", years=[2021, 2022, 2023, 2024],
    metric_name="Billable Charge", metric_vague="billings", high_value_name="Major Shipment",
    high_value_vague="large shipments", high_value_threshold=900, lifetime_name="Client Lifetime Billing",
    premium_name="Key Account", premium_vague="key clients", premium_threshold=4000,
    settled_name="Completed Shipment", gross_name="Freight Charge", adjust_name="Insurance Surcharge",
)

SPEC = StarSpec(
    facts=FACTS, entity_comment="Companies that ship with us.", fact_comment="One row per shipment.",
    flag_comment="Account alerts on clients.", label_meaning="client company name",
    group_meaning="client's industry: 'retail', 'pharma', 'auto', 'food'", groups=["retail", "pharma", "auto", "food"],
    since_col="contract_start", since_meaning="start date of the client's contract",
    status_weights={"delivered": 0.5, "invoiced": 0.15, "booked": 0.13, "cancelled": 0.12, "lost": 0.04, "in_transit": 0.06},
    category_weights={"standard": 0.5, "express": 0.25, "overnight": 0.1, "freight": 0.15},
    category_meaning="service level bought; NULL when not recorded",
    amount_range=(25, 1400), amount_meaning="freight charge in EUR (negative for credits)",
    adjust_range=(5, 150), adjust_null=0.5, adjust_meaning="optional insurance fee in EUR; NULL when not insured",
    flag_values=["credit_hold", "key_account_review", "sla_breach"], n_entities=(300, 60), n_facts=(2600, 420),
    entity_extra=([Column("credit_limit", "REAL", "credit limit in EUR; 0 for prepay clients")],
                  lambda d, i: (d.pick([0.0, 5000.0, 20000.0, 1000000.0]),)),
    fact_extra=([Column("weight_kg", "REAL", "gross weight in kilograms"),
                 Column("warehouse_id", "INTEGER", "origin warehouse", ref="warehouses(warehouse_id)")],
                lambda d, i: (round(d.rng.uniform(0.1, 2000), 1), d.rng.randint(1, 8))),
)


def build(seed: int, lite: bool = False) -> Database:
    d = Draw(seed)
    warehouses = Table("warehouses", "Our warehouses.", [
        Column("warehouse_id", "INTEGER", "unique id", pk=True),
        Column("city", "TEXT", "location"),
        Column("capacity_m3", "REAL", "storage capacity in cubic metres"),
    ], [(i, d.pick(["Rotterdam", "Hamburg", "Lyon", "Milan", "Gdansk", "Porto"]), d.pick([5000.0, 12000.0, 30000.0]))
        for i in range(1, 9)])
    carriers = Table("carriers", "Subcontracted carriers.", [
        Column("carrier_id", "INTEGER", "unique id", pk=True),
        Column("name", "TEXT", "carrier company"),
        Column("on_time_rate", "REAL", "share of on-time deliveries 0-1; NULL for new carriers"),
    ], [(i, f"Carrier {chr(64 + i)}", d.maybe(0.2, round(d.rng.uniform(0.7, 1.0), 3))) for i in range(1, 11)])
    clients, shipments, alerts = build_star(d, SPEC, lite)
    events = Table("tracking_events", "Scans of a shipment; deleted with it.", [
        Column("event_id", "INTEGER", "unique id", pk=True),
        Column("shipment_id", "INTEGER", "the shipment", ref="shipments(shipment_id)", on_delete="CASCADE", not_null=True),
        Column("event_type", "TEXT", "'picked_up', 'hub_scan', 'out_for_delivery', 'delivered', 'exception'"),
        Column("event_date", "DATE", "date of the scan"),
    ], child_rows(d, shipments, (1, 2), lambda d, sid, fr: (sid, d.pick(["picked_up", "hub_scan", "out_for_delivery",
                                                                        "delivered", "exception"]), fr[2])))
    tables = [clients, shipments, events, alerts]
    if not lite:
        tables = [warehouses, carriers] + tables
        tables.append(Table("vehicles", "Own fleet.", [
            Column("vehicle_id", "INTEGER", "unique id", pk=True),
            Column("carrier_id", "INTEGER", "operating carrier", ref="carriers(carrier_id)"),
            Column("plate", "TEXT", "licence plate"),
            Column("payload_kg", "REAL", "maximum payload in kilograms"),
        ], [(i, d.rng.randint(1, 10), f"AG-{1000 + i}", d.pick([800.0, 3500.0, 12000.0, 24000.0])) for i in range(1, 41)]))
    else:
        tables.insert(0, warehouses)
    kb = generic_kb(FACTS, [
        ("Chargeable Weight", "Weight billed: the larger of actual and volumetric weight.", "MAX(weight_kg, volume_m3 * 167)",
         "calculation_knowledge", []),
        ("Lost Shipment", "A shipment the carrier could not deliver or find.", "shipments.shipment_status = 'lost'",
         "domain_knowledge", []),
    ])
    return Database("logistics", "Shipments, scans and warehouses of a logistics company", tables, kb)
