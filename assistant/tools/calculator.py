"""A safe calculator: arithmetic parsed with `ast`, never `eval` of arbitrary code."""

from __future__ import annotations

import ast
import math
import operator
import re

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCTIONS = {
    "sqrt": math.sqrt,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "log": math.log,
    "log10": math.log10,
    "exp": math.exp,
    "abs": abs,
    "round": round,
    "floor": math.floor,
    "ceil": math.ceil,
    "factorial": math.factorial,
}
_CONSTANTS = {"pi": math.pi, "e": math.e}
# Words and symbols people type for operators, mapped to Python's.
_SYMBOLS = {
    "×": "*",
    "x": "*",
    "X": "*",
    "÷": "/",
    "^": "**",
    "−": "-",
    "加": "+",
    "减": "-",
    "乘以": "*",
    "乘": "*",
    "除以": "/",
    "（": "(",
    "）": ")",
    "，": "",
    ",": "",
}


class CalculatorError(ValueError):
    pass


# Currency signs before or after an amount ("$42*37.5", "12€"): the arithmetic is the same without them.
_CURRENCY = re.compile(r"(?<![A-Za-z])(?:US\$|[$€£¥￥₹])\s*(?=[\d.(])|(?<=[\d)])\s*(?:[$€£¥￥₹]|元)")


def normalize_expression(text: str) -> str:
    expression = _CURRENCY.sub("", text.strip().rstrip("=？?。.").strip())
    expression = re.sub(r"(\d+(?:\.\d+)?)\s*%\s*of\s*", r"\1/100*", expression)
    for symbol, replacement in _SYMBOLS.items():
        if symbol in ("x", "X"):
            expression = re.sub(r"(?<=[\d)\s])[xX](?=[\s\d(])", "*", expression)
        else:
            expression = expression.replace(symbol, replacement)
    return expression


def evaluate(expression: str) -> float | int:
    """Evaluate arithmetic: + - * / // % **, parentheses, sqrt/sin/log/…, pi and e."""
    expression = normalize_expression(expression)
    if not expression:
        raise CalculatorError("empty expression")
    if len(expression) > 500:
        raise CalculatorError("expression too long (500 characters at most)")
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as exc:
        raise CalculatorError(f"not an arithmetic expression: {expression!r}") from exc
    value = _eval(tree.body)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    return value


def _eval(node: ast.AST) -> float | int:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow) and (abs(right) > 1000 or abs(left) > 1e6):
            raise CalculatorError("exponent too large")
        try:
            return _BINARY[type(node.op)](left, right)
        except ZeroDivisionError as exc:
            raise CalculatorError("division by zero") from exc
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS:
        if node.func.id == "factorial" and _eval(node.args[0]) > 200:
            raise CalculatorError("factorial argument too large")
        return _FUNCTIONS[node.func.id](*[_eval(arg) for arg in node.args])
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    raise CalculatorError(f"unsupported element in expression: {ast.dump(node)[:60]}")


_EXPRESSION = re.compile(r"[\d(（][\d\s.+\-*/×÷xX^()（）%,]*[\d)）]")


def find_expression(text: str) -> str | None:
    """The longest arithmetic-looking span of a sentence ("what is 17*23?" -> "17*23")."""
    text = text.replace("乘以", "*").replace("除以", "/").replace("加上", "+").replace("减去", "-")
    text = re.sub(
        r"(?<=\d)\s*(加|减|乘|除)\s*(?=\d)", lambda m: _SYMBOLS[m.group(1)] if m.group(1) != "除" else "/", text
    )
    text = re.sub(
        r"(?i)(?<=\d)\s*(plus|minus|times|divided by|multiplied by)\s*(?=\d)",
        lambda m: {"plus": "+", "minus": "-", "times": "*", "divided by": "/", "multiplied by": "*"}[
            m.group(1).lower()
        ],
        text,
    )
    text = re.sub(r"(?i)\b(?:the )?square root of\s*(\d+(?:\.\d+)?)", r"sqrt(\1)", text)
    text = re.sub(r"(\d+(?:\.\d+)?)\s*的平方根", r"sqrt(\1)", text)
    spans = [m.group(0) for m in _EXPRESSION.finditer(text) if re.search(r"[+\-*/×÷^%]|\d\s*[xX]\s*\d", m.group(0))]
    spans += [m.group(0) for m in re.finditer(rf"\b(?:{'|'.join(_FUNCTIONS)})\([^()]+\)", text)]
    return max(spans, key=len).strip() if spans else None


def uses_only_known_names(expression: str) -> bool:
    """False when the text has words that are not calculator functions or constants (a sentence, not a formula)."""
    return all(word in _FUNCTIONS or word in _CONSTANTS for word in re.findall(r"[A-Za-z_]{2,}\d*", expression))
