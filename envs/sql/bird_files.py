"""A BIRD-Interact database folder as users hold it: a PostgreSQL dump, read as it is.

Why a module of its own: the public release ships each database as pg_dump output (plain SQL:
SET lines, CREATE TABLE with quoted mixed-case names, NUMERIC columns, `COPY ... FROM stdin`
blocks ended by `\\.`, ALTER ... OWNER TO, constraints after the data), not as our SQLite dumps.
This module reads such a folder for both engines:

- PostgreSQL loads the dump's own statements (pg_templates.TemplateBuilder): nothing is
  translated, so names keep their case and NUMERIC stays NUMERIC. Ownership, GRANT/REVOKE and
  psql meta-commands (\\connect, \\restrict) are dropped (the template has its own owner role);
  CREATE EXTENSION runs as the superuser.
- SQLite gets a translation (sqlglot, postgres -> sqlite) of the CREATE TABLE statements and the
  data (COPY rows become INSERTs); constraints added later by ALTER TABLE are left out. Tasks
  whose SQL does not run there are listed by bird.load_bird(..., engine="sqlite") in `skipped`.

Where the dump is looked for, in the database folder <dir> (the first that exists):
  <dir>/dump.sql | <dir>/<db>.sql | <dir>/<db>_dump.sql | <dir>/<db>_schema.sql   one file
  <dir>/*.sql (several: one per table, as the release's postgre_table_dumps/<db>_template/ has)
  and the same names under <root>/postgre_table_dumps/<db>_template/ or <root>/<db>_template/,
  or under a dumps folder unpacked elsewhere (env option bird_dumps=DIR: DIR/<db>_template/).
Several files load in the order of <dir>/table_orders.txt when present (one table name per line
or whitespace-separated), else by name; either way all CREATE TABLE statements run before any
data and constraints/indexes after it, so foreign keys between files resolve.
Schema text, column meanings and the knowledge base come from the same folder (bird.py names).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from agentgym.envs.sql.models import KBEntry

#: A dump statement: ("sql", text) or ("copy", "COPY ... FROM stdin", data text without the \. line).
Stmt = tuple[str, str, str]

_COPY = re.compile(r"^COPY\s+(.+?)\s+FROM\s+stdin\s*;\s*$", re.IGNORECASE | re.MULTILINE)
_DROP = [re.compile(p, re.IGNORECASE | re.DOTALL) for p in (
    r"^ALTER\s+.*\s+OWNER\s+TO\s+", r"^(GRANT|REVOKE)\s", r"^CREATE\s+SCHEMA\s+(IF\s+NOT\s+EXISTS\s+)?public\b",
    r"^COMMENT\s+ON\s+SCHEMA\s+public\b", r"^SET\s+default_table_access_method\b", r"^ALTER\s+DEFAULT\s+PRIVILEGES\b",
)]
_SUPERUSER = re.compile(r"^((CREATE|COMMENT\s+ON)\s+EXTENSION|CREATE\s+SCHEMA)\b", re.IGNORECASE)
_NEW_SCHEMA = re.compile(r"^CREATE\s+SCHEMA\s+(?:IF\s+NOT\s+EXISTS\s+)?(\"[^\"]+\"|[A-Za-z_][\w$]*)", re.IGNORECASE)
_DUMP_NAMES = ("dump.sql", "{db}.sql", "{db}_dump.sql", "{db}_schema.sql")


def strip_comments(stmt: str) -> str:
    return "\n".join(line for line in stmt.splitlines() if not line.lstrip().startswith("--")).strip()


def parse_pg_dump(text: str) -> list[Stmt]:
    """pg_dump plain output as statements and COPY blocks, minus what a template cannot take."""
    from agentgym.envs.sql.engines.dialect import split_postgres

    out: list[Stmt] = []

    def sql_part(chunk: str) -> None:
        # psql meta-commands (\connect, \restrict ...) are lines of their own outside statements
        chunk = "\n".join(line for line in chunk.splitlines() if not line.startswith("\\"))
        for stmt in split_postgres(chunk):
            body = strip_comments(stmt)
            if body and not any(p.search(body) for p in _DROP):
                out.append(("sql", body, ""))

    pos = 0
    for m in _COPY.finditer(text):
        if m.start() < pos:
            continue
        sql_part(text[pos:m.start()])
        end = text.find("\n\\.", m.end())
        data_end = len(text) if end < 0 else end
        data = text[m.end():data_end].lstrip("\n")
        out.append(("copy", m.group(0).strip().rstrip(";").strip(), data + ("\n" if data and not data.endswith("\n") else "")))
        nl = text.find("\n", data_end + 1)
        pos = len(text) if end < 0 or nl < 0 else nl + 1
    sql_part(text[pos:])
    return out


def _phase(stmt: Stmt) -> int:
    if stmt[0] == "copy":
        return 2
    head = stmt[1][:40].upper()
    if head.startswith("CREATE TABLE") or head.startswith("CREATE UNLOGGED TABLE"):
        return 1
    if head.startswith(("INSERT", "SELECT PG_CATALOG.SETVAL", "SELECT SETVAL")):
        return 2
    if head.startswith(("ALTER TABLE", "CREATE INDEX", "CREATE UNIQUE INDEX", "CREATE TRIGGER", "CREATE RULE",
                        "ALTER SEQUENCE", "CREATE VIEW", "CREATE MATERIALIZED", "COMMENT ON")):
        return 3
    return 0


def is_superuser_stmt(sql: str) -> bool:
    """CREATE EXTENSION and CREATE SCHEMA need rights the template's owner role lacks."""
    return bool(_SUPERUSER.match(sql))


def new_schema(sql: str) -> str | None:
    """The schema a CREATE SCHEMA statement makes, as written (quoted or not), else None."""
    m = _NEW_SCHEMA.match(sql)
    return m.group(1) if m else None


class BirdFolder(BaseModel):
    """One BIRD database: where its dump and metadata files are."""

    model_config = ConfigDict(frozen=True)

    db_id: str
    root: Path  # the database folder (metadata files)
    dumps: tuple[Path, ...]  # PostgreSQL dump file(s), in load order

    # -- the data -------------------------------------------------------------------------------
    def statements(self) -> list[Stmt]:
        return _statements(self.dumps, tuple(p.stat().st_mtime_ns for p in self.dumps))

    def tables(self) -> list[str]:
        """Table names as the dump creates them (case kept, schema dropped)."""
        import sqlglot
        from sqlglot import exp

        out = []
        for kind, sql, _ in self.statements():
            if kind == "sql" and _phase((kind, sql, "")) == 1:
                tree = sqlglot.parse_one(sql, read="postgres")
                target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
                out.append(target.name)
        return out

    def dump_sql(self) -> str:
        """The database as a SQLite script (what SqliteEngine builds its template from)."""
        return _sqlite_script(self.dumps, tuple(p.stat().st_mtime_ns for p in self.dumps))

    # -- what the agent reads -------------------------------------------------------------------
    def _meta(self, *names: str) -> Path | None:
        for n in names:
            p = self.root / n.format(db=self.db_id)
            if p.is_file():
                return p
        return None

    def schema_text(self) -> str:
        p = self._meta("schema.txt", "{db}_schema.txt")
        if p is not None:
            return p.read_text(encoding="utf-8")
        return ";\n\n".join(sql for kind, sql, _ in self.statements() if kind == "sql" and _phase((kind, sql, "")) == 1) + ";\n"

    def column_meanings(self) -> dict[str, str]:
        p = self._meta("column_meaning_base.json", "{db}_column_meaning_base.json", "{db}_column_meaning.json")
        if p is None:
            return {}
        raw = json.loads(p.read_text(encoding="utf-8"))
        # JSON(B) columns carry {"column_meaning": ..., "fields_meaning": {...}} in the release
        return {str(k): v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for k, v in raw.items()}

    def kb(self) -> list[KBEntry]:
        p = self._meta("kb.jsonl", "{db}_kb.jsonl")
        return read_kb(p) if p is not None else []


def _children(v: Any) -> list[int]:
    """children_knowledge as the release writes it: a list of ids, or -1 / "-1" / null for none."""
    if isinstance(v, (list, tuple)):
        return [int(c) for c in v if isinstance(c, int) and not isinstance(c, bool) and c >= 0
                or isinstance(c, str) and c.strip().isdigit()]
    return []


def read_kb(path: Path) -> list[KBEntry]:
    kb: list[KBEntry] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        raw = json.loads(line)
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), int):
            raise ValueError(f"{path}:{n}: a knowledge entry needs an integer 'id'")
        kb.append(KBEntry(
            id=raw["id"], knowledge=str(raw.get("knowledge") or f"knowledge {raw['id']}"),
            description=str(raw.get("description") or ""), definition=str(raw.get("definition") or ""),
            type=str(raw.get("type") or "domain_knowledge"), children_knowledge=_children(raw.get("children_knowledge")),
        ))
    by_id = {e.id: e for e in kb}
    for e in kb:  # the release stores one direction only; fill in the reverse edge
        e.children_knowledge = [c for c in e.children_knowledge if c in by_id and c != e.id]
        for c in e.children_knowledge:
            if e.id not in by_id[c].parent_knowledge:
                by_id[c].parent_knowledge.append(e.id)
    return kb


def find_dumps(folder: Path, db_id: str, meta: Path | None = None) -> tuple[Path, ...]:
    """The PostgreSQL dump file(s) of a database folder (module docstring), () when none. The
    table order is read from table_orders.txt next to the dumps, else in the metadata folder."""
    if not folder.is_dir():
        return ()
    for n in _DUMP_NAMES:
        p = folder / n.format(db=db_id)
        if p.is_file():
            return (p,)
    files = sorted(p for p in folder.glob("*.sql") if p.is_file())
    order_file = folder / "table_orders.txt"
    if not order_file.is_file() and meta is not None:
        order_file = meta / "table_orders.txt"
    if files and order_file.is_file():
        order = [w.strip().strip('"').lower() for w in order_file.read_text(encoding="utf-8").split()]
        rank = {name: i for i, name in enumerate(order)}
        files.sort(key=lambda p: (rank.get(p.stem.lower(), len(rank)), p.name))
    return tuple(files)


#: release root -> the folder holding its dumps, when they were unpacked elsewhere (env option bird_dumps)
_DUMP_DIRS: dict[Path, Path] = {}


def register_dumps(root: Path, dumps: Path) -> None:
    """Look for the dumps of the release at `root` under `dumps` too (its postgre_table_dumps folder)."""
    _DUMP_DIRS[Path(root).resolve()] = Path(dumps).resolve()


def bird_folder(db_id: str, root: Path) -> BirdFolder | None:
    """The BIRD database `db_id` under `root` (a release root or a folder of database folders)."""
    meta = root / db_id
    extra = _DUMP_DIRS.get(Path(root).resolve())
    cands = [meta, root / "postgre_table_dumps" / f"{db_id}_template", root / f"{db_id}_template",
             root / "postgre_table_dumps" / db_id]
    if extra is not None:
        cands += [extra / f"{db_id}_template", extra / db_id, extra / "postgre_table_dumps" / f"{db_id}_template"]
    for cand in cands:
        dumps = find_dumps(cand, db_id, meta)
        if dumps:
            return BirdFolder(db_id=db_id, root=meta if meta.is_dir() else cand, dumps=dumps)
    return None


@lru_cache(maxsize=32)
def _statements(paths: tuple[Path, ...], mtimes: tuple[int, ...]) -> list[Stmt]:
    stmts: list[Stmt] = []
    for p in paths:
        stmts += parse_pg_dump(p.read_text(encoding="utf-8"))
    if len(paths) > 1:  # tables first, then data, then constraints: FKs across files resolve
        stmts = sorted(stmts, key=_phase)  # stable: each phase keeps the files' order
    return stmts


# ---- SQLite translation ------------------------------------------------------------------------
_ESC = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}
_ESC_RE = re.compile(r"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)")


def copy_field(v: str) -> str | None:
    """One field of COPY's text format: \\N is NULL, backslash escapes decoded."""
    if v == "\\N":
        return None

    def sub(m: re.Match) -> str:
        s = m.group(1)
        if s[0] == "x" and len(s) > 1:
            return chr(int(s[1:], 16))
        if s[0] in "01234567":
            return chr(int(s, 8))
        return _ESC.get(s, s)

    return _ESC_RE.sub(sub, v) if "\\" in v else v


def _literal(v: str | None, kind: str) -> str:
    if v is None:
        return "NULL"
    if kind == "bool":
        return {"t": "1", "true": "1", "f": "0", "false": "0"}.get(v.lower(), "NULL")
    if kind == "num" and re.fullmatch(r"-?\d+(\.\d+)?([eE][-+]?\d+)?", v):
        return v
    return "'" + v.replace("'", "''") + "'"


@lru_cache(maxsize=32)
def _sqlite_script(paths: tuple[Path, ...], mtimes: tuple[int, ...]) -> str:
    import sqlglot
    from sqlglot import exp

    out: list[str] = []
    kinds: dict[str, dict[str, str]] = {}
    for kind, sql, data in _statements(paths, mtimes):
        if kind == "sql" and _phase((kind, sql, "")) == 1:
            tree = sqlglot.parse_one(sql, read="postgres")
            target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
            target.set("db", None)  # public."T" -> "T"
            cols = {}
            for col in tree.find_all(exp.ColumnDef):
                t = col.args.get("kind")
                if t is not None and t.this in (exp.DataType.Type.ARRAY, exp.DataType.Type.USERDEFINED,
                                                exp.DataType.Type.JSON, exp.DataType.Type.JSONB):
                    t = exp.DataType.build("TEXT")  # arrays, enums, JSON: their text form (SQLite has no such types)
                    col.set("kind", t)
                name = t.this.name if t is not None else ""
                cols[col.name] = ("bool" if name == "BOOLEAN" else "num" if t is not None and
                                  (t.is_type(*exp.DataType.NUMERIC_TYPES)) else "text")
            kinds[target.name.lower()] = cols
            out.append(tree.sql(dialect="sqlite") + ";")
        elif kind == "sql" and sql[:6].upper() == "INSERT":
            out.append(sqlglot.transpile(sql, read="postgres", write="sqlite")[0].replace('"public".', "") + ";")
        elif kind == "copy":
            tree = sqlglot.parse_one(sql.replace(" FROM stdin", "").replace("COPY ", "INSERT INTO ", 1) + " VALUES (1)",
                                     read="postgres")
            target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
            names = [c.name for c in tree.this.expressions] if isinstance(tree.this, exp.Schema) else []
            target.set("db", None)
            table_sql = tree.this.sql(dialect="sqlite")
            cols = kinds.get(target.name.lower(), {})
            types = [cols.get(n, "text") for n in names] or list(cols.values())
            for line in data.splitlines():
                fields = [copy_field(f) for f in line.split("\t")]
                vals = ", ".join(_literal(f, types[i] if i < len(types) else "text") for i, f in enumerate(fields))
                out.append(f"INSERT INTO {table_sql} VALUES ({vals});")
    return "\n".join(out) + "\n"
