"""Retail orders: customers buy products from suppliers through several channels."""

from __future__ import annotations

from agentgym.envs.sql.generate.core import Column, Database, DomainFacts, Draw, Table, generic_kb
from agentgym.envs.sql.generate.star import StarSpec, build_star, child_rows

FACTS = DomainFacts(
    db="retail", entity_table="customers", entity_key="customer_id", entity_label="full_name",
    entity_noun="customer", entity_plural="customers", entity_group_col="segment", entity_group_noun="segment",
    fact_table="orders", fact_key="order_id", fact_fk="customer_id", fact_noun="order", fact_plural="orders",
    date_col="order_date", amount_col="total_amount", amount_noun="order total", adjust_col="discount_amount",
    adjust_noun="discount", adjust_sign=-1, status_col="status", settled=["delivered", "shipped"],
    open_status="pending", expired_status="expired", cancel_status="cancelled", failed_status="returned", category_col="channel",
    category_noun="sales channel", categories=["web", "store", "app", "phone"], child_table="order_items",
    flag_table="customer_flags", flag_fk="customer_id", years=[2021, 2022, 2023, 2024],
    metric_name="Net Order Value", metric_vague="sales", high_value_name="High-Value Order",
    high_value_vague="big orders", high_value_threshold=300, lifetime_name="Customer Lifetime Value",
    premium_name="Premium Customer", premium_vague="best customers", premium_threshold=1500,
    settled_name="Settled Order", gross_name="Gross Order Value", adjust_name="Order Discount",
)

SPEC = StarSpec(
    facts=FACTS, entity_comment="People who have bought from us.", fact_comment="One row per customer order.",
    flag_comment="Manual flags on customer accounts.", label_meaning="customer's full name",
    group_meaning="marketing segment: 'consumer', 'small_business', 'corporate'",
    groups=["consumer", "small_business", "corporate"], since_col="signup_date",
    since_meaning="date the customer account was created",
    status_weights={"delivered": 0.55, "shipped": 0.12, "pending": 0.15, "cancelled": 0.12, "returned": 0.06},
    category_weights={"web": 0.45, "store": 0.3, "app": 0.2, "phone": 0.05},
    category_meaning="sales channel of the order; NULL for legacy imports",
    amount_range=(8, 420), amount_meaning="order total in EUR before discount (negative for credit notes)",
    adjust_range=(1, 60), adjust_null=0.35, adjust_meaning="discount in EUR granted on the order; NULL means none",
    flag_values=["vip", "fraud_check", "do_not_contact"], n_entities=(420, 80), n_facts=(2600, 420),
    entity_extra=([Column("loyalty_points", "INTEGER", "points balance; 0 for non-members")],
                  lambda d, i: (d.pick([0, 0, d.rng.randint(1, 5000), 250]),)),
    fact_extra=([Column("shipping_fee", "REAL", "shipping fee in EUR; 0 for store pickup")],
                lambda d, i: (d.pick([0.0, 4.99, 9.99, 14.5]),)),
)

CATEGORIES = ["electronics", "garden", "kitchen", "toys", "books", "apparel"]


def build(seed: int, lite: bool = False) -> Database:
    d = Draw(seed)
    suppliers = Table("suppliers", "Companies we buy stock from.", [
        Column("supplier_id", "INTEGER", "unique id of the supplier", pk=True),
        Column("name", "TEXT", "supplier company name", not_null=True),
        Column("country", "TEXT", "ISO country code of the supplier"),
        Column("rating", "REAL", "quality rating 1.0-5.0; NULL when not yet rated"),
    ], [(i, f"Supplier {i:02d} {d.pick(['Ltd', 'GmbH', 'SA', 'Inc'])}", d.pick(["PT", "DE", "CN", "US", "IN"]),
         d.maybe(0.2, round(d.rng.uniform(1, 5), 1))) for i in range(1, 21)])
    products = Table("products", "Items we sell.", [
        Column("product_id", "INTEGER", "unique id of the product", pk=True),
        Column("name", "TEXT", "product name", not_null=True),
        Column("category", "TEXT", "product category: " + ", ".join(CATEGORIES)),
        Column("unit_price", "REAL", "list price in EUR"),
        Column("cost_price", "REAL", "what one unit costs us in EUR; NULL when unknown"),
        *([] if lite else [Column("supplier_id", "INTEGER", "who supplies it", ref="suppliers(supplier_id)")]),
    ])
    for i in range(1, (40 if lite else 160) + 1):
        price = d.money(2, 300)
        price = price if price > 0 else 0.0
        row = (i, f"{d.pick(['Smart', 'Classic', 'Eco', 'Pro', 'Mini'])} {d.pick(CATEGORIES)[:-1]} {i}",
               d.pick(CATEGORIES), price, d.maybe(0.1, round(price * d.rng.uniform(0.3, 0.9), 2)))
        products.rows.append(row + (() if lite else (d.rng.randint(1, 20),)))
    customers, orders, flags = build_star(d, SPEC, lite)
    n_products = len(products.rows)
    items = Table("order_items", "Lines of an order; deleted with their order.", [
        Column("item_id", "INTEGER", "unique id of the order line", pk=True),
        Column("order_id", "INTEGER", "the order", ref="orders(order_id)", on_delete="CASCADE", not_null=True),
        Column("product_id", "INTEGER", "the product", ref="products(product_id)", not_null=True),
        Column("quantity", "INTEGER", "units ordered (0 for cancelled lines)"),
        Column("unit_price", "REAL", "price per unit at the time of the order, EUR"),
    ], child_rows(d, orders, (1, 3), lambda d, oid, fr: (oid, d.rng.randint(1, n_products),
                                                           d.pick([1, 1, 2, 3, 0, 10]), d.money(2, 300))))
    tables = [customers, suppliers, products, orders, items, flags]
    if not lite:
        payments = Table("payments", "Payments received against orders.", [
            Column("payment_id", "INTEGER", "unique id of the payment", pk=True),
            Column("order_id", "INTEGER", "the order paid", ref="orders(order_id)", on_delete="CASCADE", not_null=True),
            Column("paid_on", "DATE", "date the payment cleared"),
            Column("amount", "REAL", "amount paid in EUR; negative for refunds"),
            Column("method", "TEXT", "'card', 'paypal', 'bank_transfer', 'voucher'"),
        ], child_rows(d, orders, (0, 2), lambda d, oid, fr: (oid, fr[2], fr[5], d.pick(["card", "paypal", "bank_transfer", "voucher"]))))
        returns = Table("returns", "Items sent back by customers.", [
            Column("return_id", "INTEGER", "unique id of the return", pk=True),
            Column("item_id", "INTEGER", "the order line returned", ref="order_items(item_id)", on_delete="CASCADE"),
            Column("reason", "TEXT", "'damaged', 'wrong_item', 'changed_mind'; NULL when not given"),
            Column("refund_amount", "REAL", "refund in EUR"),
        ], [(i, d.rng.randint(1, len(items.rows)), d.maybe(0.2, d.pick(["damaged", "wrong_item", "changed_mind"])),
             d.money(1, 200)) for i in range(1, 181)])
        promotions = Table("promotions", "Marketing campaigns.", [
            Column("promotion_id", "INTEGER", "unique id", pk=True),
            Column("name", "TEXT", "campaign name"),
            Column("starts_on", "DATE", "first day"),
            Column("ends_on", "DATE", "last day; NULL for open-ended"),
            Column("discount_pct", "REAL", "percentage off, 0-100"),
        ], [(i, f"Campaign {i}", d.date("2021-01-01", "2024-10-01"), d.maybe(0.2, d.date("2024-10-02", "2025-06-30")),
             d.pick([5.0, 10.0, 15.0, 0.0, 50.0])) for i in range(1, 13)])
        tables += [payments, returns, promotions]
    kb = generic_kb(FACTS, [
        ("Gross Margin", "Profit on an order line before overheads.",
         "order_items.quantity * (order_items.unit_price - products.cost_price)", "calculation_knowledge", []),
        ("Return Rate", "Share of order lines that came back.", "COUNT(returns) / COUNT(order_items)",
         "calculation_knowledge", []),
        ("Loyalty Member", "A customer enrolled in the loyalty programme.", "customers.loyalty_points > 0",
         "domain_knowledge", []),
    ])
    return Database("retail", "Retail orders of an online and high-street shop", tables, kb)
