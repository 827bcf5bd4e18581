"""Hospital visits: patients see doctors in departments; visits carry charges and insurance."""

from __future__ import annotations

from agentgym.envs.sql.generate.core import Column, Database, DomainFacts, Draw, Table, generic_kb
from agentgym.envs.sql.generate.star import StarSpec, build_star, child_rows

FACTS = DomainFacts(
    db="hospital", entity_table="patients", entity_key="patient_id", entity_label="patient_name",
    entity_noun="patient", entity_plural="patients", entity_group_col="insurance_plan", entity_group_noun="insurance plan",
    fact_table="visits", fact_key="visit_id", fact_fk="patient_id", fact_noun="visit", fact_plural="visits",
    date_col="visit_date", amount_col="charge_amount", amount_noun="charge", adjust_col="insurance_covered",
    adjust_noun="insurance payment", adjust_sign=-1, status_col="visit_status", settled=["completed", "billed"],
    open_status="scheduled", expired_status="lapsed", cancel_status="cancelled", failed_status="no_show", category_col="visit_type",
    category_noun="visit type", categories=["outpatient", "emergency", "inpatient", "telehealth"],
    child_table="prescriptions", flag_table="patient_alerts", flag_fk="patient_id", years=[2021, 2022, 2023, 2024],
    metric_name="Patient Out-of-Pocket Cost", metric_vague="patient costs", high_value_name="Costly Visit",
    high_value_vague="expensive visits", high_value_threshold=400, lifetime_name="Patient Lifetime Spend",
    premium_name="High-Cost Patient", premium_vague="costliest patients", premium_threshold=1800,
    settled_name="Closed Visit", gross_name="Visit Charge", adjust_name="Insurance Contribution",
)

SPEC = StarSpec(
    facts=FACTS, entity_comment="Registered patients.", fact_comment="One row per patient visit.",
    flag_comment="Clinical and administrative alerts on patients.", label_meaning="patient's full name",
    group_meaning="insurance plan: 'public', 'private', 'none'", groups=["public", "private", "none"],
    since_col="registered_on", since_meaning="date the patient registered with the hospital",
    status_weights={"completed": 0.5, "billed": 0.15, "scheduled": 0.15, "cancelled": 0.12, "no_show": 0.08},
    category_weights={"outpatient": 0.5, "emergency": 0.2, "inpatient": 0.15, "telehealth": 0.15},
    category_meaning="kind of visit; NULL when not coded",
    amount_range=(20, 650), amount_meaning="amount charged for the visit in USD (negative for corrections)",
    adjust_range=(5, 300), adjust_null=0.4, adjust_meaning="part of the charge paid by insurance, USD; NULL when uninsured",
    flag_values=["allergy", "fall_risk", "billing_hold"], n_entities=(380, 70), n_facts=(2400, 400),
    entity_extra=([Column("birth_year", "INTEGER", "year of birth")], lambda d, i: (d.rng.randint(1930, 2020),)),
    fact_extra=([Column("doctor_id", "INTEGER", "treating doctor", ref="doctors(doctor_id)")],
                lambda d, i: (d.rng.randint(1, 30),)),
)

DEPARTMENTS = ["Cardiology", "Oncology", "Pediatrics", "Orthopedics", "Neurology", "General Medicine"]
MEDS = ["amoxicillin", "ibuprofen", "metformin", "atorvastatin", "lisinopril", "omeprazole", "salbutamol"]


def build(seed: int, lite: bool = False) -> Database:
    d = Draw(seed)
    departments = Table("departments", "Hospital departments.", [
        Column("department_id", "INTEGER", "unique id", pk=True),
        Column("name", "TEXT", "department name", not_null=True),
        Column("floor", "INTEGER", "floor number; 0 is ground floor"),
    ], [(i + 1, n, d.rng.randint(0, 6)) for i, n in enumerate(DEPARTMENTS)])
    doctors = Table("doctors", "Physicians.", [
        Column("doctor_id", "INTEGER", "unique id", pk=True),
        Column("doctor_name", "TEXT", "full name", not_null=True),
        Column("department_id", "INTEGER", "home department", ref="departments(department_id)"),
        Column("hourly_rate", "REAL", "USD per hour; NULL for salaried staff"),
    ], [(i, "Dr. " + d.name(), d.rng.randint(1, 6), d.maybe(0.3, d.money(80, 400))) for i in range(1, 31)])
    patients, visits, alerts = build_star(d, SPEC, lite)
    rx = Table("prescriptions", "Medication prescribed at a visit; deleted with the visit.", [
        Column("prescription_id", "INTEGER", "unique id", pk=True),
        Column("visit_id", "INTEGER", "the visit", ref="visits(visit_id)", on_delete="CASCADE", not_null=True),
        Column("medication", "TEXT", "generic drug name"),
        Column("dose_mg", "REAL", "dose in milligrams"),
        Column("days", "INTEGER", "course length in days; NULL for ongoing"),
    ], child_rows(d, visits, (0, 2), lambda d, vid, fr: (vid, d.pick(MEDS), d.pick([5.0, 10.0, 250.0, 500.0]),
                                                          d.maybe(0.15, d.rng.randint(1, 30)))))
    tables = [departments, patients, visits, rx, alerts] if lite else [departments, doctors, patients, visits, rx, alerts]
    if not lite:
        labs = Table("lab_results", "Laboratory tests ordered at visits.", [
            Column("lab_id", "INTEGER", "unique id", pk=True),
            Column("visit_id", "INTEGER", "the visit", ref="visits(visit_id)", on_delete="CASCADE"),
            Column("test_code", "TEXT", "'HBA1C', 'LDL', 'CRP', 'TSH'"),
            Column("value", "REAL", "measured value in the test's unit; NULL when pending"),
            Column("abnormal", "INTEGER", "1 when outside the reference range, else 0"),
        ], child_rows(d, visits, (0, 1), lambda d, vid, fr: (vid, d.pick(["HBA1C", "LDL", "CRP", "TSH"]),
                                                              d.maybe(0.1, round(d.rng.uniform(0, 12), 2)), d.pick([0, 0, 1]))))
        beds = Table("beds", "Inpatient beds.", [
            Column("bed_id", "INTEGER", "unique id", pk=True),
            Column("department_id", "INTEGER", "department", ref="departments(department_id)"),
            Column("daily_rate", "REAL", "USD per night"),
        ], [(i, d.rng.randint(1, 6), d.pick([350.0, 350.0, 500.0, 1200.0])) for i in range(1, 61)])
        tables += [labs, beds]
    kb = generic_kb(FACTS, [
        ("Abnormal Lab Share", "Share of a visit's lab tests outside the reference range.",
         "SUM(lab_results.abnormal) / COUNT(lab_results)", "calculation_knowledge", []),
        ("No-Show", "A scheduled visit the patient did not attend.", "visits.visit_status = 'no_show'",
         "domain_knowledge", []),
    ])
    return Database("hospital", "Visits, prescriptions and labs of a regional hospital", tables, kb)
