"""Shop: catalogue, search, product pages, cart, checkout and orders (state in SQLite)."""

from __future__ import annotations

import random
import sqlite3

from .framework import Request, Response, Site, esc, not_found, options, qs, redirect, table

CATEGORIES = {
    "Electronics": ["USB-C Charger", "Wireless Mouse", "Mechanical Keyboard", "HD Webcam", "Bluetooth Speaker",
                    "Noise Cancelling Headphones", "Portable SSD", "Smart Plug"],
    "Kitchen": ["Chef Knife", "Cast Iron Skillet", "French Press", "Digital Scale", "Silicone Spatula",
                "Electric Kettle", "Cutting Board"],
    "Books": ["The Quiet Garden", "Rivers of Data", "A Short History of Maps", "Cooking for One",
              "The Lighthouse Keeper", "Learning Go"],
    "Garden": ["Pruning Shears", "Watering Can", "Raised Bed Kit", "Solar Lantern", "Seed Starter Tray"],
    "Toys": ["Wooden Puzzle", "Kite", "Building Blocks Set", "Plush Fox", "Marble Run"],
}
SHIPPING = [("standard", "Standard (free)"), ("express", "Express ($9.99)")]
CUSTOMERS = ["Alice Moreau", "Bilal Chen", "Carmen Diaz", "Dmitri Volkov", "Eva Lindqvist"]


class Shop(Site):
    name = "shop"
    title = "MegaShop"
    nav = [("Catalogue", "/"), ("Cart", "/cart"), ("My orders", "/orders")]
    SCHEMA = """
    CREATE TABLE products(id INTEGER PRIMARY KEY, name TEXT UNIQUE, category TEXT, price REAL, stock INTEGER,
                          rating REAL, description TEXT);
    CREATE TABLE cart(product_id INTEGER PRIMARY KEY, qty INTEGER);
    CREATE TABLE orders(id INTEGER PRIMARY KEY, customer TEXT, address TEXT, shipping TEXT, total REAL, status TEXT);
    CREATE TABLE order_items(order_id INTEGER, product_id INTEGER, qty INTEGER, price REAL);
    """

    def seed(self, db: sqlite3.Connection) -> None:
        rng = random.Random(6)
        pid = 0
        for cat, names in CATEGORIES.items():
            for name in names:
                pid += 1
                price = round(rng.uniform(4, 180), 2)
                db.execute("INSERT INTO products VALUES(?,?,?,?,?,?,?)",
                           (pid, name, cat, price, rng.choice([0, 3, 7, 12, 25, 40]), round(rng.uniform(2.5, 5), 1),
                            f"{name}: a dependable choice in {cat.lower()}. Item code SKU-{1000 + pid}."))
        for oid in range(1, 7):
            items = rng.sample(range(1, pid + 1), rng.randint(1, 3))
            total = 0.0
            for p in items:
                qty = rng.randint(1, 3)
                price = db.execute("SELECT price FROM products WHERE id=?", (p,)).fetchone()[0]
                db.execute("INSERT INTO order_items VALUES(?,?,?,?)", (oid, p, qty, price))
                total += qty * price
            db.execute("INSERT INTO orders VALUES(?,?,?,?,?,?)", (oid, CUSTOMERS[oid % 5], f"{10 + oid} Elm Street",
                       "standard", round(total, 2), rng.choice(["shipped", "delivered", "processing"])))

    def money(self, v: float) -> str:
        return f"${v:.2f}"

    def product_rows(self, rows: list[sqlite3.Row]) -> str:
        return table(["Product", "Category", "Price", "Rating", "Stock"], [
            [f'<a href="/product/{r["id"]}">{esc(r["name"])}</a>', esc(r["category"]), self.money(r["price"]),
             f'{r["rating"]:.1f}', "out of stock" if r["stock"] == 0 else str(r["stock"])] for r in rows])


@Shop.route("GET", "/")
def catalogue(site: Shop, req: Request) -> Response:
    cat, sort = req.arg("category"), req.arg("sort", "name")
    order = {"name": "name", "price": "price", "price_desc": "price DESC", "rating": "rating DESC"}.get(sort, "name")
    rows = site.q(f"SELECT * FROM products WHERE (?='' OR category=?) ORDER BY {order}", cat, cat)
    cats = " | ".join(f'<a href="/?{qs(category=c)}">{esc(c)}</a>' for c in CATEGORIES)
    form = ('<form action="/search" method="get"><input name="q" aria-label="Search products" placeholder="Search">'
            '<button type="submit">Search</button></form>')
    sorter = (f'<form method="get"><input type="hidden" name="category" value="{esc(cat)}"><select name="sort" '
              f'aria-label="Sort by">{options([("name", "Name"), ("price", "Price: low to high"), ("price_desc", "Price: high to low"), ("rating", "Rating")], sort)}'
              '</select><button type="submit">Sort</button></form>')
    title = cat or "All products"
    return Response(site.page(title, f"{form}<p>Categories: {cats}</p><h1>{esc(title)}</h1>{sorter}{site.product_rows(rows)}"))


@Shop.route("GET", "/search")
def search(site: Shop, req: Request) -> Response:
    q = req.arg("q").strip()
    rows = site.q("SELECT * FROM products WHERE name LIKE ? OR description LIKE ? ORDER BY name", f"%{q}%", f"%{q}%") if q else []
    body = f"<h1>Search results for &quot;{esc(q)}&quot;</h1><p>{len(rows)} result(s)</p>" + (site.product_rows(rows) if rows else "")
    return Response(site.page("Search", body))


@Shop.route("GET", r"/product/(?P<pid>\d+)")
def product(site: Shop, req: Request) -> Response:
    r = site.one("SELECT * FROM products WHERE id=?", int(req.params["pid"]))
    if r is None:
        return not_found("product")
    buy = ('<p class="error">Out of stock</p>' if r["stock"] == 0 else
           f'<form action="/cart/add" method="post"><input type="hidden" name="product_id" value="{r["id"]}">'
           f'<label for="qty">Quantity</label> <input id="qty" name="qty" type="number" min="1" value="1">'
           '<button type="submit">Add to cart</button></form>')
    body = (f'<h1>{esc(r["name"])}</h1><p>Category: {esc(r["category"])}</p><p>Price: {site.money(r["price"])}</p>'
            f'<p>Rating: {r["rating"]:.1f} / 5</p><p>In stock: {r["stock"]}</p><p>{esc(r["description"])}</p>{buy}')
    return Response(site.page(r["name"], body))


@Shop.route("POST", "/cart/add")
def cart_add(site: Shop, req: Request) -> Response:
    pid, qty = int(req.arg("product_id", "0")), int(req.arg("qty", "1") or 1)
    r = site.one("SELECT stock FROM products WHERE id=?", pid)
    if r is None or qty < 1:
        raise ValueError("choose an existing product and a quantity of at least 1")
    have = site.one("SELECT qty FROM cart WHERE product_id=?", pid)
    total = qty + (have["qty"] if have else 0)
    if total > r["stock"]:
        raise ValueError(f"only {r['stock']} in stock")
    site.db.execute("INSERT OR REPLACE INTO cart VALUES(?,?)", (pid, total))
    return redirect("/cart")


@Shop.route("GET", "/cart")
def cart(site: Shop, req: Request) -> Response:
    rows = site.q("SELECT p.id, p.name, p.price, c.qty FROM cart c JOIN products p ON p.id=c.product_id ORDER BY p.name")
    if not rows:
        return Response(site.page("Cart", '<h1>Your cart</h1><p>Your cart is empty.</p><a href="/">Continue shopping</a>'))
    total = sum(r["price"] * r["qty"] for r in rows)
    lines = [[esc(r["name"]), site.money(r["price"]), str(r["qty"]),
              f'<form action="/cart/remove" method="post"><input type="hidden" name="product_id" value="{r["id"]}">'
              f'<button type="submit" aria-label="Remove {esc(r["name"])}">Remove</button></form>'] for r in rows]
    body = (f'<h1>Your cart</h1>{table(["Product", "Price", "Quantity", ""], lines)}<p>Subtotal: {site.money(total)}</p>'
            '<a href="/checkout">Proceed to checkout</a>')
    return Response(site.page("Cart", body))


@Shop.route("POST", "/cart/remove")
def cart_remove(site: Shop, req: Request) -> Response:
    site.db.execute("DELETE FROM cart WHERE product_id=?", (int(req.arg("product_id", "0")),))
    return redirect("/cart")


@Shop.route("GET", "/checkout")
def checkout(site: Shop, req: Request) -> Response:
    if not site.q("SELECT 1 FROM cart"):
        return redirect("/cart")
    body = ('<h1>Checkout</h1><form action="/checkout" method="post">'
            '<p><label for="customer">Full name</label> <input id="customer" name="customer"></p>'
            '<p><label for="address">Address</label> <input id="address" name="address"></p>'
            f'<p><label for="shipping">Shipping</label> <select id="shipping" name="shipping">{options(SHIPPING)}</select></p>'
            '<button type="submit">Place order</button></form>')
    return Response(site.page("Checkout", body))


@Shop.route("POST", "/checkout")
def place_order(site: Shop, req: Request) -> Response:
    customer, address, shipping = req.arg("customer").strip(), req.arg("address").strip(), req.arg("shipping")
    if not customer or not address:
        raise ValueError("full name and address are required")
    if shipping not in dict(SHIPPING):
        raise ValueError("choose a shipping method")
    rows = site.q("SELECT p.id, p.price, c.qty FROM cart c JOIN products p ON p.id=c.product_id")
    if not rows:
        raise ValueError("your cart is empty")
    total = sum(r["price"] * r["qty"] for r in rows) + (9.99 if shipping == "express" else 0)
    cur = site.db.execute("INSERT INTO orders(customer,address,shipping,total,status) VALUES(?,?,?,?,?)",
                          (customer, address, shipping, round(total, 2), "processing"))
    for r in rows:
        site.db.execute("INSERT INTO order_items VALUES(?,?,?,?)", (cur.lastrowid, r["id"], r["qty"], r["price"]))
        site.db.execute("UPDATE products SET stock=stock-? WHERE id=?", (r["qty"], r["id"]))
    site.db.execute("DELETE FROM cart")
    return redirect(f"/orders/{cur.lastrowid}?placed=1")


@Shop.route("GET", "/orders")
def orders(site: Shop, req: Request) -> Response:
    rows = site.q("SELECT * FROM orders ORDER BY id DESC")
    lines = [[f'<a href="/orders/{r["id"]}">Order #{r["id"]}</a>', esc(r["customer"]), site.money(r["total"]), esc(r["status"])] for r in rows]
    return Response(site.page("My orders", f'<h1>My orders</h1>{table(["Order", "Customer", "Total", "Status"], lines)}'))


@Shop.route("GET", r"/orders/(?P<oid>\d+)")
def order(site: Shop, req: Request) -> Response:
    o = site.one("SELECT * FROM orders WHERE id=?", int(req.params["oid"]))
    if o is None:
        return not_found("order")
    items = site.q("SELECT p.name, i.qty, i.price FROM order_items i JOIN products p ON p.id=i.product_id WHERE i.order_id=?", o["id"])
    note = '<p class="ok">Thank you! Your order was placed.</p>' if req.arg("placed") else ""
    body = (f'{note}<h1>Order #{o["id"]}</h1><p>Customer: {esc(o["customer"])}</p><p>Ship to: {esc(o["address"])} '
            f'({esc(o["shipping"])})</p><p>Status: {esc(o["status"])}</p>'
            f'{table(["Product", "Quantity", "Unit price"], [[esc(i["name"]), str(i["qty"]), site.money(i["price"])] for i in items])}'
            f'<p>Total: {site.money(o["total"])}</p>')
    return Response(site.page(f"Order #{o['id']}", body))
