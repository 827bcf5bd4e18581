"""Task templates over the shop and the issue tracker, instantiated from their seeded data."""

from __future__ import annotations

from agentgym.envs.web.sites.shop import CATEGORIES, Shop
from agentgym.envs.web.sites.tracker import LABELS, USERS, Tracker
from agentgym.envs.web.tasks.build import click, fill, goto, infeasible, new_tab, select, send, task
from agentgym.envs.web.tasks.models import AnswerCheck, InfeasibleCheck, StateCheck, TabsCheck, UrlCheck, WebTask

SEARCH = [fill("input[name=q]", ""), click('form[action="/search"] button')]


def _search(name: str) -> list:
    return [fill("input[name=q]", name), click('form[action="/search"] button')]


def shop_tasks() -> list[WebTask]:
    db = Shop().template
    products = db.execute("SELECT id, name, category, price, stock FROM products ORDER BY id").fetchall()
    in_stock = [p for p in products if p[4] >= 3]
    out = []
    for n, (pid, name, cat, price, stock) in enumerate(products[::3][:10]):
        out.append(task("shop_price", n, "info", "shop", "/", f"What is the price of the {name} in MegaShop? Answer with the number.",
                        [AnswerCheck(mode="numeric", expected=price)],
                        [*_search(name), click(f'a[href="/product/{pid}"]'), send(f"{price:.2f}")]))
    for n, (pid, name, cat, price, stock) in enumerate(products[1::4][:7]):
        out.append(task("shop_stock", n, "info", "shop", "/", f"How many units of {name} are in stock? Answer with the number.",
                        [AnswerCheck(mode="numeric", expected=stock, tolerance=0)],
                        [click(f'a[href="/?category={cat}"]'), click(f'a[href="/product/{pid}"]'), send(str(stock))]))
    for n, cat in enumerate(CATEGORIES):
        cheapest = min((p for p in products if p[2] == cat), key=lambda p: p[3])
        out.append(task("shop_cheapest", n, "info", "shop", "/", f"Which product in the {cat} category is the cheapest? Answer with its name.",
                        [AnswerCheck(mode="exact", expected=cheapest[1])],
                        [click(f'a[href="/?category={cat}"]'), select("select[name=sort]", "price"), click("select[name=sort] + button"),
                         send(cheapest[1])]))
    for n, (oid, total) in enumerate(db.execute("SELECT id, total FROM orders ORDER BY id").fetchall()):
        out.append(task("shop_order_total", n, "info", "shop", "/", f"What was the total of my order #{oid}? Answer with the amount.",
                        [AnswerCheck(mode="numeric", expected=total)],
                        [click('header a[href="/orders"]'), click(f'a[href="/orders/{oid}"]'), send(f"{total:.2f}")]))
    people = [("Nora Quist", "4 Harbour Road"), ("Omar Farah", "77 Mill Lane"), ("Petra Lind", "9 Birch Avenue"),
              ("Ravi Shah", "21 Canal Street")]
    for n, (pid, name, cat, price, stock) in enumerate(in_stock[:8]):
        qty = 1 + n % 3
        cust, addr = people[n % 4]
        ship = "express" if n % 2 else "standard"
        out.append(task("shop_buy", n, "state", "shop", "/",
                        f"Buy {qty} x {name} with {ship} shipping for {cust}, {addr}.",
                        [StateCheck(site="shop", fn="shop.order", params={"items": {str(pid): qty}, "customer": cust, "address": addr, "shipping": ship})],
                        [*_search(name), click(f'a[href="/product/{pid}"]'), fill("#qty", str(qty)), click('form[action="/cart/add"] button'),
                         click('a[href="/checkout"]'), fill("#customer", cust), fill("#address", addr), select("#shipping", ship),
                         click('form[action="/checkout"] button')]))
    for n in range(5):
        a, b = in_stock[2 * n + 1], in_stock[2 * n + 8]
        cheap = a if a[3] <= b[3] else b
        cust, addr = people[(n + 1) % 4]
        out.append(task("shop_compare_buy", n, "multi_tab", "shop", "/",
                        f"Compare {a[1]} and {b[1]} (open each in its own tab) and buy one unit of the cheaper one "
                        f"with standard shipping for {cust}, {addr}.",
                        [StateCheck(site="shop", fn="shop.order", params={"items": {str(cheap[0]): 1}, "customer": cust, "address": addr, "shipping": "standard"})],
                        [new_tab("shop", f"/product/{a[0]}"), new_tab("shop", f"/product/{b[0]}"),
                         goto("shop", f"/product/{cheap[0]}"), click('form[action="/cart/add"] button'),
                         click('a[href="/checkout"]'), fill("#customer", cust), fill("#address", addr), click('form[action="/checkout"] button')]))
    for n in range(5):
        picks = products[n::7][:3]
        out.append(task("shop_tabs", n, "multi_tab", "shop", "/",
                        "Open the product pages of " + ", ".join(p[1] for p in picks) + " each in its own tab, then tell me you are done.",
                        [TabsCheck(site="shop", paths=[f"/product/{p[0]}" for p in picks])],
                        [new_tab("shop", f"/product/{p[0]}") for p in picks]))
    for n, (pid, name, *_rest) in enumerate(products[2::6][:5]):
        out.append(task("shop_nav", n, "navigation", "shop", "/cart", f"Go to the product page of {name} and stay there.",
                        [UrlCheck(site="shop", path=f"/product/{pid}")],
                        [click('header a[href="/"]'), click(f'a[href="/product/{pid}"]')]))
    sold_out = [p for p in products if p[4] == 0]
    for n, (pid, name, *_rest) in enumerate(sold_out[:3]):
        out.append(task("shop_infeasible", n, "infeasible", "shop", "/", f"Order two units of {name} for me.",
                        [InfeasibleCheck()], [click(f'a[href="/product/{pid}"]'), infeasible(f"{name} is out of stock")]))
    for n, name in enumerate(["Espresso Machine Deluxe", "Gold Plated Drone"][: 5 - min(3, len(sold_out))]):
        out.append(task("shop_infeasible", 3 + n, "infeasible", "shop", "/", f"Add a {name} to my cart.",
                        [InfeasibleCheck()], [*_search(name), infeasible(f"MegaShop does not sell {name}")]))
    return out


def tracker_tasks() -> list[WebTask]:
    db = Tracker().template
    issues = db.execute("SELECT id, title, status, label, assignee FROM issues ORDER BY id").fetchall()
    out = []
    for n, (iid, title, status, label, assignee) in enumerate([i for i in issues if i[4]][:8]):
        out.append(task("tracker_assignee", n, "info", "tracker", "/issues", f"Who is assigned to the issue \"{title}\"? Answer with the user name.",
                        [AnswerCheck(mode="exact", expected=assignee)],
                        [select('select[name=status]', "all"), fill("input[name=q]", title), click('form[action="/issues"] button'),
                         click(f'a[href="/issues/{iid}"]'), send(assignee)]))
    for n, label in enumerate(LABELS):
        count = sum(1 for i in issues if i[3] == label and i[2] == "open")
        out.append(task("tracker_count", n, "info", "tracker", "/issues", f"How many open issues have the label {label}? Answer with the number.",
                        [AnswerCheck(mode="numeric", expected=count, tolerance=0)],
                        [select("select[name=label]", label), click('form[action="/issues"] button'), send(str(count))]))
    titles = ["Crash when saving a draft", "Add CSV import", "Spelling mistake on pricing page", "Slow dashboard load",
              "Dark mode for the editor", "Explain API pagination", "Button overlaps text on mobile", "Export fails with emoji"]
    for n, title in enumerate(titles):
        label = LABELS[n % len(LABELS)]
        out.append(task("tracker_new_issue", n, "state", "tracker", "/issues", f"File a new issue titled \"{title}\" with the label {label}.",
                        [StateCheck(site="tracker", fn="tracker.new_issue", params={"title": title, "label": label})],
                        [click('header a[href="/issues/new"]'), fill("#title", title), fill("#body", "Reported from the web."),
                         select("#label", label), click('form[action="/issues/new"] button')]))
    notes = ["Confirmed on version 2.3", "Working on a fix", "Duplicate of an older report", "Needs a design decision",
             "Cannot reproduce on Linux", "Blocked by the release"]
    for n, (iid, title, *_r) in enumerate(issues[1::3][:6]):
        out.append(task("tracker_comment", n, "state", "tracker", "/issues", f"Comment \"{notes[n]}\" on the issue \"{title}\".",
                        [StateCheck(site="tracker", fn="tracker.comment", params={"issue_id": iid, "text": notes[n]})],
                        [goto("tracker", f"/issues/{iid}"), fill("#comment", notes[n]), click(f'form[action="/issues/{iid}/comment"] button')]))
    for n, (iid, title, status, label, assignee) in enumerate([i for i in issues if i[2] == "open"][:6]):
        out.append(task("tracker_close", n, "state", "tracker", "/issues", f"Close the issue \"{title}\".",
                        [StateCheck(site="tracker", fn="field_changed", params={"table": "issues", "row_id": iid, "changes": {"status": "closed"}})],
                        [click(f'a[href="/issues/{iid}"]'), click(f'form[action="/issues/{iid}/toggle"] button')]))
    for n, (iid, title, status, label, assignee) in enumerate(issues[::4][:5]):
        new = USERS[(n + 2) % len(USERS)] if USERS[(n + 2) % len(USERS)] != assignee else USERS[(n + 3) % len(USERS)]
        out.append(task("tracker_assign", n, "state", "tracker", "/issues", f"Assign the issue \"{title}\" to {new}.",
                        [StateCheck(site="tracker", fn="field_changed", params={"table": "issues", "row_id": iid, "changes": {"assignee": new}})],
                        [goto("tracker", f"/issues/{iid}"), select("#assignee", new), click(f'form[action="/issues/{iid}/assign"] button')]))
    for n, name in enumerate(["wontfix", "security", "urgent"]):
        iid, title = issues[n][0], issues[n][1]
        out.append(task("tracker_infeasible", n, "infeasible", "tracker", "/issues", f"Add the label \"{name}\" to the issue \"{title}\".",
                        [InfeasibleCheck()], [goto("tracker", f"/issues/{iid}"), infeasible(f"there is no {name} label")]))
    return out
