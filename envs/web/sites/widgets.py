"""Widgets: small MiniWoB-style pages (form, date picker, drag and drop, hover menu, tabs,
checkboxes, dropdown). Every page submits to the server, which records the submission: checkers
read what was submitted, never what the page shows."""

from __future__ import annotations

import json
import sqlite3

from .framework import Request, Response, Site, esc, options, redirect

COUNTRIES = ["Argentina", "Belgium", "Canada", "Denmark", "Egypt", "Finland", "Ghana", "Hungary", "India", "Japan",
             "Kenya", "Lithuania", "Mexico", "Norway", "Peru", "Portugal", "Spain", "Sweden", "Uruguay", "Vietnam"]
PLANS = ["Free", "Pro", "Team"]
WORDS = ["apple", "river", "cloud", "stone", "maple", "ember", "frost", "olive", "coral", "amber"]
FRUITS = ["Apple", "Banana", "Cherry", "Grape", "Kiwi", "Lemon", "Mango", "Pear"]
MENU = {"File": ["New", "Open", "Save"], "Edit": ["Undo", "Copy", "Paste"], "View": ["Zoom in", "Zoom out", "Full screen"]}
TABS = {"Profile": "Save profile", "Security": "Enable 2FA", "Billing": "Download invoice"}
WIDGETS = ["form", "datepicker", "dragdrop", "menu", "tabs", "checkboxes", "dropdown"]


class Widgets(Site):
    name = "widgets"
    title = "Widget Lab"
    nav = [("All widgets", "/")]
    SCHEMA = "CREATE TABLE submissions(id INTEGER PRIMARY KEY, widget TEXT, payload TEXT);"

    def seed(self, db: sqlite3.Connection) -> None:
        pass  # nothing submitted yet

    def submit_form(self, widget: str, inner: str, *, extra: str = "") -> str:
        return f'<form action="/submit/{widget}" method="post" {extra}>{inner}<button type="submit">Submit</button></form>'


@Widgets.route("GET", "/")
def index(site: Widgets, req: Request) -> Response:
    links = "".join(f'<li><a href="/{w}">{w}</a></li>' for w in WIDGETS)
    return Response(site.page("Widgets", f"<h1>Widgets</h1><ul>{links}</ul>"))


@Widgets.route("POST", r"/submit/(?P<widget>[a-z]+)")
def submit(site: Widgets, req: Request) -> Response:
    widget = req.params["widget"]
    if widget not in WIDGETS:
        raise ValueError(f"unknown widget {widget!r}")
    site.db.execute("INSERT INTO submissions(widget,payload) VALUES(?,?)", (widget, json.dumps(req.form, sort_keys=True)))
    return redirect(f"/done?widget={widget}")


@Widgets.route("GET", "/done")
def done(site: Widgets, req: Request) -> Response:
    return Response(site.page("Submitted", f'<h1>Submitted</h1><p class="ok">Your {esc(req.arg("widget"))} answer was recorded.</p>'))


@Widgets.route("GET", "/form")
def form(site: Widgets, req: Request) -> Response:
    plans = "".join(f'<label><input type="radio" name="plan" value="{p}"> {p}</label> ' for p in PLANS)
    inner = ('<p><label for="name">Name</label> <input id="name" name="name"></p>'
             '<p><label for="email">Email</label> <input id="email" name="email" type="email"></p>'
             f'<p><label for="country">Country</label> <select id="country" name="country">{options([("", "Choose...")] + [(c, c) for c in COUNTRIES])}</select></p>'
             f'<fieldset><legend>Plan</legend>{plans}</fieldset>'
             '<p><label><input type="checkbox" name="newsletter" value="yes"> Subscribe to the newsletter</label></p>')
    return Response(site.page("Sign-up form", f"<h1>Sign-up form</h1>{site.submit_form('form', inner)}"))


DATEPICKER_JS = """
const months=["January","February","March","April","May","June","July","August","September","October","November","December"];
let y=2025,m=2;
function draw(){document.getElementById('month').textContent=months[m]+' '+y;
 const first=new Date(Date.UTC(y,m,1)).getUTCDay(), n=new Date(Date.UTC(y,m+1,0)).getUTCDate(); let h='<tr>';
 for(let i=0;i<first;i++)h+='<td></td>';
 for(let d=1;d<=n;d++){h+='<td role="button" aria-label="'+months[m]+' '+d+'" onclick="pick('+d+')">'+d+'</td>';if((first+d)%7==0)h+='</tr><tr>';}
 document.getElementById('days').innerHTML=h+'</tr>';}
function pick(d){document.getElementById('date').value=y+'-'+String(m+1).padStart(2,'0')+'-'+String(d).padStart(2,'0');
 document.getElementById('picker').classList.add('hidden');}
function shift(k){m+=k;if(m<0){m=11;y--}if(m>11){m=0;y++}draw();}
function openPicker(){document.getElementById('picker').classList.remove('hidden');draw();}
"""


@Widgets.route("GET", "/datepicker")
def datepicker(site: Widgets, req: Request) -> Response:
    inner = ('<p><label for="date">Date</label> <input id="date" name="date" readonly placeholder="yyyy-mm-dd"> '
             '<button type="button" onclick="openPicker()">Open calendar</button></p>'
             '<div id="picker" class="hidden"><button type="button" onclick="shift(-1)">Previous month</button> '
             '<span id="month"></span> <button type="button" onclick="shift(1)">Next month</button>'
             '<table class="cal"><thead><tr><th>Su</th><th>Mo</th><th>Tu</th><th>We</th><th>Th</th><th>Fr</th><th>Sa</th></tr></thead>'
             '<tbody id="days"></tbody></table></div>')
    return Response(site.page("Date picker", f"<h1>Pick a date</h1>{site.submit_form('datepicker', inner)}", script=DATEPICKER_JS))


DRAG_JS = """
let dragged=null;
document.querySelectorAll('.item').forEach(e=>e.addEventListener('dragstart',()=>{dragged=e;}));
document.querySelectorAll('.bin,.pool').forEach(z=>{z.addEventListener('dragover',ev=>ev.preventDefault());
 z.addEventListener('drop',ev=>{ev.preventDefault();if(dragged){z.appendChild(dragged);sync();}});});
function sync(){document.getElementById('chosen').value=[...document.querySelectorAll('.bin .item')].map(e=>e.dataset.v).join(',');}
"""


@Widgets.route("GET", "/dragdrop")
def dragdrop(site: Widgets, req: Request) -> Response:
    items = "".join(f'<span class="item" draggable="true" data-v="{f}">{f}</span>' for f in FRUITS)
    inner = (f'<div class="pool" aria-label="Fruit pool">{items}</div><p>Basket:</p><div class="bin" aria-label="Basket"></div>'
             '<input type="hidden" id="chosen" name="basket" value="">')
    return Response(site.page("Drag and drop", f"<h1>Fill the basket</h1>{site.submit_form('dragdrop', inner)}", script=DRAG_JS))


@Widgets.route("GET", "/menu")
def menu(site: Widgets, req: Request) -> Response:
    menus = "".join(
        f'<div class="menu" style="display:inline-block;margin-right:20px"><span tabindex="0">{top}</span><div class="sub">'
        + "".join(f'<form action="/submit/menu" method="post"><input type="hidden" name="choice" value="{top} > {item}">'
                  f'<button type="submit">{item}</button></form>' for item in items) + "</div></div>"
        for top, items in MENU.items())
    return Response(site.page("Menu", f"<h1>Menu bar</h1><p>Hover a menu to open it.</p><div>{menus}</div>"))


TABS_JS = """
function show(t){document.querySelectorAll('[role=tabpanel]').forEach(p=>p.classList.toggle('hidden',p.id!=='panel-'+t));
 document.querySelectorAll('[role=tab]').forEach(b=>b.setAttribute('aria-selected',b.dataset.t===t));}
"""


@Widgets.route("GET", "/tabs")
def tabs(site: Widgets, req: Request) -> Response:
    heads = "".join(f'<button type="button" role="tab" data-t="{t}" aria-selected="{str(i == 0).lower()}" onclick="show(\'{t}\')">{t}</button>'
                    for i, t in enumerate(TABS))
    panels = "".join(
        f'<div role="tabpanel" id="panel-{t}" class="{"" if i == 0 else "hidden"}"><p>{t} settings.</p>'
        f'<form action="/submit/tabs" method="post"><input type="hidden" name="action" value="{label}">'
        f'<button type="submit">{label}</button></form></div>' for i, (t, label) in enumerate(TABS.items()))
    return Response(site.page("Tabs", f'<h1>Settings</h1><div role="tablist">{heads}</div>{panels}', script=TABS_JS))


@Widgets.route("GET", "/checkboxes")
def checkboxes(site: Widgets, req: Request) -> Response:
    boxes = "".join(f'<p><label><input type="checkbox" name="word" value="{w}"> {w}</label></p>' for w in WORDS)
    return Response(site.page("Checkboxes", f"<h1>Select words</h1>{site.submit_form('checkboxes', boxes)}"))


@Widgets.route("GET", "/dropdown")
def dropdown(site: Widgets, req: Request) -> Response:
    inner = f'<p><label for="country">Country</label> <select id="country" name="country">{options([(c, c) for c in COUNTRIES])}</select></p>'
    return Response(site.page("Dropdown", f"<h1>Choose a country</h1>{site.submit_form('dropdown', inner)}"))
