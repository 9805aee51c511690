"""AST mutations that inject realistic bugs into Python source, with minimal textual diffs.

Each `Mutation` names its operator, file, line and enclosing function, and rewrites exactly one
node's source span (or deletes one guard statement), so the gold patch is the reverse one-line
change. Only code inside function bodies is touched (not docstrings, annotations or decorators).
Enumeration order is deterministic; the builder shuffles it with a seed.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Iterator
from dataclasses import dataclass

COMPARE_SWAPS = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
BINOP_SWAPS = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.FloorDiv,
    ast.FloorDiv: ast.Mult,
    ast.Div: ast.Mult,
    ast.Mod: ast.FloorDiv,
    ast.BitAnd: ast.BitOr,
    ast.BitOr: ast.BitAnd,
    ast.LShift: ast.RShift,
    ast.RShift: ast.LShift,
}
OPERATORS = (
    "swap_comparison",
    "swap_operator",
    "swap_boolean",
    "off_by_one",
    "drop_condition",
    "negate_condition",
    "remove_not",
    "wrong_return",
    "swap_arguments",
    "drop_guard",
    "remove_statement",
    "drop_else",
)
#: operators that delete whole lines (`line`..`end_line`) instead of rewriting a span
DELETE_OPERATORS = {"drop_guard", "remove_statement", "drop_else"}


@dataclass(frozen=True)
class Mutation:
    operator: str
    path: str  # file path relative to the repository root
    line: int
    col: int
    end_line: int
    end_col: int
    function: str  # qualified name of the enclosing function
    replacement: str  # new text for the span ("" with operator drop_guard deletes the lines)
    original: str

    @property
    def key(self) -> str:
        return f"{self.path}:{self.line}:{self.col}:{self.operator}:{self.replacement}"

    def describe(self) -> dict:
        return {"operator": self.operator, "file": self.path, "line": self.line, "function": self.function}


def _segment_end(line: str, node: ast.AST) -> bool:
    """True when `node` ends its (last) line: nothing but a comment follows it."""
    rest = line.encode()[node.end_col_offset :].decode(errors="replace").strip()
    return not rest or rest.startswith("#")


def _segment(lines: list[str], node: ast.AST) -> str:
    return lines[node.lineno - 1].encode()[node.col_offset : node.end_col_offset].decode()


def apply_mutation(source: str, m: Mutation) -> str:
    lines = source.splitlines(keepends=True)
    if m.operator in DELETE_OPERATORS:
        return "".join(lines[: m.line - 1] + lines[m.end_line :])
    raw = lines[m.line - 1].encode()
    new_line = raw[: m.col] + m.replacement.encode() + raw[m.end_col :]
    lines[m.line - 1] = new_line.decode()
    return "".join(lines)


class _Collector(ast.NodeVisitor):
    def __init__(self, path: str, lines: list[str]):
        self.path = path
        self.lines = lines
        self.scope: list[str] = []
        self.in_function = 0
        self.found: list[Mutation] = []

    # scopes -------------------------------------------------------------
    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.scope.append(node.name)
        for stmt in node.body:
            self.visit(stmt)
        self.scope.pop()

    def visit_FunctionDef(self, node) -> None:
        self.scope.append(node.name)
        self.in_function += 1
        body = node.body
        if (
            body
            and isinstance(body[0], ast.Expr)
            and isinstance(getattr(body[0], "value", None), ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            body = body[1:]
        for stmt in body:
            self.visit(stmt)
        self._guards(body)
        self._statements(body)
        self.in_function -= 1
        self.scope.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self.visit(node.body)

    # helpers ------------------------------------------------------------
    def _add(self, op: str, node: ast.AST, new: ast.AST | str) -> None:
        if not self.in_function or node.lineno != node.end_lineno:
            return
        original = _segment(self.lines, node)
        replacement = new if isinstance(new, str) else ast.unparse(new)
        if not original or replacement == original:
            return
        self.found.append(
            Mutation(
                op,
                self.path,
                node.lineno,
                node.col_offset,
                node.end_lineno,
                node.end_col_offset,
                ".".join(self.scope),
                replacement,
                original,
            )
        )

    def _guards(self, body: list[ast.stmt]) -> None:
        if len(body) < 2:
            return
        for stmt in body:
            if (
                isinstance(stmt, ast.If)
                and not stmt.orelse
                and len(stmt.body) == 1
                and isinstance(stmt.body[0], ast.Return | ast.Raise | ast.Continue | ast.Break)
            ):
                self.found.append(
                    Mutation(
                        "drop_guard",
                        self.path,
                        stmt.lineno,
                        stmt.col_offset,
                        stmt.end_lineno,
                        stmt.end_col_offset,
                        ".".join(self.scope),
                        "",
                        "".join(self.lines[stmt.lineno - 1 : stmt.end_lineno]),
                    )
                )

    def _delete(self, op: str, first: int, last: int) -> None:
        self.found.append(
            Mutation(
                op,
                self.path,
                first,
                0,
                last,
                len(self.lines[last - 1]),
                ".".join(self.scope),
                "",
                "".join(self.lines[first - 1 : last]),
            )
        )

    def _statements(self, body: list[ast.stmt]) -> None:
        """remove_statement: a one-line state update (augmented assignment, assignment to an
        attribute or item, a call statement) alone on its line, in a block that keeps at least one
        other statement."""
        if len(body) < 2:
            return
        for stmt in body:
            # state updates only: removing a plain `name = ...` just raises NameError later
            simple = (
                isinstance(stmt, ast.AugAssign)
                or (
                    isinstance(stmt, ast.Assign)
                    and all(isinstance(t, ast.Attribute | ast.Subscript) for t in stmt.targets)
                )
                or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call))
            )
            if not simple or stmt.lineno != stmt.end_lineno:
                continue
            if self.lines[stmt.lineno - 1].strip() != _segment(self.lines, stmt).strip():
                continue  # shares its line with another statement
            self._delete("remove_statement", stmt.lineno, stmt.end_lineno)

    def _blocks(self, node: ast.AST) -> None:
        for name in ("body", "orelse", "finalbody"):
            block = getattr(node, name, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                self._statements(block)

    def generic_visit(self, node: ast.AST) -> None:
        for field, value in ast.iter_fields(node):
            if field in ("annotation", "returns", "decorator_list", "type_comment"):
                continue
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.AST):
                        self.visit(item)
            elif isinstance(value, ast.AST):
                self.visit(value)

    # operators ----------------------------------------------------------
    def visit_Compare(self, node: ast.Compare) -> None:
        if len(node.ops) == 1 and type(node.ops[0]) in COMPARE_SWAPS:
            new = copy.deepcopy(node)
            new.ops = [COMPARE_SWAPS[type(node.ops[0])]()]
            self._add("swap_comparison", node, new)
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        is_str = any(
            isinstance(x, ast.Constant) and isinstance(x.value, str | bytes) for x in (node.left, node.right)
        )
        if type(node.op) in BINOP_SWAPS and not is_str and not isinstance(node.left, ast.JoinedStr):
            new = copy.deepcopy(node)
            new.op = BINOP_SWAPS[type(node.op)]()
            self._add("swap_operator", node, new)
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        new = copy.deepcopy(node)
        new.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        self._add("swap_boolean", node, new)
        if len(node.values) >= 2:
            for i in range(len(node.values)):
                dropped = copy.deepcopy(node)
                dropped.values = [v for j, v in enumerate(node.values) if j != i]
                self._add("drop_condition", node, dropped.values[0] if len(dropped.values) == 1 else dropped)
        self.generic_visit(node)

    def _drop_else(self, node: ast.If | ast.For | ast.While | ast.Try) -> None:
        """drop_else: delete a plain `else:` block (not an `elif`) of an if statement."""
        if not isinstance(node, ast.If) or not node.orelse or not node.body:
            return
        first = node.orelse[0]
        if isinstance(first, ast.If) and self.lines[first.lineno - 1].lstrip().startswith("elif"):
            return
        for n in range(first.lineno - 1, node.body[-1].end_lineno, -1):
            text = self.lines[n - 1].strip()
            if text == "else:":
                tail = self.lines[node.orelse[-1].end_lineno - 1]
                if _segment_end(tail, node.orelse[-1]):
                    self._delete("drop_else", n, node.orelse[-1].end_lineno)
                return
            if text and not text.startswith("#"):
                return

    def visit_For(self, node: ast.For) -> None:
        if self.in_function:
            self._blocks(node)
        self.generic_visit(node)

    visit_AsyncFor = visit_For
    visit_With = visit_For
    visit_AsyncWith = visit_For
    visit_Try = visit_For

    def visit_If(self, node: ast.If) -> None:
        if self.in_function:
            self._blocks(node)
            self._drop_else(node)
        test = node.test
        if self.in_function and test.lineno == test.end_lineno and not isinstance(test, ast.Constant):
            if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
                self._add("remove_not", test, test.operand)
            else:
                self._add("negate_condition", test, ast.UnaryOp(op=ast.Not(), operand=copy.deepcopy(test)))
        self.generic_visit(node)

    def visit_While(self, node: ast.While) -> None:
        if self.in_function:
            self._blocks(node)
        test = node.test
        if self.in_function and test.lineno == test.end_lineno and not isinstance(test, ast.Constant):
            if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
                self._add("remove_not", test, test.operand)
            else:
                self._add("negate_condition", test, ast.UnaryOp(op=ast.Not(), operand=copy.deepcopy(test)))
        self.generic_visit(node)

    def visit_Return(self, node: ast.Return) -> None:
        v = node.value
        if v is not None:
            if isinstance(v, ast.Constant) and isinstance(v.value, bool):
                self._add("wrong_return", v, ast.Constant(not v.value))
            elif isinstance(v, ast.Compare | ast.BoolOp):
                self._add("wrong_return", v, ast.UnaryOp(op=ast.Not(), operand=copy.deepcopy(v)))
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if type(node.value) is int and 0 <= node.value <= 2:
            self._add("off_by_one", node, ast.Constant(node.value + 1))
            if node.value > 0:
                self._add("off_by_one", node, ast.Constant(node.value - 1))

    def visit_Call(self, node: ast.Call) -> None:
        args = node.args
        if len(args) >= 2 and not any(isinstance(a, ast.Starred) for a in args[:2]):
            a, b = args[0], args[1]
            if (
                ast.unparse(a) != ast.unparse(b)
                and isinstance(a, ast.Name | ast.Constant | ast.Attribute)
                and isinstance(b, ast.Name | ast.Constant | ast.Attribute)
                and a.lineno == b.end_lineno == node.lineno
            ):
                text = self.lines[node.lineno - 1].encode()
                sa, sb = text[a.col_offset : a.end_col_offset], text[b.col_offset : b.end_col_offset]
                swapped = (
                    text[node.col_offset : a.col_offset]
                    + sb
                    + text[a.end_col_offset : b.col_offset]
                    + sa
                    + text[b.end_col_offset : node.end_col_offset]
                )
                self._add("swap_arguments", node, swapped.decode())
        self.generic_visit(node)


def find_mutations(path: str, source: str) -> Iterator[Mutation]:
    """Every mutation of `source` (file `path`) that still parses, in source order."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return
    collector = _Collector(path, source.splitlines(keepends=True))
    collector.visit(tree)
    seen = set()
    for m in sorted(collector.found, key=lambda m: (m.line, m.col, m.operator, m.replacement)):
        if m.key in seen:
            continue
        seen.add(m.key)
        try:
            ast.parse(apply_mutation(source, m))
        except SyntaxError:
            continue
        yield m


@dataclass(frozen=True)
class Bug:
    """One injected bug: a single mutation, or several related ones (`multi_site`: two sites in the
    same function that must both be fixed)."""

    mutations: tuple[Mutation, ...]

    @property
    def kind(self) -> str:
        return "multi_site" if len(self.mutations) > 1 else self.mutations[0].operator

    @property
    def key(self) -> str:
        return "|".join(m.key for m in self.mutations)

    @property
    def files(self) -> list[str]:
        return sorted({m.path for m in self.mutations})

    @property
    def functions(self) -> list[str]:
        return sorted({f"{m.path}::{m.function}" for m in self.mutations})

    @property
    def lines(self) -> list[tuple[str, int]]:
        return [(m.path, n) for m in self.mutations for n in range(m.line, m.end_line + 1)]

    def apply(self, sources: dict[str, str]) -> dict[str, str]:
        """The mutated text of every file the bug touches (sources: path -> original text)."""
        out: dict[str, str] = {}
        for path in self.files:
            text = sources[path]
            # bottom-up, so earlier sites keep their line and column numbers
            for m in sorted((m for m in self.mutations if m.path == path), key=lambda m: (-m.line, -m.col)):
                text = apply_mutation(text, m)
            out[path] = text
        return out

    def describe(self) -> dict:
        first = self.mutations[0]
        d = first.describe()
        d["kind"] = self.kind
        if len(self.mutations) > 1:
            d["operator"] = "multi_site"
            d["sites"] = [m.describe() for m in self.mutations]
        return d


def pair_bugs(mutations: list[Mutation], limit: int, sources: dict[str, str]) -> list[Bug]:
    """Up to `limit` two-site bugs: pairs of mutations in the same function on different lines
    whose joint change still parses (`mutations` in the caller's order, so the pairs follow its
    shuffle; `sources`: path -> original text)."""
    by_function: dict[tuple[str, str], list[Mutation]] = {}
    for m in mutations:
        by_function.setdefault((m.path, m.function), []).append(m)
    out: list[Bug] = []
    for group in by_function.values():
        if len(out) >= limit:
            break
        first = group[0]
        for other in group[1:]:
            if other.line > first.end_line or other.end_line < first.line:
                bug = Bug(tuple(sorted((first, other), key=lambda m: (m.line, m.col))))
                try:
                    ast.parse(bug.apply(sources)[first.path])
                except SyntaxError:  # e.g. both deletions emptied one block
                    continue
                out.append(bug)
                break
    return out
