"""Example plugin: drop a file like this into plugins/ and its LangChain tools appear in the assistant.

Every module-level LangChain tool (made with `@tool` or `StructuredTool`) is registered at start; the
function's docstring is the description the model sees, and its type hints become the argument schema.
"""

from langchain_core.tools import tool

# Factors to a base unit per dimension; temperatures are handled apart because they have offsets.
_LENGTH = {
    "m": 1.0,
    "km": 1000.0,
    "cm": 0.01,
    "mm": 0.001,
    "mi": 1609.344,
    "mile": 1609.344,
    "miles": 1609.344,
    "ft": 0.3048,
    "feet": 0.3048,
    "in": 0.0254,
    "inch": 0.0254,
    "yd": 0.9144,
}
_MASS = {
    "kg": 1.0,
    "kilogram": 1.0,
    "g": 0.001,
    "gram": 0.001,
    "lb": 0.45359237,
    "lbs": 0.45359237,
    "pound": 0.45359237,
    "oz": 0.028349523125,
    "ounce": 0.028349523125,
}
_VOLUME = {  # US customary measures
    "l": 1.0,
    "liter": 1.0,
    "litre": 1.0,
    "ml": 0.001,
    "milliliter": 0.001,
    "millilitre": 0.001,
    "gal": 3.785411784,
    "gallon": 3.785411784,
    "qt": 0.946352946,
    "quart": 0.946352946,
    "pt": 0.473176473,
    "pint": 0.473176473,
    "cup": 0.2365882365,
}
_TABLES = (_LENGTH, _MASS, _VOLUME)
_TEMPERATURE = ("c", "f", "k", "celsius", "fahrenheit", "kelvin")


def _singular(unit: str) -> str:
    """'pounds' -> 'pound', 'kilometres' -> 'kilometre' when only the singular is known."""
    known = any(unit in table for table in _TABLES) or unit in _TEMPERATURE
    return unit[:-1] if not known and unit.endswith("s") and len(unit) > 2 else unit


def _to_celsius(value: float, unit: str) -> float:
    unit = unit[0]
    return value if unit == "c" else (value - 32) * 5 / 9 if unit == "f" else value - 273.15


def _from_celsius(value: float, unit: str) -> float:
    unit = unit[0]
    return value if unit == "c" else value * 9 / 5 + 32 if unit == "f" else value + 273.15


@tool
def convert_units(value: float, from_unit: str, to_unit: str) -> str:
    """Convert a length, mass, volume or temperature (m, km, mi, ft, in, kg, g, lb, oz, l, ml, gal, cup, C, F, K)."""
    source, target = from_unit.strip().lower().rstrip("."), to_unit.strip().lower().rstrip(".")
    source, target = _singular(source.replace("°", "")), _singular(target.replace("°", ""))
    if source in _TEMPERATURE and target in _TEMPERATURE:
        result = _from_celsius(_to_celsius(value, source), target)
    else:
        table = next((t for t in _TABLES if source in t and target in t), None)
        if table is None:
            raise ValueError(f"cannot convert {from_unit!r} to {to_unit!r}")
        result = value * table[source] / table[target]
    return f"{value:g} {from_unit} = {_four_digits(result)} {to_unit}"


def _four_digits(x: float) -> str:
    """4 significant digits, written out ("46000", not "4.6e+04")."""
    rounded = float(f"{x:.4g}")
    return str(int(rounded)) if rounded.is_integer() and abs(rounded) < 1e15 else f"{rounded:g}"
