"""PostGraphile-style connections: filter, offset/after, first; nodes, edges, pageInfo."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError

from simulator.graphql.scalars import datetime_key, decode_cursor, encode_cursor

Doc = dict[str, Any]


@dataclass(frozen=True)
class FieldSpec:
    """How one filterable field is read from a document."""

    key: str
    is_datetime: bool = False


# filter input type name -> {graphql field name: spec}; filled when the schema is bound
FilterSpec = dict[str, FieldSpec]


class Connection:
    """One page of a list, with what `edges`, `totalCount` and `pageInfo` need."""

    __slots__ = ("nodes", "total", "start")

    def __init__(self, nodes: list[Any], total: int, start: int) -> None:
        self.nodes = nodes
        self.total = total
        self.start = start

    def edges(self) -> list[Doc]:
        """The page as edges, each with its cursor."""
        return [{"cursor": encode_cursor(self.start + n), "node": node}
                for n, node in enumerate(self.nodes)]

    def page_info(self) -> Doc:
        """Where the page sits in the whole (filtered) list."""
        end = self.start + len(self.nodes)
        return {
            "has_next_page": end < self.total,
            "has_previous_page": self.start > 0,
            "start_cursor": encode_cursor(self.start) if self.nodes else None,
            "end_cursor": encode_cursor(end - 1) if self.nodes else None,
        }


def _in(value: Any, operand: list[Any]) -> bool:
    return value in operand


def _not_in(value: Any, operand: list[Any]) -> bool:
    return value not in operand


def _includes(value: Any, operand: str) -> bool:
    return isinstance(value, str) and operand in value


def _starts_with(value: Any, operand: str) -> bool:
    return isinstance(value, str) and value.startswith(operand)


# Operators compare like SQL (PostGraphile's connection filter): a null field value matches
# no operator but `isNull: true`.
OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "equalTo": operator.eq,
    "notEqualTo": operator.ne,
    "in": _in,
    "notIn": _not_in,
    "lessThan": operator.lt,
    "lessThanOrEqualTo": operator.le,
    "greaterThan": operator.gt,
    "greaterThanOrEqualTo": operator.ge,
    "includes": _includes,
    "startsWith": _starts_with,
}


def matches(doc: Doc, flt: Doc, spec: FilterSpec) -> bool:
    """Whether a document meets every condition of a filter (and/or/not nest)."""
    for name, condition in flt.items():
        if condition is None:
            continue
        if name == "and":
            if not all(matches(doc, sub, spec) for sub in condition):
                return False
        elif name == "or":
            if not any(matches(doc, sub, spec) for sub in condition):
                return False
        elif name == "not":
            if matches(doc, condition, spec):
                return False
        elif not _field_matches(doc, spec[name], condition):
            return False
    return True


def _field_matches(doc: Doc, field: FieldSpec, condition: Doc) -> bool:
    value = doc.get(field.key)
    if value is not None and field.is_datetime:
        value = datetime_key(value)
    for op, operand in condition.items():
        if op == "isNull":
            if operand is not None and (value is None) != operand:
                return False
            continue
        if operand is None:
            continue
        if value is None:
            return False
        try:
            if not OPERATORS[op](value, operand):
                return False
        except TypeError:  # a stored value of another type than the field's
            return False
    return True


def paginate(items: list[Any], args: Doc, spec: FilterSpec) -> Connection:
    """Apply filter, then offset/after, then first."""
    flt = args.get("filter")
    if flt:
        items = [item for item in items if matches(item, flt, spec)]
    start = args.get("offset") or 0
    if start < 0:
        raise GraphQLError("offset must not be negative")
    after = args.get("after")
    if after is not None:
        start = max(start, decode_cursor(after) + 1)
    first = args.get("first")
    if first is None:
        page = items[start:]
    elif first < 0:
        raise GraphQLError("first must not be negative")
    else:
        page = items[start:start + first]
    return Connection(page, len(items), start)
