"""Booking: meeting rooms on a calendar week (day view grid, booking form, my bookings, cancel)."""

from __future__ import annotations

import random
import sqlite3

from .framework import Request, Response, Site, esc, options, qs, redirect, table

DAYS = ["2025-03-03", "2025-03-04", "2025-03-05", "2025-03-06", "2025-03-07"]
DAY_NAMES = dict(zip(DAYS, ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]))
SLOTS = [f"{h:02d}:00" for h in range(9, 17)]
ROOMS = [("Aurora", 4, 1), ("Borealis", 8, 1), ("Cedar", 12, 2), ("Delta", 6, 2), ("Echo", 20, 3)]
PEOPLE = ["Hana", "Ivo", "Jade", "Karl", "Lena", "Milo"]
CURRENT = ' aria-current="page"'
TOPICS = ["Standup", "Design review", "1:1", "Planning", "Interview", "Retro", "Budget sync", "Demo prep"]


class Booking(Site):
    name = "booking"
    title = "RoomBook"
    nav = [("Calendar", "/calendar"), ("Rooms", "/rooms"), ("My bookings", "/bookings")]
    SCHEMA = """
    CREATE TABLE rooms(id INTEGER PRIMARY KEY, name TEXT UNIQUE, capacity INTEGER, floor INTEGER);
    CREATE TABLE bookings(id INTEGER PRIMARY KEY, room_id INTEGER, day TEXT, slot TEXT, title TEXT, booker TEXT,
                          UNIQUE(room_id, day, slot));
    """
    me = "you"

    def seed(self, db: sqlite3.Connection) -> None:
        rng = random.Random(9)
        for i, (name, cap, floor) in enumerate(ROOMS, start=1):
            db.execute("INSERT INTO rooms VALUES(?,?,?,?)", (i, name, cap, floor))
        for room in range(1, len(ROOMS) + 1):
            for day in DAYS:
                for slot in rng.sample(SLOTS, rng.randint(1, 4)):
                    db.execute("INSERT INTO bookings(room_id,day,slot,title,booker) VALUES(?,?,?,?,?)",
                               (room, day, slot, rng.choice(TOPICS), rng.choice(PEOPLE + [self.me])))


@Booking.route("GET", "/")
def home(site: Booking, req: Request) -> Response:
    return redirect("/calendar")


@Booking.route("GET", "/calendar")
def calendar(site: Booking, req: Request) -> Response:
    day = req.arg("day", DAYS[0]) if req.arg("day", DAYS[0]) in DAYS else DAYS[0]
    booked = {(r["room_id"], r["slot"]): r for r in site.q("SELECT * FROM bookings WHERE day=?", day)}
    rooms = site.q("SELECT * FROM rooms ORDER BY id")
    days = " | ".join(f'<a href="/calendar?{qs(day=d)}"{CURRENT if d == day else ""}>{DAY_NAMES[d]} {d}</a>' for d in DAYS)
    lines = []
    for slot in SLOTS:
        cells = [slot]
        for room in rooms:
            b = booked.get((room["id"], slot))
            cells.append(f'<span class="slot-booked">{esc(b["title"])} ({esc(b["booker"])})</span>' if b else
                         f'<a class="slot-free" href="/book?{qs(room=room["name"], day=day, slot=slot)}" '
                         f'aria-label="Book {esc(room["name"])} at {slot}">free</a>')
        lines.append(cells)
    body = f'<h1>{DAY_NAMES[day]} {day}</h1><p>{days}</p>{table(["Time"] + [esc(r["name"]) for r in rooms], lines)}'
    return Response(site.page(f"Calendar {day}", body))


@Booking.route("GET", "/rooms")
def rooms(site: Booking, req: Request) -> Response:
    lines = [[esc(r["name"]), str(r["capacity"]), str(r["floor"])] for r in site.q("SELECT * FROM rooms ORDER BY id")]
    return Response(site.page("Rooms", f'<h1>Rooms</h1>{table(["Room", "Capacity", "Floor"], lines)}'))


@Booking.route("GET", "/book")
def book_form(site: Booking, req: Request) -> Response:
    room, day, slot = req.arg("room"), req.arg("day"), req.arg("slot")
    room_opts = [(r["name"], r["name"]) for r in site.q("SELECT name FROM rooms ORDER BY id")]
    body = ('<h1>New booking</h1><form action="/book" method="post">'
            f'<p><label for="room">Room</label> <select id="room" name="room">{options(room_opts, room)}</select></p>'
            f'<p><label for="day">Day</label> <select id="day" name="day">{options([(d, f"{DAY_NAMES[d]} {d}") for d in DAYS], day)}</select></p>'
            f'<p><label for="slot">Time</label> <select id="slot" name="slot">{options([(s, s) for s in SLOTS], slot)}</select></p>'
            '<p><label for="title">Meeting title</label> <input id="title" name="title"></p>'
            '<button type="submit">Book room</button></form>')
    return Response(site.page("New booking", body))


@Booking.route("POST", "/book")
def book(site: Booking, req: Request) -> Response:
    room = site.one("SELECT id FROM rooms WHERE name=?", req.arg("room"))
    day, slot, title = req.arg("day"), req.arg("slot"), req.arg("title").strip()
    if room is None or day not in DAYS or slot not in SLOTS:
        raise ValueError("choose a room, a weekday of the week shown and an hour between 09:00 and 16:00")
    if not title:
        raise ValueError("the meeting title is required")
    if site.one("SELECT 1 FROM bookings WHERE room_id=? AND day=? AND slot=?", room["id"], day, slot):
        raise ValueError(f"{req.arg('room')} is already booked on {day} at {slot}")
    site.db.execute("INSERT INTO bookings(room_id,day,slot,title,booker) VALUES(?,?,?,?,?)", (room["id"], day, slot, title, site.me))
    return redirect("/bookings?booked=1")


@Booking.route("GET", "/bookings")
def bookings(site: Booking, req: Request) -> Response:
    rows = site.q("SELECT b.*, r.name room FROM bookings b JOIN rooms r ON r.id=b.room_id WHERE booker=? ORDER BY day, slot", site.me)
    lines = [[esc(r["title"]), esc(r["room"]), esc(r["day"]), esc(r["slot"]),
              f'<form action="/bookings/{r["id"]}/cancel" method="post"><button type="submit" aria-label="Cancel {esc(r["title"])}">Cancel</button></form>']
             for r in rows]
    note = '<p class="ok">Room booked.</p>' if req.arg("booked") else ""
    body = f'{note}<h1>My bookings</h1>' + (table(["Title", "Room", "Day", "Time", ""], lines) if rows else "<p>You have no bookings.</p>")
    return Response(site.page("My bookings", body))


@Booking.route("POST", r"/bookings/(?P<bid>\d+)/cancel")
def cancel(site: Booking, req: Request) -> Response:
    site.db.execute("DELETE FROM bookings WHERE id=? AND booker=?", (int(req.params["bid"]), site.me))
    return redirect("/bookings")
