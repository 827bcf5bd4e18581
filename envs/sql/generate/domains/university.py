"""University enrolment: students enrol in course offerings, pay tuition, earn grades."""

from __future__ import annotations

from agentgym.envs.sql.generate.core import Column, Database, DomainFacts, Draw, Table, generic_kb
from agentgym.envs.sql.generate.star import StarSpec, build_star, child_rows

FACTS = DomainFacts(
    db="university", entity_table="students", entity_key="student_id", entity_label="student_name",
    entity_noun="student", entity_plural="students", entity_group_col="programme", entity_group_noun="programme",
    fact_table="enrolments", fact_key="enrolment_id", fact_fk="student_id", fact_noun="enrolment",
    fact_plural="enrolments", date_col="enrolled_on", amount_col="tuition_fee", amount_noun="tuition fee",
    adjust_col="scholarship_amount", adjust_noun="scholarship", adjust_sign=-1, status_col="enrolment_status",
    settled=["completed", "passed"], open_status="waitlisted", expired_status="withdrawn", cancel_status="dropped", failed_status="failed",
    category_col="delivery_mode", category_noun="delivery mode", categories=["in_person", "online", "hybrid"],
    child_table="assessments", flag_table="student_holds", flag_fk="student_id", years=[2021, 2022, 2023, 2024],
    metric_name="Net Tuition", metric_vague="tuition income", high_value_name="Full-Fee Enrolment",
    high_value_vague="expensive enrolments", high_value_threshold=1200, lifetime_name="Student Lifetime Tuition",
    premium_name="High-Contribution Student", premium_vague="biggest payers", premium_threshold=6000,
    settled_name="Finished Enrolment", gross_name="Listed Tuition", adjust_name="Scholarship Deduction",
)

SPEC = StarSpec(
    facts=FACTS, entity_comment="Students, current and former.", fact_comment="One row per course enrolment.",
    flag_comment="Administrative holds on student records.", label_meaning="student's full name",
    group_meaning="degree programme: 'BSc', 'MSc', 'PhD', 'exchange'", groups=["BSc", "BSc", "MSc", "PhD", "exchange"],
    since_col="admitted_on", since_meaning="date of admission",
    status_weights={"completed": 0.4, "passed": 0.2, "waitlisted": 0.12, "dropped": 0.15, "failed": 0.13},
    category_weights={"in_person": 0.55, "online": 0.3, "hybrid": 0.15},
    category_meaning="how the course is taught; NULL for legacy records",
    amount_range=(300, 2000), amount_meaning="tuition charged for the enrolment in GBP (negative for refunds)",
    adjust_range=(50, 900), adjust_null=0.55, adjust_meaning="scholarship applied in GBP; NULL means none",
    flag_values=["fees_owed", "library_fine", "visa_check"], n_entities=(360, 70), n_facts=(2300, 380),
    entity_extra=([Column("gpa", "REAL", "grade point average 0.0-4.0; NULL for new students")],
                  lambda d, i: (d.maybe(0.12, d.pick([4.0, 3.5, round(d.rng.uniform(1.5, 4.0), 2), 0.0])),)),
    fact_extra=([Column("course_id", "INTEGER", "the course", ref="courses(course_id)")],
                lambda d, i: (d.rng.randint(1, 60),)),
)

SUBJECTS = ["Databases", "Statistics", "Ethics", "Algorithms", "Economics", "Biology", "History", "Design"]


def build(seed: int, lite: bool = False) -> Database:
    d = Draw(seed)
    departments = Table("departments", "Academic departments.", [
        Column("department_id", "INTEGER", "unique id", pk=True),
        Column("name", "TEXT", "department name"),
        Column("budget", "REAL", "annual budget in GBP; large values are normal"),
    ], [(i + 1, n, d.money(1e5, 5e6)) for i, n in enumerate(["Computing", "Science", "Humanities", "Business"])])
    instructors = Table("instructors", "Teaching staff.", [
        Column("instructor_id", "INTEGER", "unique id", pk=True),
        Column("instructor_name", "TEXT", "full name"),
        Column("department_id", "INTEGER", "department", ref="departments(department_id)"),
        Column("hired_on", "DATE", "hire date"),
    ], [(i, d.name(), d.rng.randint(1, 4), d.date("2005-01-01", "2023-09-01")) for i in range(1, 41)])
    courses = Table("courses", "Courses in the catalogue.", [
        Column("course_id", "INTEGER", "unique id", pk=True),
        Column("title", "TEXT", "course title"),
        Column("credits", "INTEGER", "credit points (0 for non-credit courses)"),
        Column("instructor_id", "INTEGER", "lead instructor; NULL when unassigned", ref="instructors(instructor_id)"),
    ], [(i, f"{d.pick(SUBJECTS)} {d.rng.randint(100, 499)}", d.pick([0, 5, 10, 10, 15, 20]),
         d.maybe(0.1, d.rng.randint(1, 40))) for i in range(1, 61)])
    students, enrolments, holds = build_star(d, SPEC, lite)
    assessments = Table("assessments", "Marks of an enrolment; deleted with it.", [
        Column("assessment_id", "INTEGER", "unique id", pk=True),
        Column("enrolment_id", "INTEGER", "the enrolment", ref="enrolments(enrolment_id)", on_delete="CASCADE", not_null=True),
        Column("kind", "TEXT", "'exam', 'coursework', 'project'"),
        Column("mark", "REAL", "mark out of 100; NULL when not yet marked"),
    ], child_rows(d, enrolments, (1, 3), lambda d, eid, fr: (eid, d.pick(["exam", "coursework", "project"]),
                                                              d.maybe(0.1, d.pick([100.0, 0.0, round(d.rng.uniform(20, 95), 1)])))))
    tables = [students, enrolments, assessments, holds]
    if not lite:
        tables = [departments, instructors, courses] + tables
        tables.append(Table("terms", "Academic terms.", [
            Column("term_id", "INTEGER", "unique id", pk=True),
            Column("label", "TEXT", "e.g. '2023-autumn'"),
            Column("starts_on", "DATE", "first day"),
            Column("ends_on", "DATE", "last day"),
        ], [(i, f"{y}-{s}", f"{y}-{m}-01", f"{y}-{m2}-28") for i, (y, s, m, m2) in enumerate(
            [(y, s, m, m2) for y in range(2021, 2025) for s, m, m2 in (("spring", "01", "05"), ("autumn", "09", "12"))], 1)]))
    else:
        tables.insert(0, departments)
    kb = generic_kb(FACTS, [
        ("Good Standing", "A student with a GPA of at least 2.0 and no open hold.", "students.gpa >= 2.0 AND no student_holds",
         "domain_knowledge", []),
        ("Credit Load", "Credits a student takes in a term.", "SUM(courses.credits)", "calculation_knowledge", []),
    ])
    return Database("university", "Enrolments, tuition and marks of a university", tables, kb)
