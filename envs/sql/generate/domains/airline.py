"""Airline bookings: passengers book seats on flights between airports."""

from __future__ import annotations

from agentgym.envs.sql.generate.core import Column, Database, DomainFacts, Draw, Table, generic_kb
from agentgym.envs.sql.generate.star import StarSpec, build_star, child_rows

FACTS = DomainFacts(
    db="airline", entity_table="passengers", entity_key="passenger_id", entity_label="passenger_name",
    entity_noun="passenger", entity_plural="passengers", entity_group_col="tier", entity_group_noun="loyalty tier",
    fact_table="bookings", fact_key="booking_id", fact_fk="passenger_id", fact_noun="booking", fact_plural="bookings",
    date_col="booked_on", amount_col="fare_amount", amount_noun="fare", adjust_col="baggage_fee",
    adjust_noun="baggage fee", adjust_sign=1, status_col="booking_status", settled=["flown", "ticketed"],
    open_status="reserved", expired_status="expired", cancel_status="cancelled", failed_status="refunded", category_col="cabin_class",
    category_noun="cabin class", categories=["economy", "premium_economy", "business", "first"],
    child_table="booking_segments", flag_table="passenger_notes", flag_fk="passenger_id", years=[2021, 2022, 2023, 2024],
    metric_name="Total Booking Revenue", metric_vague="revenue", high_value_name="Premium Booking",
    high_value_vague="pricey bookings", high_value_threshold=700, lifetime_name="Passenger Lifetime Revenue",
    premium_name="Elite Passenger", premium_vague="top flyers", premium_threshold=2500,
    settled_name="Confirmed Booking", gross_name="Base Fare", adjust_name="Baggage Charge",
)

SPEC = StarSpec(
    facts=FACTS, entity_comment="People who fly with us.", fact_comment="One row per booking.",
    flag_comment="Service notes on passengers.", label_meaning="passenger's full name as on the passport",
    group_meaning="loyalty tier: 'basic', 'silver', 'gold'", groups=["basic", "basic", "silver", "gold"],
    since_col="member_since", since_meaning="date the passenger joined the loyalty programme",
    status_weights={"flown": 0.55, "ticketed": 0.15, "reserved": 0.12, "cancelled": 0.13, "refunded": 0.05},
    category_weights={"economy": 0.65, "premium_economy": 0.15, "business": 0.15, "first": 0.05},
    category_meaning="cabin booked; NULL for open tickets",
    amount_range=(40, 1100), amount_meaning="fare in USD excluding extras (negative for fare adjustments)",
    adjust_range=(15, 120), adjust_null=0.45, adjust_meaning="checked-baggage fee in USD; NULL when no bag",
    flag_values=["wheelchair", "vip", "complaint"], n_entities=(400, 80), n_facts=(2500, 420),
    entity_extra=([Column("nationality", "TEXT", "ISO country code")], lambda d, i: (d.pick(["US", "BR", "FR", "JP", "KE"]),)),
    fact_extra=([Column("flight_id", "INTEGER", "first flight of the booking", ref="flights(flight_id)")],
                lambda d, i: (d.rng.randint(1, 150),)),
)

AIRPORTS = [("LIS", "Lisbon"), ("NBO", "Nairobi"), ("KIX", "Osaka"), ("DEN", "Denver"), ("KRK", "Krakow"),
            ("GRU", "Sao Paulo"), ("CDG", "Paris"), ("SEA", "Seattle")]


def build(seed: int, lite: bool = False) -> Database:
    d = Draw(seed)
    airports = Table("airports", "Airports we serve.", [
        Column("airport_code", "TEXT", "IATA code", pk=True),
        Column("city", "TEXT", "city served"),
        Column("runways", "INTEGER", "number of runways"),
    ], [(c, n, d.rng.randint(1, 5)) for c, n in AIRPORTS])
    aircraft = Table("aircraft", "Our fleet.", [
        Column("aircraft_id", "INTEGER", "unique id", pk=True),
        Column("model", "TEXT", "aircraft model"),
        Column("seats", "INTEGER", "seat count"),
        Column("retired_on", "DATE", "retirement date; NULL while in service"),
    ], [(i, d.pick(["A320", "A321neo", "B737-800", "B787-9", "E195"]), d.pick([120, 180, 190, 290]),
         d.maybe(0.85, d.date("2022-01-01", "2024-12-31"))) for i in range(1, 26)])
    flights = Table("flights", "Scheduled flights.", [
        Column("flight_id", "INTEGER", "unique id", pk=True),
        Column("flight_no", "TEXT", "marketing flight number"),
        Column("origin", "TEXT", "departure airport", ref="airports(airport_code)"),
        Column("destination", "TEXT", "arrival airport", ref="airports(airport_code)"),
        Column("aircraft_id", "INTEGER", "aircraft flown", ref="aircraft(aircraft_id)"),
        Column("departs_on", "DATE", "departure date"),
        Column("delay_minutes", "INTEGER", "arrival delay in minutes; negative when early, NULL when not flown"),
    ])
    codes = [c for c, _ in AIRPORTS]
    for i in range(1, 151):
        o = d.pick(codes)
        dest = d.pick([c for c in codes if c != o])
        flights.rows.append((i, f"AG{100 + i}", o, dest, d.rng.randint(1, 25), d.date("2021-01-01", "2024-12-31"),
                             d.maybe(0.1, d.pick([0, 0, 5, 15, -7, 45, 180]))))
    passengers, bookings, notes = build_star(d, SPEC, lite)
    segments = Table("booking_segments", "Flight legs of a booking; deleted with the booking.", [
        Column("segment_id", "INTEGER", "unique id", pk=True),
        Column("booking_id", "INTEGER", "the booking", ref="bookings(booking_id)", on_delete="CASCADE", not_null=True),
        Column("leg", "INTEGER", "1 for the first leg, 2 for the second, ..."),
        Column("seat", "TEXT", "seat assigned; NULL before check-in"),
    ], child_rows(d, bookings, (1, 2), lambda d, bid, fr: (bid, 1, d.maybe(0.3, f"{d.rng.randint(1, 40)}{d.pick('ABCDEF')}"))))
    tables = [passengers, bookings, segments, notes]
    if not lite:
        tables = [airports, aircraft, flights] + tables
        tables.append(Table("crew_assignments", "Crew on each flight.", [
            Column("assignment_id", "INTEGER", "unique id", pk=True),
            Column("flight_id", "INTEGER", "the flight", ref="flights(flight_id)"),
            Column("crew_name", "TEXT", "crew member"),
            Column("role", "TEXT", "'captain', 'first_officer', 'cabin'"),
        ], [(i, d.rng.randint(1, 150), d.name(), d.pick(["captain", "first_officer", "cabin", "cabin"]))
            for i in range(1, 401)]))
    else:
        tables.insert(0, airports)
    kb = generic_kb(FACTS, [
        ("On-Time Flight", "A flight that arrived no more than 15 minutes late.", "flights.delay_minutes <= 15",
         "domain_knowledge", []),
        ("Load Factor", "Share of seats sold on a flight.", "COUNT(booking_segments) / aircraft.seats",
         "calculation_knowledge", []),
    ])
    return Database("airline", "Bookings and flights of a mid-size airline", tables, kb)
