"""Field matchers of expectations; each mismatch is a sentence a person understands."""

from __future__ import annotations

import json
from typing import Any

from simulator.scenario.refs import lookup, missing

CENT = 0.005  # amounts match to the cent
OPERATORS = ("approx", "gt", "gte", "lt", "lte", "contains", "one_of", "exists", "len", "sum")


def show(value: Any) -> str:
    """A short rendering of a value for a failure message."""
    text = json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= 120 else text[:117] + "..."


def _equal(actual: Any, expected: Any) -> bool:
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual == expected
    if isinstance(actual, int | float) and isinstance(expected, int | float):
        return abs(actual - expected) <= CENT
    if isinstance(actual, int | float) and isinstance(expected, str):
        try:
            return abs(actual - float(expected)) <= CENT
        except ValueError:
            return False
    if isinstance(actual, list) and isinstance(expected, list):
        return len(actual) == len(expected) and all(map(_equal, actual, expected))
    if isinstance(actual, dict) and isinstance(expected, dict):
        return actual.keys() == expected.keys() and all(
            _equal(actual[k], expected[k]) for k in actual)
    return actual == expected


def _is_operator(spec: Any) -> bool:
    return isinstance(spec, dict) and bool(spec) and set(spec) <= set(OPERATORS) | {
        "tolerance", "equals"} and any(k in OPERATORS for k in spec)


def check(actual: Any, path: str, spec: Any) -> str | None:
    """None when the value at `path` satisfies `spec`, else why not."""
    value = lookup(actual, path)
    if not _is_operator(spec):
        if missing(value):
            return f"{path} is missing, expected {show(spec)}"
        return None if _equal(value, spec) else f"{path} is {show(value)}, expected {show(spec)}"
    op = next(k for k in spec if k in OPERATORS)
    arg = spec[op]
    if op == "exists":
        return None if missing(value) != bool(arg) else (
            f"{path} is missing" if arg else f"{path} should be absent but is {show(value)}")
    if missing(value):
        return f"{path} is missing"
    try:
        if op == "approx":
            tol = spec.get("tolerance", CENT)
            ok = abs(float(value) - float(arg)) <= tol
            return None if ok else f"{path} is {show(value)}, expected {show(arg)} ± {tol}"
        if op in ("gt", "gte", "lt", "lte"):
            ok = {"gt": value > arg, "gte": value >= arg, "lt": value < arg,
                  "lte": value <= arg}[op]
            sign = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op]
            return None if ok else f"{path} is {show(value)}, expected {sign} {show(arg)}"
        if op == "contains":
            ok = arg in value if isinstance(value, list | str) else False
            return None if ok else f"{path} is {show(value)}, expected it to contain {show(arg)}"
        if op == "one_of":
            ok = any(_equal(value, a) for a in arg)
            return None if ok else f"{path} is {show(value)}, expected one of {show(arg)}"
        if op == "len":
            n = len(value)
            return None if n == arg else f"{path} has {n} entries, expected {arg}"
        if op == "sum":
            total = round(sum(float(_num(lookup(e, arg))) for e in value), 2)
            want = spec.get("equals")
            return None if want is None or _equal(total, want) else (
                f"sum of {path}[*].{arg} is {total}, expected {show(want)}")
    except (TypeError, ValueError) as e:
        return f"{path} is {show(value)}, which cannot be compared with {show(arg)} ({e})"
    return None


def _num(value: Any) -> float:
    if missing(value) or value is None:
        raise ValueError("an entry has no such field")
    return float(value)


def check_all(actual: Any, match: dict[str, Any]) -> list[str]:
    """Every mismatch of a `match` mapping (empty when all hold)."""
    return [why for path, spec in match.items() if (why := check(actual, path, spec))]
