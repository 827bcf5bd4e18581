"""Must-fail canaries hidden among the real tests of a grading run.

Why: the code under test runs inside the test process, so it can rewrite outcomes (patch pytest's
reports, hook its own plugin). A forger that flips every failure to a pass is caught by any test
that must fail; one that flips only some (ids under tests/, names like the F2P tests) is caught
only by must-fail tests it cannot tell from the real ones. So each canary is a copy of a real test
of the same file (the F2P tests themselves first), placed next to it with its decorators, fixtures
and indentation, named from the file's own vocabulary, with one literal of its final equality
check perturbed (a character doubled in a string, a digit put in front of a number). Whatever
the patch, the copy then fails unless the code returns that perturbed value: a copy reported
passing means the outcomes were forged. Names and positions come from a per-grade secret RNG
that never enters any sandbox.

What stays possible (README): code that reads its own tests' sources can look for near-twins and
guess which of two is the copy (the perturbed literal); the canaries make forging a guessing game,
not impossible.
"""

from __future__ import annotations

import ast
import io
import random
import re
import tokenize
from dataclasses import dataclass

#: equality asserts of unittest, nose and friends: (first, second, ...)
ASSERT_EQ_CALLS = frozenset({"assertEqual", "assertEquals", "assert_equal", "eq_", "assertListEqual",
                             "assertTupleEqual", "assertDictEqual", "assertSetEqual", "assertSequenceEqual"})
_SKIPPY = re.compile(r"skip|xfail|flaky|timeout", re.I)
_WORD = re.compile(r"[A-Za-z][a-z0-9]+|[A-Z]+(?![a-z])")


@dataclass(frozen=True)
class Canary:
    """One planted test: every run of it (each parametrized case too) must fail."""

    path: str
    cls: str | None
    name: str
    original: str

    @property
    def base_id(self) -> str:
        return "::".join(p for p in (self.path, self.cls, self.name) if p)

    def matches(self, nodeid: str) -> bool:
        return nodeid == self.base_id or nodeid.startswith(self.base_id + "[")


@dataclass
class _Candidate:
    path: str
    cls: str | None
    fn: ast.FunctionDef
    target: ast.AST  # a literal to perturb, or (kind "wrap") the last equality check itself
    tier: int
    kind: str = "literal"


# -- which tests can be copied, and which literal to perturb -----------------------------------

def _pure(node: ast.AST) -> bool:
    """An expression made of literals only (its value cannot depend on the code under test)."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return all(_pure(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and _pure(k) for k in node.keys) and all(_pure(v) for v in node.values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return _pure(node.operand)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _pure(node.left) and _pure(node.right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join" \
            and isinstance(node.func.value, ast.Constant) and isinstance(node.func.value.value, str):
        return len(node.args) == 1 and not node.keywords and _pure(node.args[0])
    return False


def _literals(node: ast.AST) -> list[ast.Constant]:
    return [n for n in ast.walk(node) if isinstance(n, ast.Constant) and type(n.value) in (str, bytes, int, float)]


def _compared(stmt: ast.stmt) -> list[ast.expr]:
    """The two sides of a top-level equality check (assert a == b, self.assertEqual(a, b))."""
    if isinstance(stmt, ast.Assert) and isinstance(stmt.test, ast.Compare) and len(stmt.test.ops) == 1 \
            and isinstance(stmt.test.ops[0], ast.Eq):
        return [stmt.test.left, stmt.test.comparators[0]]
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and len(stmt.value.args) >= 2:
        func = stmt.value.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name in ASSERT_EQ_CALLS:
            return list(stmt.value.args[:2])
    return []


def _expected_sides(fn: ast.FunctionDef) -> list[ast.expr]:
    """Literal-only sides of the function's last top-level equality check that has one; a name
    assigned once (at top level, before the check) from a literal-only expression and read only
    there counts as its value."""
    assigned: dict[str, list[ast.Assign]] = {}
    for node in ast.walk(fn):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            assigned.setdefault(node.id, [])
        if isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    assigned.setdefault(t.id, []).append(node)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For, ast.comprehension)) \
                and isinstance(node.target, ast.Name):
            assigned.setdefault(node.target.id, []).append(node)  # type: ignore[arg-type]
        elif isinstance(node, ast.withitem) and isinstance(node.optional_vars, ast.Name):
            assigned.setdefault(node.optional_vars.id, []).append(node)  # type: ignore[arg-type]
    loads: dict[str, int] = {}  # a value read anywhere else (a round trip: obj == parse(unparse(obj))) is no expectation
    for node in ast.walk(fn):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            loads[node.id] = loads.get(node.id, 0) + 1
    for stmt in reversed(fn.body):
        sides = _compared(stmt)
        if not sides:
            continue
        out = []
        for side in sides:
            if _pure(side):
                out.append(side)
            elif isinstance(side, ast.Name) and len(assigned.get(side.id, [])) == 1 and loads[side.id] == 1:
                a = assigned[side.id][0]
                if isinstance(a, ast.Assign) and a in fn.body and a.lineno < stmt.lineno and _pure(a.value):
                    out.append(a.value)
        if out:
            return out
    return []


def _tests(tree: ast.Module):
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
            yield None, node, tree.body
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name.startswith("test"):
                    yield node.name, item, node.body


def _copyable(fn: ast.FunctionDef, siblings: list[ast.stmt], source: str) -> bool:
    if any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in ast.walk(fn)):
        return False
    if sum(isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)) and s.name == fn.name for s in siblings) != 1:
        return False
    return not any(_SKIPPY.search(ast.get_source_segment(source, d) or "") for d in fn.decorator_list)


# -- editing the source text -------------------------------------------------------------------

def _perturb(token: str, value: object, rng: random.Random) -> str | None:
    """New source text for one literal token whose value differs from value, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):  # a leading digit added: never the same value, and far from
        if not re.fullmatch(r"\d+(\.\d*)?", token):  # the +1/+2 a stateful test drifts by between runs
            return None
        return str(rng.randint(1, 9)) + token if token[0] != "0" or token[:2] == "0." else None
    try:
        toks = [t for t in tokenize.generate_tokens(io.StringIO(token).readline)
                if t.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER)]
    except (tokenize.TokenError, SyntaxError):
        return None
    head = len(token) - len(token.lstrip("rRbBuUfF"))
    if len(toks) != 1 or toks[0].type != tokenize.STRING or "f" in token[:head].lower():
        return None
    quote = 3 if token[head:head + 3] in ('"""', "'''") else 1
    body = range(head + quote, len(token) - quote)
    spots = [i for i in body if token[i].isalnum() and token[i - 1] != "\\"]
    rng.shuffle(spots)
    for i in spots:
        new = token[:i] + token[i] + token[i:]
        try:
            got = ast.literal_eval(new)
        except (ValueError, SyntaxError):
            continue
        if type(got) is type(value) and len(got) == len(value) + 1:  # type: ignore[arg-type]
            return new
    return None


def _lines(text: str) -> list[str]:
    """Lines as the parser counts them (only a newline ends a line; str.splitlines also splits on form feeds)."""
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def _offset(lines: list[str], lineno: int, col: int) -> int:
    """Character offset of an AST (line, UTF-8 byte column) position in the joined text."""
    before = sum(len(line) for line in lines[: lineno - 1])
    return before + len(lines[lineno - 1].encode("utf-8")[:col].decode("utf-8", "replace"))


def _name_for(orig: str, vocab: list[str], taken: set[str], rng: random.Random) -> str:
    """A name shaped like the file's own tests: the original's words plus one of the file's words."""
    words = [w for w in vocab if w.lower() not in orig.lower()]
    for _ in range(40):
        word = rng.choice(words) if words else rng.choice(["case", "values", "again", "more"])
        if "_" in orig:
            parts = orig.split("_")
            at = rng.randint(2, len(parts)) if len(parts) > 2 else len(parts)
            name = "_".join(parts[:at] + [word.lower()] + parts[at:])
        else:
            name = orig + word[:1].upper() + word[1:].lower()
        if name not in taken and name.isidentifier():
            return name
    n = 2
    while f"{orig}_{n}" in taken:
        n += 1
    return f"{orig}_{n}"


def _vocabulary(tree: ast.Module) -> list[str]:
    names = set()
    for node in ast.walk(tree):
        ident = node.name if isinstance(node, (ast.FunctionDef, ast.ClassDef)) else \
            node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
        names.update(w.lower() for w in _WORD.findall(ident) if len(w) >= 3)
    return sorted(names - {"test", "tests", "self", "assert", "equal", "true", "false", "none"})


# -- planting ----------------------------------------------------------------------------------

def _last_check(fn: ast.FunctionDef) -> ast.stmt | None:
    """The function's last top-level check `assert a == b`, `assert a is b` or assertEqual(a, b)."""
    for stmt in reversed(fn.body):
        if _compared(stmt) or isinstance(stmt, ast.Assert) and isinstance(stmt.test, ast.Compare) \
                and len(stmt.test.ops) == 1 and isinstance(stmt.test.ops[0], ast.Is):
            return stmt
    return None


def _candidates(path: str, source: str, tree: ast.Module, f2p: set[tuple[str | None, str]],
                f2p_files: set[str], rng: random.Random) -> list[_Candidate]:
    """Tests that can be copied, by closeness to the F2P tests (the F2P tests, their files, the
    others): a literal of an expected value to perturb, else a last equality check whose expected
    side gets wrapped in a set literal {B}: what equals B cannot equal {B} (and a set, unlike a
    tuple, is not broadcast by numpy nor converted by a lax __eq__)."""
    out = []
    for cls, fn, siblings in _tests(tree):
        if not _copyable(fn, siblings, source):
            continue
        tier = 0 if (cls, fn.name) in f2p else 2 if path in f2p_files else 4
        literals = [lit for side in _expected_sides(fn) for lit in _literals(side)]
        rng.shuffle(literals)
        literals.sort(key=lambda n: not isinstance(n.value, (str, bytes)))  # a doubled letter reads best
        if literals:
            out.append(_Candidate(path, cls, fn, literals[0], tier))
        elif (check := _last_check(fn)) is not None:
            out.append(_Candidate(path, cls, fn, check, tier + 1, "wrap"))
    return out


def _edit(text: str, lines: list[str], cand: _Candidate, rng: random.Random) -> tuple[int, int, str] | None:
    """(start, end, new text) of the one change that makes the copy fail."""
    node = cand.target
    if cand.kind == "literal":
        assert isinstance(node, ast.Constant)
        a, b = _offset(lines, node.lineno, node.col_offset), _offset(lines, node.end_lineno, node.end_col_offset)
        new = _perturb(text[a:b], node.value, rng)
        return None if new is None else (a, b, new)
    if isinstance(node, ast.Assert):
        assert isinstance(node.test, ast.Compare)
        left, right = node.test.left, node.test.comparators[0]
        a, b = _offset(lines, left.lineno, left.col_offset), _offset(lines, right.end_lineno, right.end_col_offset)
        r = _offset(lines, right.lineno, right.col_offset)
        l_end = _offset(lines, left.end_lineno, left.end_col_offset)
        return a, b, f"{text[a:l_end]} == {{{text[r:b]}}}"
    assert isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
    second = node.value.args[1]
    a, b = _offset(lines, second.lineno, second.col_offset), _offset(lines, second.end_lineno, second.end_col_offset)
    return a, b, f"{{{text[a:b]}}}"


def _block(lines: list[str], fn: ast.FunctionDef) -> tuple[int, int]:
    start = min([fn.lineno] + [d.lineno for d in fn.decorator_list])
    return start, fn.end_lineno or fn.lineno


def _copy(lines: list[str], cand: _Candidate, new_name: str, rng: random.Random) -> str | None:
    start, end = _block(lines, cand.fn)
    text = "".join(lines)
    edit = _edit(text, lines, cand, rng)
    if edit is None:
        return None
    a, b, new = edit
    lo, hi = _offset(lines, start, 0), _offset(lines, end + 1, 0) if end < len(lines) else len(text)
    block = text[lo:a] + new + text[b:hi]
    def_line = _offset(lines, cand.fn.lineno, 0) - lo
    head, tail = block[:def_line], block[def_line:]
    tail, n = re.subn(rf"\bdef\s+{re.escape(cand.fn.name)}\b", f"def {new_name}", tail, count=1)
    return head + tail if n == 1 else None


def _gap(lines: list[str], start: int) -> int:
    """Blank lines right above line start (the file's own spacing between tests)."""
    n = 0
    while start - 2 - n >= 0 and not lines[start - 2 - n].strip():
        n += 1
    return max(1, min(n, 2))


def plant(files: dict[str, str], fail_to_pass: list[str], rng: random.Random,
          count: int = 3) -> tuple[dict[str, str], list[Canary]]:
    """Plant up to count canaries in files ({path: source}); returns the changed files and the canaries.

    F2P tests are copied first, then other tests of their files, then tests of the other files.
    A file that does not parse, or whose new text would not, is left alone.
    """
    f2p: dict[str, set[tuple[str | None, str]]] = {}
    for tid in fail_to_pass:
        parts = tid.split("[", 1)[0].split("::")
        if len(parts) >= 2:
            f2p.setdefault(parts[0], set()).add((parts[1] if len(parts) == 3 else None, parts[-1]))
    trees, cands = {}, []
    for path in sorted(files):
        try:
            trees[path] = ast.parse(files[path])
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        cands += _candidates(path, files[path], trees[path], f2p.get(path, set()), set(f2p), rng)
    rng.shuffle(cands)
    cands.sort(key=lambda c: c.tier)
    chosen: dict[str, list[tuple[_Candidate, str]]] = {}
    canaries: list[Canary] = []
    taken: dict[str, set[str]] = {}
    for cand in cands:
        if len(canaries) >= count:
            break
        path = cand.path
        lines = _lines(files[path])
        names = taken.setdefault(path, {n.id if isinstance(n, ast.Name) else n.name for n in ast.walk(trees[path])
                                        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                                        or isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)})
        name = _name_for(cand.fn.name, _vocabulary(trees[path]), names, rng)
        block = _copy(lines, cand, name, rng)
        if block is None:
            continue
        names.add(name)
        chosen.setdefault(path, []).append((cand, block))
        canaries.append(Canary(path, cand.cls, name, "::".join(p for p in (path, cand.cls, cand.fn.name) if p)))
    changed = {}
    for path, picks in chosen.items():
        lines = _lines(files[path])
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        for cand, block in sorted(picks, key=lambda p: -p[0].fn.lineno):  # bottom up: line numbers stay valid
            start, end = _block(lines, cand.fn)
            sep = ["\n"] * _gap(lines, start)
            copy = _lines(block)
            if rng.random() < 0.5:
                lines[end:end] = sep + copy
            else:
                lines[start - 1:start - 1] = copy + sep
        text = "".join(lines)
        try:
            ast.parse(text)
        except SyntaxError:
            canaries = [c for c in canaries if c.path != path]
            continue
        changed[path] = text
    return changed, canaries
