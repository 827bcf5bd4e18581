"""Which output columns a query's ORDER BY sorts on, so the grader can let tied rows come in any order.

A task whose request demands an order is graded with ``ordered=True``, but ORDER BY only fixes the
order of rows whose keys differ: rows tied on every key come in whatever order the engine likes
(SQLite and PostgreSQL differ, and so do two plans on one engine). Demanding the gold's tie-break
would fail correct answers, so the grader compares tied runs as multisets; for that it needs the
keys as output column positions, which this module reads from the gold (or state-check) query
with sqlglot, never with regex.

A key maps to an output column when it is a position (ORDER BY 2), an output alias or name
(ORDER BY total), or the same expression as an output column (ORDER BY SUM(x) with SUM(x) in the
SELECT list). When any key sorts on something not in the output (ORDER BY a hidden column),
tied runs cannot be seen in the result: keys_for() returns None and the grader compares the
whole order strictly, as before.
"""

from __future__ import annotations

from functools import lru_cache

#: sqlglot's names for our engine dialects.
_DIALECTS = {"sqlite": "sqlite", "postgres": "postgres"}


@lru_cache(maxsize=2048)
def keys_for(sql: str, dialect: str = "sqlite") -> tuple[int, ...] | None:
    """Output column positions of the top-level ORDER BY keys of the last statement of `sql`;
    () when it has no ORDER BY; None when some key is not an output column (or it does not parse)."""
    import sqlglot
    from sqlglot import exp

    try:
        statements = [s for s in sqlglot.parse(sql, read=_DIALECTS.get(dialect, dialect)) if s is not None]
    except Exception:  # noqa: BLE001 - sqlglot raises several error types; unknown keys mean strict order
        return None
    if not statements:
        return None
    top = statements[-1]
    order = top.args.get("order")
    if order is None:
        return ()
    select = top
    while isinstance(select, exp.SetOperation):  # UNION/INTERSECT/EXCEPT: output names are the first branch's
        select = select.this
    if not isinstance(select, exp.Select):
        return None
    outputs = select.expressions
    if any(isinstance(o, exp.Star) or (isinstance(o, exp.Column) and isinstance(o.this, exp.Star)) for o in outputs):
        return None  # SELECT *: output positions are not in the text
    names = [o.alias_or_name.lower() for o in outputs]
    bodies = [o.unalias() for o in outputs]
    keys: list[int] = []
    for ordered in order.expressions:
        key = ordered.this
        idx = None
        if isinstance(key, exp.Literal) and not key.is_string:
            try:
                n = int(key.this)
            except ValueError:
                return None
            idx = n - 1 if 1 <= n <= len(outputs) else None
        elif isinstance(key, exp.Column) and not key.table and key.name.lower() in names:
            idx = names.index(key.name.lower())  # an output alias or bare name
        else:
            idx = next((i for i, b in enumerate(bodies) if b == key), None)
            if idx is None and isinstance(key, exp.Column):
                idx = next((i for i, b in enumerate(bodies)
                            if isinstance(b, exp.Column) and b.name.lower() == key.name.lower()
                            and (not key.table or not b.table or b.table.lower() == key.table.lower())), None)
        if idx is None:
            return None
        if idx not in keys:
            keys.append(idx)
    return tuple(keys)
