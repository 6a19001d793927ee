"""Accept the tuple-literal signature form ``Flow[(A, B), C]`` in base classes.

mypy turns a base-class expression into a type before any plugin hook can see it and
rejects a parenthesised tuple inside the brackets. The plugin therefore rewrites that
spelling, right after the file is parsed, into the equivalent ``Flow[tuple[A, B], C]``
(the runtime treats both as one contract). Only files importing ``retriever`` are
touched, only base-class subscripts, and a rewritten tree is left as it is.
"""

from __future__ import annotations

from mypy.nodes import (
    Block,
    ClassDef,
    Decorator,
    Expression,
    ForStmt,
    FuncDef,
    IfStmt,
    Import,
    ImportAll,
    ImportFrom,
    IndexExpr,
    MypyFile,
    NameExpr,
    Statement,
    TryStmt,
    TupleExpr,
    WhileStmt,
    WithStmt,
)


def _imports_retriever(file: MypyFile) -> bool:
    for imp in file.imports:
        if isinstance(imp, Import):
            names = [name for name, _ in imp.ids]
        elif isinstance(imp, (ImportFrom, ImportAll)):
            names = [imp.id]
        else:
            continue
        if any(n == "retriever" or n.startswith("retriever.") for n in names):
            return True
    return False


def _as_tuple_type(item: TupleExpr) -> IndexExpr:
    index = TupleExpr(list(item.items))
    index.set_line(item)
    name = NameExpr("tuple")
    name.set_line(item)
    expr = IndexExpr(name, index)
    expr.set_line(item)
    return expr


def _rewrite_base(expr: Expression) -> None:
    if not isinstance(expr, IndexExpr) or not isinstance(expr.index, TupleExpr):
        return
    items = expr.index.items
    if any(isinstance(i, TupleExpr) for i in items):
        expr.index.items = [_as_tuple_type(i) if isinstance(i, TupleExpr) else i
                            for i in items]


def _walk(statements: list[Statement]) -> None:
    # mypy is compiled with mypyc: its visitor classes cannot be subclassed here.
    for stmt in statements:
        if isinstance(stmt, ClassDef):
            for base in stmt.base_type_exprs:
                _rewrite_base(base)
            _walk(stmt.defs.body)
        elif isinstance(stmt, Decorator):
            _walk(stmt.func.body.body)
        elif isinstance(stmt, FuncDef):
            _walk(stmt.body.body)
        elif isinstance(stmt, IfStmt):
            for block in stmt.body:
                _walk(block.body)
            if stmt.else_body is not None:
                _walk(stmt.else_body.body)
        elif isinstance(stmt, (WithStmt, ForStmt, WhileStmt)):
            _walk(stmt.body.body)
        elif isinstance(stmt, TryStmt):
            blocks: list[Block | None] = [stmt.body, *stmt.handlers, stmt.else_body,
                                          stmt.finally_body]
            for part in blocks:
                if part is not None:
                    _walk(part.body)


def rewrite_tuple_literal_bases(file: MypyFile) -> None:
    """Rewrite ``X[(A, B), C]`` base classes of ``file`` to ``X[tuple[A, B], C]``."""
    if not file.defs or not _imports_retriever(file):
        return
    _walk(file.defs)
