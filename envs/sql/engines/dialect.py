"""Gold SQL is written once, in SQLite's dialect, and transpiled for other engines with sqlglot.

Why SQLite is the source dialect: generation-time validation (gold passes, naive fails, each
critical ambiguity changes the answer) must run on every machine, with or without Docker, and
SQLite is the engine that is always there. The gold queries keep to a portable subset (no
ROUND on floating sums, no integer division, strftime for dates) and a test transpiles every
one of them to PostgreSQL, and test_sql_postgres runs every lite gold query on both engines.

The committed dumps are translated here too (sqlite_dump_to_postgres), and PostgreSQL input is
split by split_postgres, which knows that dialect's quoting.
"""

from __future__ import annotations

import re
import sqlite3
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

SOURCE_DIALECT = "sqlite"


def split_statements(sql: str) -> list[str]:
    """Split on ';' outside strings and comments (sqlite3.complete_statement knows both)."""
    out: list[str] = []
    buf = ""
    for piece in sql.split(";"):
        buf += piece + ";"
        if sqlite3.complete_statement(buf):
            if _has_code(buf):
                out.append(buf.strip())
            buf = ""
    rest = buf[:-1]  # the last piece got a ';' it never had
    if _has_code(rest):
        out.append(rest.strip())
    return out


def _has_code(text: str) -> bool:
    lines = []
    for line in text.splitlines():
        line = line.split("--", 1)[0]
        lines.append(line)
    body = " ".join(lines).replace(";", " ").strip()
    while "/*" in body and "*/" in body:
        start = body.index("/*")
        end = body.index("*/", start) + 2
        body = (body[:start] + body[end:]).strip()
    return bool(body)


def transpile(sql: str, to: str, *, source: str = SOURCE_DIALECT) -> str:
    """sql (one or more statements) in dialect `to`; raises sqlglot's ParseError on bad input.

    SQLite -> PostgreSQL keeps SQLite's meaning where the two differ and sqlglot does not already
    bridge it (it does bridge NULL ordering, REAL -> DOUBLE PRECISION, division by zero, ROUND):
    LIKE becomes ILIKE, because SQLite's LIKE ignores case (ASCII) and PostgreSQL's does not.
    """
    if to == source:
        return sql
    import sqlglot  # imported here: the SQLite path must not need sqlglot installed
    from sqlglot import exp

    trees = sqlglot.parse(sql, read=source, error_level=sqlglot.ErrorLevel.RAISE)
    out = []
    for tree in trees:
        if tree is None:
            continue
        if source == "sqlite" and to == "postgres":
            tree = tree.transform(
                lambda node: exp.ILike(**node.args) if isinstance(node, exp.Like) else node
            )
        out.append(tree.sql(dialect=to))
    return ";\n".join(out)


@lru_cache(maxsize=8192)
def transpile_cached(sql: str, to: str, source: str = SOURCE_DIALECT) -> str:
    """transpile() for gold SQL and check queries, which the env re-reads at every episode."""
    return transpile(sql, to, source=source)


# ---- PostgreSQL statement splitting ---------------------------------------------------------------

_DOLLAR_TAG = re.compile(r"\$([A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*)?\$")


def split_postgres(sql: str) -> list[str]:
    """Split on ';' outside PostgreSQL strings, quoted names and comments.

    Knows '...' (with ''), E'...' (backslash escapes), "...", -- and nested /* */ comments and
    dollar quotes ($$...$$, $tag$...$tag$), so a function body with ';' inside stays whole.
    Pieces that hold only comments or whitespace are dropped. Statements come back without the
    trailing ';' (the extended protocol takes one statement at a time).
    """
    out: list[str] = []
    start = i = 0
    n = len(sql)

    def flush(end: int) -> None:
        piece = sql[start:end].strip()
        if piece and _pg_has_code(piece):
            out.append(piece)

    while i < n:
        c = sql[i]
        if c == "'":
            escapes = i > 0 and sql[i - 1] in "eE" and (i < 2 or not (sql[i - 2].isalnum() or sql[i - 2] == "_"))
            i += 1
            while i < n:
                if escapes and sql[i] == "\\":
                    i += 2
                    continue
                if sql[i] == "'":
                    if i + 1 < n and sql[i + 1] == "'":
                        i += 2
                        continue
                    break
                i += 1
            i += 1
        elif c == '"':
            i += 1
            while i < n:
                if sql[i] == '"':
                    if i + 1 < n and sql[i + 1] == '"':
                        i += 2
                        continue
                    break
                i += 1
            i += 1
        elif c == "-" and sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j + 1
        elif c == "/" and sql.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if sql.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif sql.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "$" and not (i > 0 and (sql[i - 1].isalnum() or sql[i - 1] == "_")):
            m = _DOLLAR_TAG.match(sql, i)
            if m:
                end = sql.find(m.group(0), m.end())
                i = n if end < 0 else end + len(m.group(0))
            else:
                i += 1
        elif c == ";":
            flush(i)
            i += 1
            start = i
        else:
            i += 1
    flush(n)
    return out


def _pg_has_code(piece: str) -> bool:
    """Whether a piece holds more than comments (the scanner above already kept strings whole)."""
    text = re.sub(r"--[^\n]*", " ", piece)
    while "/*" in text:
        a = text.index("/*")
        depth, j = 1, a + 2
        while j < len(text) and depth:
            if text.startswith("/*", j):
                depth, j = depth + 1, j + 2
            elif text.startswith("*/", j):
                depth, j = depth - 1, j + 2
            else:
                j += 1
        text = text[:a] + " " + text[j:]
    return bool(text.strip())


# ---- the committed SQLite dumps, for PostgreSQL --------------------------------------------------


class PostgresDump(BaseModel):
    """A SQLite dump translated for PostgreSQL: DDL, the data, and what to fix up after loading."""

    model_config = ConfigDict(frozen=True)

    tables: list[str] = Field(description="in creation order (foreign keys point backwards)")
    ddl: list[str]
    inserts: list[str]
    identity: list[tuple[str, str]] = Field(default_factory=list, description="(table, column) fed by a sequence")


#: SQLite declared type -> PostgreSQL type. SQLite stores 64-bit floats in REAL (PostgreSQL's REAL
#: is 32-bit). BOOLEAN stays an integer: SQLite keeps 0/1 and gold SQL compares with 1, which a
#: PostgreSQL boolean would refuse.
_PG_TYPES = {"REAL": "DOUBLE PRECISION", "FLOAT": "DOUBLE PRECISION", "DOUBLE": "DOUBLE PRECISION",
             "BOOLEAN": "INTEGER", "BOOL": "INTEGER", "DATETIME": "TIMESTAMP"}
_INSERT = re.compile(r"^INSERT\s+INTO\s+([A-Za-z_][A-Za-z0-9_]*)\s*(\([^)]*\))?\s*VALUES\s", re.IGNORECASE)


def sqlite_dump_to_postgres(dump: str) -> PostgresDump:
    """Translate a committed dump (CREATE TABLE + multi-row INSERT, SQLite dialect) for PostgreSQL.

    CREATE TABLE goes through sqlglot, with two fixes it does not make itself:
    - `INTEGER PRIMARY KEY` is SQLite's rowid alias, filled in when an INSERT omits it; the
      PostgreSQL column becomes GENERATED BY DEFAULT AS IDENTITY (write tasks insert without
      ids), and the loader moves its sequence past the loaded rows;
    - types follow _PG_TYPES.
    INSERT ... VALUES of plain literals is the same text in both dialects and is kept verbatim
    (parsing thousands of rows with sqlglot would cost seconds per database); anything else in a
    dump is refused rather than guessed at.
    """
    import sqlglot
    from sqlglot import exp

    tables: list[str] = []
    ddl: list[str] = []
    inserts: list[str] = []
    identity: list[tuple[str, str]] = []
    for stmt in split_statements(dump):
        body = _strip_leading_comments(stmt).rstrip(";").strip()
        head = body[:12].upper()
        if head.startswith("CREATE TABLE"):
            tree = sqlglot.parse_one(body, read="sqlite")
            target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
            # The name as PostgreSQL stores it: an unquoted Artist is artist there (the loader's
            # checks and sequence fix-ups quote what they name, so they must use that form).
            table = _pg_name(target.this) if isinstance(target.this, exp.Identifier) else target.name
            for col in tree.find_all(exp.ColumnDef):
                kind = col.args.get("kind")
                if kind is None:
                    continue
                declared = kind.sql(dialect="sqlite").upper().split("(")[0].strip()
                # NUMERIC/DECIMAL stays exact (sqlite's rendering calls it REAL): ROUND(x, 2) needs it
                if declared in _PG_TYPES and not kind.is_type(exp.DataType.Type.DECIMAL):
                    col.set("kind", exp.DataType.build(_PG_TYPES[declared], dialect="postgres"))
                is_pk = any(isinstance(c.args.get("kind"), exp.PrimaryKeyColumnConstraint) for c in col.constraints)
                if is_pk and kind.is_type(*exp.DataType.INTEGER_TYPES):
                    col.set("kind", exp.DataType.build("INTEGER"))
                    col.append("constraints", exp.ColumnConstraint(kind=exp.GeneratedAsIdentityColumnConstraint(this=False)))
                    identity.append((table, _pg_name(col.this) if isinstance(col.this, exp.Identifier) else col.name))
            tables.append(table)
            ddl.append(tree.sql(dialect="postgres", comments=False))
        elif head.startswith("INSERT"):
            if not _INSERT.match(body):
                raise ValueError(f"dump statement not understood (expected INSERT INTO t VALUES ...): {body[:120]!r}")
            inserts.append(body)
        elif head.startswith(("PRAGMA", "BEGIN", "COMMIT")):
            continue
        else:
            raise ValueError(f"dump statement not understood (only CREATE TABLE and INSERT are translated): {body[:120]!r}")
    return PostgresDump(tables=tables, ddl=ddl, inserts=inserts, identity=identity)


def _pg_name(ident: object) -> str:
    """An identifier as PostgreSQL stores it: quoted keeps its case, unquoted folds to lower case."""
    return ident.name if getattr(ident, "quoted", False) else ident.name.lower()  # type: ignore[attr-defined]


def _strip_leading_comments(stmt: str) -> str:
    lines = stmt.splitlines()
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith("--")):
        lines.pop(0)
    return "\n".join(lines)
