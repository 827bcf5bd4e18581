"""AST-located bug injection that edits only the affected span of the original text.

Each mutator walks a module's AST and proposes `Mutation`s: a (start, end) character span of the
ORIGINAL source plus its replacement text. Applying one rewrites only that span, so the diff between
original and mutated files touches just the lines of the span (never an `ast.unparse` of the whole
file, which would reformat everything). Only code inside function bodies is mutated (a module-level
mutation usually just breaks imports). Everything is deterministic: candidates come out in source
order and `sample_mutations` shuffles them with a seeded RNG.
"""

from __future__ import annotations

import ast
import random
import re
from collections.abc import Callable, Iterator

from pydantic import BaseModel

FLIP_CMP: dict[type, str] = {
    ast.Lt: ">=", ast.GtE: "<", ast.Gt: "<=", ast.LtE: ">",
    ast.Eq: "!=", ast.NotEq: "==", ast.In: "not in", ast.NotIn: "in", ast.Is: "is not", ast.IsNot: "is",
}
CMP_TEXT: dict[type, str] = {
    ast.Lt: "<", ast.GtE: ">=", ast.Gt: ">", ast.LtE: "<=", ast.Eq: "==", ast.NotEq: "!=",
    ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not",
}
SWAP_BINOP: dict[type, tuple[str, str]] = {ast.Add: ("+", "-"), ast.Sub: ("-", "+"), ast.Mult: ("*", "//")}


class Mutation(BaseModel):
    """One injected bug: where it is, what kind, and the mutated file text."""

    kind: str
    file: str
    line: int  # 1-based first line of the edited span
    end_line: int
    function: str  # qualified name of the enclosing function, e.g. "LRUCache.popitem"
    start: int  # character offsets of the replaced span in the original text
    end: int
    replacement: str
    original_snippet: str  # the whole original lines of the span
    mutated_snippet: str  # the same lines after the edit

    def apply(self, text: str) -> str:
        """The mutated file text (only the span changes)."""
        return text[: self.start] + self.replacement + text[self.end :]

    def is_valid(self, text: str) -> bool:
        """The mutated file still parses (checked lazily: parsing every candidate of a big file is slow)."""
        try:
            ast.parse(self.apply(text))
        except SyntaxError:
            return False
        return True


class _Source:
    """Original text with AST (line, UTF-8 byte column) -> character offset conversion."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = text.splitlines(keepends=True)
        self.starts: list[int] = []
        pos = 0
        for line in self.lines:
            self.starts.append(pos)
            pos += len(line)
        self.starts.append(pos)

    def offset(self, lineno: int, col_bytes: int) -> int:
        line = self.lines[lineno - 1]
        return self.starts[lineno - 1] + len(line.encode("utf-8")[:col_bytes].decode("utf-8", "replace"))

    def span(self, node: ast.AST) -> tuple[int, int]:
        return (
            self.offset(node.lineno, node.col_offset),  # type: ignore[attr-defined]
            self.offset(node.end_lineno, node.end_col_offset),  # type: ignore[attr-defined]
        )

    def seg(self, node: ast.AST) -> str:
        a, b = self.span(node)
        return self.text[a:b]

    def line_span(self, first: int, last: int) -> tuple[int, int]:
        return self.starts[first - 1], self.starts[last]

    def line_of(self, offset: int) -> int:
        lo, hi = 0, len(self.starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1


Edit = tuple[str, int, int, str]  # kind, start, end, replacement
Mutator = Callable[[ast.AST, _Source, "_Scope"], Iterator[Edit]]


class _Scope:
    """The function a node sits in (its qualified name and local names)."""

    def __init__(self, qualname: str, func: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.qualname = qualname
        self.func = func
        names: set[str] = {a.arg for a in func.args.args + func.args.kwonlyargs + func.args.posonlyargs}
        for n in ast.walk(func):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                names.add(n.id)
        names.discard("self")
        names.discard("cls")
        self.locals = sorted(names)


def _between(src: _Source, left: ast.AST, right: ast.AST) -> tuple[int, int, str]:
    a = src.span(left)[1]
    b = src.span(right)[0]
    return a, b, src.text[a:b]


def _m_compare(node: ast.AST, src: _Source, scope: _Scope) -> Iterator[Edit]:
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in FLIP_CMP:
        a, b, gap = _between(src, node.left, node.comparators[0])
        old = CMP_TEXT[type(node.ops[0])]
        pattern = r"\bnot\s+in\b" if old == "not in" else r"\bis\s+not\b" if old == "is not" else re.escape(old)
        if old in ("in", "is"):
            pattern = rf"\b{old}\b"
        found = list(re.finditer(pattern, gap))
        if len(found) == 1:
            m = found[0]
            yield "flip_comparison", a + m.start(), a + m.end(), FLIP_CMP[type(node.ops[0])]


def _m_boolop(node: ast.AST, src: _Source, scope: _Scope) -> Iterator[Edit]:
    if isinstance(node, ast.BoolOp) and len(node.values) == 2:
        a, b, gap = _between(src, node.values[0], node.values[1])
        old, new = ("and", "or") if isinstance(node.op, ast.And) else ("or", "and")
        found = list(re.finditer(rf"\b{old}\b", gap))
        if len(found) == 1:
            yield "wrong_boolean_operator", a + found[0].start(), a + found[0].end(), new


def _m_negate_condition(node: ast.AST, src: _Source, scope: _Scope) -> Iterator[Edit]:
    if isinstance(node, (ast.If, ast.While)) and node.test.lineno == node.test.end_lineno:
        a, b = src.span(node.test)
        if isinstance(node.test, ast.UnaryOp) and isinstance(node.test.op, ast.Not):
            yield "negated_condition", a, b, src.seg(node.test.operand)
        else:
            yield "negated_condition", a, b, f"not ({src.seg(node.test)})"


def _m_constant(node: ast.AST, src: _Source, scope: _Scope) -> Iterator[Edit]:
    if (
        isinstance(node, ast.Constant)
        and type(node.value) is int
        and 0 <= node.value < 1000
        and node.lineno == node.end_lineno
    ):
        a, b = src.span(node)
        if src.text[a:b].isdigit():
            yield "off_by_one_constant", a, b, str(node.value + 1)
            if node.value > 0:
                yield "off_by_one_constant", a, b, str(node.value - 1)


def _m_bounds(node: ast.AST, src: _Source, scope: _Scope) -> Iterator[Edit]:
    bounds: list[ast.expr] = []
    if isinstance(node, ast.Slice):
        bounds = [x for x in (node.lower, node.upper) if x is not None and not isinstance(x, ast.Constant)]
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range":
        bounds = [x for x in node.args if not isinstance(x, ast.Constant)][-1:]
    for x in bounds:
        if x.lineno == x.end_lineno:
            a, b = src.span(x)
            text = src.seg(x)
            wrapped = text if isinstance(x, (ast.Name, ast.Attribute, ast.Call, ast.Subscript)) else f"({text})"
            yield "off_by_one_bound", a, b, f"{wrapped} - 1"
            yield "off_by_one_bound", a, b, f"{wrapped} + 1"


def _m_binop(node: ast.AST, src: _Source, scope: _Scope) -> Iterator[Edit]:
    if isinstance(node, ast.BinOp) and type(node.op) in SWAP_BINOP:
        old, new = SWAP_BINOP[type(node.op)]
        a, b, gap = _between(src, node.left, node.right)
        found = [m for m in re.finditer(re.escape(old), gap) if gap[m.end():m.end() + 1] not in ("=", "*", "/")]
        if len(found) == 1:
            yield "wrong_arithmetic_operator", a + found[0].start(), a + found[0].end(), new
    if isinstance(node, ast.AugAssign) and type(node.op) in (ast.Add, ast.Sub):
        a, b, gap = _between(src, node.target, node.value)
        old, new = ("+=", "-=") if isinstance(node.op, ast.Add) else ("-=", "+=")
        if gap.count(old) == 1:
            i = gap.index(old)
            yield "wrong_arithmetic_operator", a + i, a + i + 2, new


def _m_swap_args(node: ast.AST, src: _Source, scope: _Scope) -> Iterator[Edit]:
    if isinstance(node, ast.Call) and len(node.args) >= 2:
        x, y = node.args[0], node.args[1]
        if isinstance(x, ast.Starred) or isinstance(y, ast.Starred):
            return
        sx, sy = src.seg(x), src.seg(y)
        if sx != sy and x.lineno == y.end_lineno:
            a, b, gap = _between(src, x, y)
            yield "swapped_arguments", src.span(x)[0], src.span(y)[1], sy + gap + sx


def _m_default(node: ast.AST, src: _Source, scope: _Scope) -> Iterator[Edit]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        for d in node.args.defaults + [d for d in node.args.kw_defaults if d is not None]:
            if isinstance(d, ast.Constant):
                a, b = src.span(d)
                if isinstance(d.value, bool):
                    yield "wrong_default", a, b, str(not d.value)
                elif type(d.value) is int and 0 <= d.value < 1000:
                    yield "wrong_default", a, b, str(d.value + 1)


def _m_return_var(node: ast.AST, src: _Source, scope: _Scope) -> Iterator[Edit]:
    if isinstance(node, ast.Return) and isinstance(node.value, ast.Name):
        others = [n for n in scope.locals if n != node.value.id and not n.startswith("_")]
        for other in others[:3]:
            a, b = src.span(node.value)
            yield "wrong_return_value", a, b, other


def _block_end_line(src: _Source, body: list[ast.stmt]) -> int:
    return body[-1].end_lineno or body[-1].lineno


def _m_remove_branch(node: ast.AST, src: _Source, scope: _Scope) -> Iterator[Edit]:
    if not isinstance(node, ast.If) or node.body[0].lineno == node.lineno:
        return
    indent = re.match(r"\s*", src.lines[node.body[0].lineno - 1]).group(0)  # type: ignore[union-attr]
    first, last = node.body[0].lineno, _block_end_line(src, node.body)
    if len(node.body) <= 6 and not all(isinstance(s, ast.Pass) for s in node.body):
        a, b = src.line_span(first, last)
        yield "removed_branch", a, b, f"{indent}pass\n"
    if node.orelse:
        head = node.orelse[0].lineno
        is_elif = src.lines[head - 1].lstrip().startswith("elif")
        if is_elif:
            inner = node.orelse[0]
            if isinstance(inner, ast.If) and not inner.orelse:
                a, b = src.line_span(head, _block_end_line(src, inner.body))
                yield "removed_branch", a, b, ""
        else:
            else_line = next(
                (n for n in range(last + 1, head) if src.lines[n - 1].lstrip().startswith("else")), None
            )
            if else_line is not None and head != else_line:
                a, b = src.line_span(else_line, _block_end_line(src, node.orelse))
                yield "removed_branch", a, b, ""


MUTATORS: list[Mutator] = [
    _m_compare, _m_boolop, _m_negate_condition, _m_constant, _m_bounds,
    _m_binop, _m_swap_args, _m_default, _m_return_var, _m_remove_branch,
]


def _functions(tree: ast.Module) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    def visit(node: ast.AST, prefix: str) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                q = f"{prefix}{child.name}"
                yield q, child
                yield from visit(child, q + ".")
            elif isinstance(child, ast.ClassDef):
                yield from visit(child, f"{prefix}{child.name}.")
            elif not isinstance(child, ast.Lambda):
                yield from visit(child, prefix)

    yield from visit(tree, "")


def _own_nodes(func: ast.AST) -> Iterator[ast.AST]:
    """Nodes of a function, not descending into nested functions/classes (they are visited themselves)."""
    yield func
    stack = list(ast.iter_child_nodes(func))
    while stack:
        n = stack.pop(0)
        yield n
        if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(n))


def _is_docstring_or_decorator(node: ast.AST, func: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    for d in func.decorator_list:
        if d.lineno <= getattr(node, "lineno", 0) <= (d.end_lineno or d.lineno):
            return True
    return False


def apply_edit(text: str, start: int, end: int, replacement: str) -> str:
    return text[:start] + replacement + text[end:]


def find_mutations(path: str, text: str) -> list[Mutation]:
    """Every candidate mutation of one file, in source order (check `is_valid` before using one)."""
    src = _Source(text)
    tree = ast.parse(text)
    out: list[Mutation] = []
    seen: set[tuple[int, int, str]] = set()
    for qualname, func in _functions(tree):
        scope = _Scope(qualname, func)
        for node in _own_nodes(func):
            if node is not func and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            if _is_docstring_or_decorator(node, func):
                continue
            for mutator in MUTATORS:
                if mutator is _m_default and node is not func:
                    continue
                for kind, a, b, rep in mutator(node, src, scope):
                    if (a, b, rep) in seen or text[a:b] == rep:
                        continue
                    seen.add((a, b, rep))
                    first = src.line_of(a)
                    last = src.line_of(max(a, b - 1))
                    lo, hi = src.line_span(first, last)
                    out.append(
                        Mutation(
                            kind=kind, file=path, line=first, end_line=last, function=qualname,
                            start=a, end=b, replacement=rep,
                            original_snippet=text[lo:hi],
                            mutated_snippet=text[lo:a] + rep + text[b:hi],
                        )
                    )
    return out


def sample_mutations(candidates: list[Mutation], seed: int) -> list[Mutation]:
    """Candidates in a seeded order that interleaves kinds, so a small budget still mixes bug types."""
    rng = random.Random(seed)
    by_kind: dict[str, list[Mutation]] = {}
    for m in candidates:
        by_kind.setdefault(m.kind, []).append(m)
    for ms in by_kind.values():
        rng.shuffle(ms)
    kinds = sorted(by_kind)
    rng.shuffle(kinds)
    out: list[Mutation] = []
    while any(by_kind[k] for k in kinds):
        for k in kinds:
            if by_kind[k]:
                out.append(by_kind[k].pop())
    return out
