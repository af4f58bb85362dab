"""Safe arithmetic: the expression is parsed and walked, never evaluated as Python."""

from __future__ import annotations

import ast
import decimal
import operator
from collections.abc import Callable
from decimal import Decimal

from agent.tools import ToolError

_BINARY: dict[type[ast.operator], Callable[[Decimal, Decimal], Decimal]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Decimal], Decimal]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_MAX_EXPONENT = 1000
_MAX_LENGTH = 1000
# Decimal keeps 0.1 + 0.2 == 0.3, which is what a person totting up invoices expects.
_CONTEXT = decimal.Context(prec=28, traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow])


def _evaluate(node: ast.AST) -> Decimal:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return Decimal(repr(node.value))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > _MAX_EXPONENT:
            msg = f"exponent {right} is too large; the calculator allows at most {_MAX_EXPONENT}"
            raise ToolError(msg)
        return _BINARY[type(node.op)](left, right)
    msg = f"{ast.unparse(node)!r} is not arithmetic; use numbers, + - * / // % ** and parentheses"
    raise ToolError(msg)


def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression exactly (decimal), such as "(120.50 + 75.25) * 2".

    Args:
        expression: numbers with + - * / // % ** and parentheses; nothing else is allowed.
    """
    if len(expression) > _MAX_LENGTH:
        msg = f"expression is {len(expression)} characters long; the calculator takes at most {_MAX_LENGTH}"
        raise ToolError(msg)
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as err:
        msg = f"cannot parse {expression!r} as arithmetic: {err.msg}"
        raise ToolError(msg) from None
    with decimal.localcontext(_CONTEXT):
        try:
            value = _evaluate(tree)
        except (decimal.DivisionByZero, ZeroDivisionError):
            raise ToolError(f"division by zero in {expression!r}") from None
        except (decimal.InvalidOperation, decimal.Overflow) as err:
            raise ToolError(f"cannot compute {expression!r}: {type(err).__name__}") from None
    # Integral results print without a trailing ".0"; others keep their exact decimal digits.
    return str(value.quantize(Decimal(1))) if value == value.to_integral_value() else str(value.normalize())
