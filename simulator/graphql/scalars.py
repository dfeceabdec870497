"""The custom scalars of the SDL: Datetime (NewStore's offset-less UTC), JSON and Cursor."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from graphql import GraphQLError, GraphQLScalarType, ValueNode, value_from_ast_untyped
from graphql.language import StringValueNode


def _canonical(dt: datetime) -> str:
    """UTC, millisecond precision, no offset: `2024-01-02T13:45:29.678`."""
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}"


def datetime_key(value: Any) -> str:
    """A stored timestamp as the canonical offset-less string (comparable as text)."""
    if isinstance(value, str):
        # the store's own format (clock.iso): 2024-01-02T13:45:29.678Z
        if len(value) == 24 and value[-1] == "Z" and value[10] == "T":
            return value[:-1]
        try:
            return _canonical(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            raise GraphQLError(f"stored value {value!r} is not a date-time") from None
    if isinstance(value, datetime):
        return _canonical(value)
    raise GraphQLError(f"stored value {value!r} is not a date-time")


def render_datetime(value: Any, force_timezone: bool) -> str | None:
    """How a Datetime field is answered: no offset, or a trailing Z when asked for."""
    if value is None:
        return None
    text = datetime_key(value)
    return text + "Z" if force_timezone else text


def _parse_datetime(value: Any) -> str:
    if not isinstance(value, str):
        raise GraphQLError(f"Datetime must be an ISO 8601 string, got {value!r}")
    try:
        return _canonical(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
    except ValueError:
        raise GraphQLError(f"Datetime must be ISO 8601, got {value!r}") from None


def _parse_datetime_literal(node: ValueNode, _variables: Any = None) -> str:
    if not isinstance(node, StringValueNode):
        raise GraphQLError("Datetime must be a string literal", node)
    return _parse_datetime(node.value)


def _serialize_datetime(value: Any) -> str:
    # Datetime fields are rendered by their resolvers (which know the request's header);
    # a value arriving here is already a string.
    return value if isinstance(value, str) else datetime_key(value)


def encode_cursor(position: int) -> str:
    """An opaque cursor for a position in a connection."""
    return base64.b64encode(f"cursor:{position}".encode()).decode()


def decode_cursor(cursor: str) -> int:
    """The position a cursor names; GraphQLError for anything not made by encode_cursor."""
    try:
        kind, _, number = base64.b64decode(cursor.encode(), validate=True).decode().partition(":")
        if kind != "cursor" or not number.isdigit():
            raise ValueError(cursor)
        return int(number)
    except (ValueError, UnicodeError):
        raise GraphQLError(f"invalid cursor {cursor!r}") from None


def _parse_cursor(value: Any) -> str:
    if not isinstance(value, str):
        raise GraphQLError(f"Cursor must be a string, got {value!r}")
    decode_cursor(value)
    return value


def _parse_cursor_literal(node: ValueNode, _variables: Any = None) -> str:
    if not isinstance(node, StringValueNode):
        raise GraphQLError("Cursor must be a string literal", node)
    return _parse_cursor(node.value)


def _bind(scalar: GraphQLScalarType, serialize: Any, parse_value: Any, parse_literal: Any
          ) -> None:
    scalar.serialize = serialize  # type: ignore[method-assign]
    scalar.parse_value = parse_value  # type: ignore[method-assign]
    scalar.parse_literal = parse_literal  # type: ignore[method-assign]
    if hasattr(scalar, "coerce_input_value"):  # graphql-core 3.3 reads this one
        scalar.coerce_input_value = parse_value


def bind_scalars(types: dict[str, Any]) -> None:
    """Give the SDL's scalars their serialize/parse functions."""
    _bind(types["Datetime"], _serialize_datetime, _parse_datetime, _parse_datetime_literal)
    _bind(types["JSON"], lambda value: value, lambda value: value, value_from_ast_untyped)
    _bind(types["Cursor"], str, _parse_cursor, _parse_cursor_literal)
