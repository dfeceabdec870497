"""${...} references in scenario values: earlier steps' results, the environment, the run."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

_REF = re.compile(r"\$\{([^}]+)\}")
_MISSING = object()


class RefError(Exception):
    """A reference that cannot be resolved, saying why."""


def lookup(data: Any, path: str) -> Any:
    """The value at a dotted path (`items.0.amount`, `items.length`); _MISSING if absent."""
    value = data
    for part in path.split(".") if path else []:
        if part == "length" and isinstance(value, list | dict | str):
            value = len(value)
        elif isinstance(value, Mapping):
            value = value.get(part, _MISSING)
        elif isinstance(value, list) and re.fullmatch(r"-?\d+", part):
            i = int(part)
            value = value[i] if -len(value) <= i < len(value) else _MISSING
        else:
            value = _MISSING
        if value is _MISSING:
            return _MISSING
    return value


def missing(value: Any) -> bool:
    return value is _MISSING


def _resolve(expr: str, context: Mapping[str, Any]) -> Any:
    expr = expr.strip()
    if expr.startswith("env:"):
        name, _, default = expr[4:].partition("|")
        value = os.environ.get(name.strip())
        if value is not None:
            return value
        if "|" in expr:
            return default
        raise RefError(f"${{{expr}}}: environment variable {name.strip()} is not set "
                       "(give a default with ${env:NAME|default})")
    head = expr.split(".", 1)[0]
    if head not in context:
        known = ", ".join(sorted(k for k in context if not k.startswith("_"))) or "none"
        raise RefError(f"${{{expr}}}: no step with id {head!r} ran before this one "
                       f"(known: {known})")
    value = lookup(context, expr)
    if value is _MISSING:
        parent = lookup(context, expr.rsplit(".", 1)[0])
        has = (", ".join(sorted(map(str, parent))) if isinstance(parent, Mapping)
               else type(parent).__name__)
        raise RefError(f"${{{expr}}}: not in the result (it has: {has})")
    return value


def interpolate(value: Any, context: Mapping[str, Any]) -> Any:
    """Replace references: a string that is one reference keeps the value's type."""
    if isinstance(value, str):
        whole = _REF.fullmatch(value)
        if whole:
            return _resolve(whole[1], context)
        return _REF.sub(lambda m: _text(_resolve(m[1], context)), value)
    if isinstance(value, list):
        return [interpolate(v, context) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v, context) for k, v in value.items()}
    return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
