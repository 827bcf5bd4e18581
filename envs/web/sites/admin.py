"""Admin: a back office with an employee table (filters, sort, pagination) and edit forms."""

from __future__ import annotations

import math
import random
import sqlite3

from .framework import Request, Response, Site, esc, not_found, options, qs, redirect, table

DEPARTMENTS = ["Engineering", "Sales", "Support", "Finance", "Marketing"]
ROLES = ["Engineer", "Senior Engineer", "Manager", "Analyst", "Specialist", "Director"]
FIRST = ["Ana", "Ben", "Chloe", "David", "Elif", "Femi", "Greta", "Hugo", "Ines", "Jonas", "Kira", "Luca",
         "Mei", "Nils", "Oona", "Pablo", "Quinn", "Rosa", "Sami", "Tara"]
LAST = ["Keller", "Okafor", "Novak", "Silva", "Tanaka", "Berg", "Costa", "Duarte"]
PAGE = 10
SORTS = {"name": "name", "department": "department, name", "salary": "salary", "start": "start_date"}


class Admin(Site):
    name = "admin"
    title = "BackOffice"
    nav = [("Employees", "/employees"), ("Departments", "/departments")]
    SCHEMA = """
    CREATE TABLE employees(id INTEGER PRIMARY KEY, name TEXT UNIQUE, email TEXT, department TEXT, role TEXT,
                           salary INTEGER, status TEXT, start_date TEXT);
    """

    def seed(self, db: sqlite3.Connection) -> None:
        rng = random.Random(8)
        names = [f"{f} {l}" for f in FIRST for l in LAST]
        rng.shuffle(names)
        for i, name in enumerate(names[:46], start=1):
            db.execute("INSERT INTO employees VALUES(?,?,?,?,?,?,?,?)", (
                i, name, name.lower().replace(" ", ".") + "@example.com", rng.choice(DEPARTMENTS), rng.choice(ROLES),
                rng.randrange(42000, 160000, 500), "inactive" if rng.random() < 0.2 else "active",
                f"20{rng.randint(15, 24)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"))


@Admin.route("GET", "/")
def home(site: Admin, req: Request) -> Response:
    return redirect("/employees")


@Admin.route("GET", "/employees")
def employees(site: Admin, req: Request) -> Response:
    dept, status, q = req.arg("department"), req.arg("status"), req.arg("q").strip()
    sort = req.arg("sort", "name") if req.arg("sort", "name") in SORTS else "name"
    desc = req.arg("order") == "desc"
    where = "WHERE (?='' OR department=?) AND (?='' OR status=?) AND (?='' OR name LIKE ?)"
    args = (dept, dept, status, status, q, f"%{q}%")
    n = site.one(f"SELECT COUNT(*) FROM employees {where}", *args)[0]
    pages = max(1, math.ceil(n / PAGE))
    page = min(max(1, int(req.arg("page", "1") or 1)), pages)
    rows = site.q(f"SELECT * FROM employees {where} ORDER BY {SORTS[sort]} {'DESC' if desc else ''}, id LIMIT ? OFFSET ?",
                  *args, PAGE, (page - 1) * PAGE)
    base = dict(department=dept, status=status, q=q)
    heads = []
    for key, label in [("name", "Name"), ("department", "Department"), ("salary", "Salary"), ("start", "Start date")]:
        flip = "asc" if sort == key and desc else ("desc" if sort == key else "asc")
        heads.append(f'<a href="/employees?{qs(**base, sort=key, order=flip)}">{label}</a>')
    lines = [[esc(r["name"]), esc(r["department"]), esc(r["role"]), f'{r["salary"]:,}', esc(r["status"]), esc(r["start_date"]),
              f'<a href="/employees/{r["id"]}/edit" aria-label="Edit {esc(r["name"])}">Edit</a>'] for r in rows]
    filters = (
        '<form method="get" action="/employees">'
        f'<select name="department" aria-label="Department">{options([("", "All departments")] + [(d, d) for d in DEPARTMENTS], dept)}</select>'
        f'<select name="status" aria-label="Status">{options([("", "Any status"), ("active", "Active"), ("inactive", "Inactive")], status)}</select>'
        f'<input name="q" aria-label="Search by name" placeholder="Name" value="{esc(q)}"><button type="submit">Apply</button></form>')
    nav = []
    if page > 1:
        nav.append(f'<a href="/employees?{qs(**base, sort=sort, order="desc" if desc else "", page=page - 1)}">Previous</a>')
    nav.append(f"Page {page} of {pages}")
    if page < pages:
        nav.append(f'<a href="/employees?{qs(**base, sort=sort, order="desc" if desc else "", page=page + 1)}">Next</a>')
    body = (f'<h1>Employees</h1>{filters}<p>{n} employee(s)</p>'
            f'{table([heads[0], heads[1], "Role", heads[2], "Status", heads[3], ""], lines)}<p>{" ".join(nav)}</p>')
    return Response(site.page("Employees", body))


@Admin.route("GET", r"/employees/(?P<eid>\d+)/edit")
def edit_form(site: Admin, req: Request) -> Response:
    r = site.one("SELECT * FROM employees WHERE id=?", int(req.params["eid"]))
    if r is None:
        return not_found("employee")
    saved = '<p class="ok">Saved.</p>' if req.arg("saved") else ""
    body = (f'{saved}<h1>Edit {esc(r["name"])}</h1><form action="/employees/{r["id"]}/edit" method="post">'
            f'<p><label for="email">Email</label> <input id="email" name="email" value="{esc(r["email"])}"></p>'
            f'<p><label for="department">Department</label> <select id="department" name="department">{options([(d, d) for d in DEPARTMENTS], r["department"])}</select></p>'
            f'<p><label for="role">Role</label> <select id="role" name="role">{options([(x, x) for x in ROLES], r["role"])}</select></p>'
            f'<p><label for="salary">Salary</label> <input id="salary" name="salary" type="number" value="{r["salary"]}"></p>'
            f'<p><label><input type="checkbox" name="active" value="1"{" checked" if r["status"] == "active" else ""}> Active</label></p>'
            '<button type="submit">Save</button> <a href="/employees">Cancel</a></form>')
    return Response(site.page(f"Edit {r['name']}", body))


@Admin.route("POST", r"/employees/(?P<eid>\d+)/edit")
def edit(site: Admin, req: Request) -> Response:
    eid = int(req.params["eid"])
    if site.one("SELECT 1 FROM employees WHERE id=?", eid) is None:
        raise ValueError(f"employee {eid} does not exist")
    email, dept, role = req.arg("email").strip(), req.arg("department"), req.arg("role")
    try:
        salary = int(req.arg("salary"))
    except ValueError:
        raise ValueError("salary must be a whole number") from None
    if "@" not in email or dept not in DEPARTMENTS or role not in ROLES or salary <= 0:
        raise ValueError("check the email, department, role and salary")
    site.db.execute("UPDATE employees SET email=?, department=?, role=?, salary=?, status=? WHERE id=?",
                    (email, dept, role, salary, "active" if req.arg("active") else "inactive", eid))
    return redirect(f"/employees/{eid}/edit?saved=1")


@Admin.route("GET", "/departments")
def departments(site: Admin, req: Request) -> Response:
    rows = site.q("SELECT department, COUNT(*) n, SUM(status='active') a, ROUND(AVG(salary)) s FROM employees "
                  "GROUP BY department ORDER BY department")
    lines = [[f'<a href="/employees?{qs(department=r["department"])}">{esc(r["department"])}</a>', str(r["n"]), str(r["a"]),
              f'{int(r["s"]):,}'] for r in rows]
    return Response(site.page("Departments", f'<h1>Departments</h1>{table(["Department", "Employees", "Active", "Average salary"], lines)}'))
