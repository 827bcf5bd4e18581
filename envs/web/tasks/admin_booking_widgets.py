"""Task templates over the back office, the room booking app and the widget pages."""

from __future__ import annotations

from agentgym.envs.web.sites.admin import DEPARTMENTS, ROLES, Admin
from agentgym.envs.web.sites.booking import DAY_NAMES, DAYS, ROOMS, SLOTS, Booking
from agentgym.envs.web.sites.widgets import COUNTRIES, FRUITS, MENU, PLANS, TABS, WORDS
from agentgym.envs.web.tasks.build import click, drag, fill, goto, hover, infeasible, select, send, task
from agentgym.envs.web.tasks.models import AnswerCheck, InfeasibleCheck, StateCheck, UrlCheck, WebTask


def _filter_name(name: str) -> list:
    return [fill("input[name=q]", name), click('form[action="/employees"] button')]


def admin_tasks() -> list[WebTask]:
    db = Admin().template
    emps = db.execute("SELECT id, name, department, role, salary, status FROM employees ORDER BY id").fetchall()
    out = []
    for n, (eid, name, dept, role, salary, status) in enumerate(emps[::5][:8]):
        out.append(task("admin_salary", n, "info", "admin", "/employees", f"What is {name}'s salary? Answer with the number.",
                        [AnswerCheck(mode="numeric", expected=salary, tolerance=0)], [*_filter_name(name), send(str(salary))]))
    for n, dept in enumerate(DEPARTMENTS):
        count = sum(1 for e in emps if e[2] == dept and e[5] == "inactive")
        out.append(task("admin_count", n, "info", "admin", "/employees", f"How many inactive employees are in {dept}? Answer with the number.",
                        [AnswerCheck(mode="numeric", expected=count, tolerance=0)],
                        [select("select[name=department]", dept), select("select[name=status]", "inactive"),
                         click('form[action="/employees"] button'), send(str(count))]))
    top = sorted(emps, key=lambda e: -e[4])
    for n, dept in enumerate(DEPARTMENTS):
        best = next(e for e in top if e[2] == dept)
        out.append(task("admin_top_paid", n, "info", "admin", "/employees", f"Who is the highest-paid employee in {dept}? Answer with the full name.",
                        [AnswerCheck(mode="exact", expected=best[1])],
                        [select("select[name=department]", dept), click('form[action="/employees"] button'),
                         goto("admin", f"/employees?department={dept}&sort=salary&order=desc"), send(best[1])]))
    for n, (eid, name, dept, role, salary, status) in enumerate(emps[1::6][:7]):
        new_role = ROLES[(ROLES.index(role) + 1) % len(ROLES)]
        out.append(task("admin_role", n, "state", "admin", "/employees", f"Change {name}'s role to {new_role}.",
                        [StateCheck(site="admin", fn="field_changed", params={"table": "employees", "row_id": eid, "changes": {"role": new_role}})],
                        [*_filter_name(name), click(f'a[href="/employees/{eid}/edit"]'), select("#role", new_role),
                         click(f'form[action="/employees/{eid}/edit"] button')]))
    for n, (eid, name, dept, role, salary, status) in enumerate(emps[2::6][:7]):
        raise_to = salary + 2500 * (n + 1)
        out.append(task("admin_raise", n, "state", "admin", "/employees", f"Set {name}'s salary to {raise_to}.",
                        [StateCheck(site="admin", fn="field_changed", params={"table": "employees", "row_id": eid, "changes": {"salary": raise_to}})],
                        [*_filter_name(name), click(f'a[href="/employees/{eid}/edit"]'), fill("#salary", str(raise_to)),
                         click(f'form[action="/employees/{eid}/edit"] button')]))
    for n, (eid, name, *_r) in enumerate(emps[3::9][:5]):
        out.append(task("admin_nav", n, "navigation", "admin", "/departments", f"Open the edit page of {name}.",
                        [UrlCheck(site="admin", path=f"/employees/{eid}/edit")],
                        [click('header a[href="/employees"]'), *_filter_name(name), click(f'a[href="/employees/{eid}/edit"]')]))
    for n, name in enumerate(["Zelda Marsh", "Yusuf Brandt", "Xenia Holm"]):
        out.append(task("admin_infeasible", n, "infeasible", "admin", "/employees", f"Give {name} a 10% raise.",
                        [InfeasibleCheck()], [*_filter_name(name), infeasible(f"there is no employee named {name}")]))
    return out


def booking_tasks() -> list[WebTask]:
    db = Booking().template
    rows = db.execute("SELECT b.id, r.id, r.name, b.day, b.slot, b.title, b.booker FROM bookings b JOIN rooms r ON r.id=b.room_id "
                      "ORDER BY b.id").fetchall()
    taken = {(r[1], r[3], r[4]) for r in rows}
    out = []
    for n, (bid, rid, room, day, slot, title, booker) in enumerate(rows[::9][:8]):
        out.append(task("booking_who", n, "info", "booking", "/calendar", f"Who booked {room} on {DAY_NAMES[day]} ({day}) at {slot}? Answer with the name.",
                        [AnswerCheck(mode="exact", expected=booker)],
                        [click(f'a[href="/calendar?day={day}"]'), send(booker)]))
    for n, (rid, (room, _cap, _fl)) in enumerate(list(enumerate(ROOMS, start=1))):
        day = DAYS[n % len(DAYS)]
        free = sum(1 for s in SLOTS if (rid, day, s) not in taken)
        out.append(task("booking_free_count", n, "info", "booking", "/calendar", f"How many free one-hour slots does {room} have on {day}? Answer with the number.",
                        [AnswerCheck(mode="numeric", expected=free, tolerance=0)],
                        [click(f'a[href="/calendar?day={day}"]'), send(str(free))]))
    frees = [(rid, name, day, slot) for day in DAYS for slot in SLOTS for rid, (name, *_x) in enumerate(ROOMS, start=1)
             if (rid, day, slot) not in taken]
    titles = ["Quarterly review", "Hiring sync", "Product demo", "Vendor call", "Team lunch planning", "Security briefing",
              "Roadmap session", "Onboarding", "Board prep", "Customer interview"]
    for n, (rid, room, day, slot) in enumerate(frees[::7][:10]):
        out.append(task("booking_make", n, "state", "booking", "/calendar", f"Book {room} on {day} at {slot} for a meeting titled \"{titles[n]}\".",
                        [StateCheck(site="booking", fn="booking.made", params={"room_id": rid, "day": day, "slot": slot, "title": titles[n]})],
                        [goto("booking", f"/calendar?day={day}"), click(f'a[href="/book?room={room}&day={day}&slot={slot.replace(":", "%3A")}"]'),
                         fill("#title", titles[n]), click('form[action="/book"] button')]))
    mine = [r for r in rows if r[6] == "you"]
    for n, (bid, rid, room, day, slot, title, booker) in enumerate(mine[:6]):
        out.append(task("booking_cancel", n, "state", "booking", "/calendar", f"Cancel my booking of {room} on {day} at {slot}.",
                        [StateCheck(site="booking", fn="booking.cancelled", params={"booking_id": bid})],
                        [click('header a[href="/bookings"]'), click(f'form[action="/bookings/{bid}/cancel"] button')]))
    for n, (bid, rid, room, day, slot, title, booker) in enumerate([r for r in rows if r[6] != "you"][::11][:4]):
        out.append(task("booking_infeasible", n, "infeasible", "booking", "/calendar",
                        f"Book {room} on {day} at {slot} for \"Offsite planning\"; do not move anyone else's meeting.",
                        [InfeasibleCheck()], [click(f'a[href="/calendar?day={day}"]'), infeasible(f"{room} is already booked then")]))
    return out


def widget_tasks() -> list[WebTask]:
    out = []
    people = [("Ada Byron", "ada@example.org"), ("Linus Berg", "linus@example.net"), ("Grace Park", "grace@example.com"),
              ("Alan Reyes", "alan@example.org"), ("Mira Sol", "mira@example.net"), ("Tim Okoro", "tim@example.com")]
    for n, (name, email) in enumerate(people):
        country, plan, news = COUNTRIES[(n * 3) % len(COUNTRIES)], PLANS[n % 3], n % 2 == 0
        payload = {"name": name, "email": email, "country": country, "plan": plan, **({"newsletter": "yes"} if news else {})}
        steps = [fill("#name", name), fill("#email", email), select("#country", country), click(f'input[value="{plan}"]')]
        if news:
            steps.append(click('input[name=newsletter]'))
        out.append(task("widget_form", n, "widget", "widgets", "/form",
                        f"Sign up {name} ({email}) from {country} on the {plan} plan, {'with' if news else 'without'} the newsletter, and submit.",
                        [StateCheck(site="widgets", fn="widgets.submitted", params={"widget": "form", "payload": payload})],
                        [*steps, click('form button[type=submit]')]))
    months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
    for n, (m, d) in enumerate([(3, 14), (4, 2), (5, 28), (2, 7), (7, 19), (1, 31)]):
        date = f"2025-{m:02d}-{d:02d}"
        shift = m - 3
        btn = "Next month" if shift > 0 else "Previous month"
        steps = [click("button[onclick='openPicker()']")] + [click(f"button[onclick='shift({1 if shift > 0 else -1})']")] * abs(shift)
        out.append(task("widget_datepicker", n, "widget", "widgets", "/datepicker", f"Pick the date {date} with the calendar and submit.",
                        [StateCheck(site="widgets", fn="widgets.submitted", params={"widget": "datepicker", "payload": {"date": date}})],
                        [*steps, click(f'td[aria-label="{months[m - 1]} {d}"]'), click('form button[type=submit]')]))
        del btn
    for n in range(6):
        chosen = [FRUITS[(n + k * 3) % len(FRUITS)] for k in range(1 + n % 3)]
        out.append(task("widget_dragdrop", n, "widget", "widgets", "/dragdrop", f"Drag {', '.join(chosen)} into the basket (nothing else) and submit.",
                        [StateCheck(site="widgets", fn="widgets.submitted", params={"widget": "dragdrop", "payload": {"basket": ",".join(chosen)}})],
                        [*(drag(f'.item[data-v="{f}"]', ".bin") for f in chosen), click('form button[type=submit]')]))
    items = [(top, item) for top, subs in MENU.items() for item in subs]
    for n, (top, item) in enumerate(items[::2][:5]):
        out.append(task("widget_menu", n, "widget", "widgets", "/menu", f"Choose {item} from the {top} menu.",
                        [StateCheck(site="widgets", fn="widgets.submitted", params={"widget": "menu", "payload": {"choice": f"{top} > {item}"}})],
                        [hover(f'.menu:has(input[value="{top} > {item}"]) > span'), click(f'.menu input[value="{top} > {item}"] + button')]))
    for n, (tab, label) in enumerate(TABS.items()):
        out.append(task("widget_tabs", n, "widget", "widgets", "/tabs", f"In the {tab} tab, press \"{label}\".",
                        [StateCheck(site="widgets", fn="widgets.submitted", params={"widget": "tabs", "payload": {"action": label}})],
                        [click(f'[role=tab][data-t="{tab}"]'), click(f'#panel-{tab} button')]))
    for n in range(6):
        words = sorted({WORDS[(n + k * 4) % len(WORDS)] for k in range(2 + n % 2)})
        out.append(task("widget_checkboxes", n, "widget", "widgets", "/checkboxes", f"Select exactly these words: {', '.join(words)}; then submit.",
                        [StateCheck(site="widgets", fn="widgets.submitted", params={"widget": "checkboxes", "payload": {"word": ",".join(words)}})],
                        [*(click(f'input[value="{w}"]') for w in words), click('form button[type=submit]')]))
    for n, country in enumerate(COUNTRIES[1::4]):
        out.append(task("widget_dropdown", n, "widget", "widgets", "/dropdown", f"Choose {country} and submit.",
                        [StateCheck(site="widgets", fn="widgets.submitted", params={"widget": "dropdown", "payload": {"country": country}})],
                        [select("#country", country), click('form button[type=submit]')]))
    for n, what in enumerate(["Print", "Share"]):
        out.append(task("widget_infeasible", n, "infeasible", "widgets", "/menu", f"Choose {what} from the File menu.",
                        [InfeasibleCheck()], [hover(".menu > span"), infeasible(f"the File menu has no {what} item")]))
    return out
