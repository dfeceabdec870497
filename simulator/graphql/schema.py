"""The executable schema: the SDL file, with a resolver bound to every field once.

Fields read the snake_case key of their camelCase name from the document they sit on;
connection fields wrap a list in filter and paging; Datetime fields render per the request's
Force-Render-Timezone header; the few relations are in resolvers.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    build_schema,
    get_named_type,
)

from simulator.graphql import resolvers as R
from simulator.graphql.connections import Connection, FieldSpec, FilterSpec, paginate
from simulator.graphql.scalars import bind_scalars, render_datetime

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


@cache
def snake(name: str) -> str:
    """The document key of a field name: placedAt -> placed_at."""
    return _CAMEL.sub("_", name).lower()


def _keys(name: str) -> tuple[str, ...]:
    return R.KEY_ALIASES.get(name, (snake(name),))


def _key_resolver(name: str) -> Callable[..., Any]:
    keys = _keys(name)
    if len(keys) == 1:
        key = keys[0]

        def resolve(source: Any, _info: GraphQLResolveInfo, **_args: Any) -> Any:
            return source.get(key)
        return resolve

    def resolve_first(source: Any, _info: GraphQLResolveInfo, **_args: Any) -> Any:
        for key in keys:
            if source.get(key) is not None:
                return source[key]
        return None
    return resolve_first


def _datetime_resolver(name: str) -> Callable[..., Any]:
    key = snake(name)

    def resolve(source: Any, info: GraphQLResolveInfo, **_args: Any) -> Any:
        return render_datetime(source.get(key), info.context.force_timezone)
    return resolve


def _list_in_document(name: str) -> R.ListSource:
    key = snake(name)

    def source(parent: Any, _info: GraphQLResolveInfo, _args: dict[str, Any]) -> list[Any]:
        return list(parent.get(key) or ())
    return source


def _connection_resolver(source: R.ListSource, spec: FilterSpec) -> Callable[..., Any]:
    def resolve(parent: Any, info: GraphQLResolveInfo, **args: Any) -> Connection:
        connection = paginate(source(parent, info, args), args, spec)
        info.context.nodes_left -= len(connection.nodes)
        if info.context.nodes_left < 0:
            raise GraphQLError("the query asks for too many nodes; narrow it with first or filter")
        return connection
    return resolve


_CONNECTION_FIELDS: dict[str, Callable[..., Any]] = {
    "nodes": lambda c, _info: c.nodes,
    "edges": lambda c, _info: c.edges(),
    "totalCount": lambda c, _info: c.total,
    "pageInfo": lambda c, _info: c.page_info(),
}


def _is_connection(type_: Any) -> bool:
    return isinstance(type_, GraphQLObjectType) and type_.name.endswith("Connection") \
        and "nodes" in type_.fields


def _filter_spec(filter_type: GraphQLInputObjectType) -> FilterSpec:
    return {
        name: FieldSpec(key=snake(name),
                        is_datetime=get_named_type(field.type).name == "DatetimeFilter")
        for name, field in filter_type.fields.items() if name not in {"and", "or", "not"}
    }


def _bind_field(type_name: str, name: str, field: GraphQLField, specs: dict[str, FilterSpec]
                ) -> None:
    target = get_named_type(field.type)
    if (type_name, name) in R.FIELD_RESOLVERS:
        field.resolve = R.FIELD_RESOLVERS[type_name, name]
    elif _is_connection(target):
        filter_arg = field.args.get("filter")
        spec = specs[get_named_type(filter_arg.type).name] if filter_arg else {}
        source = R.LIST_SOURCES.get((type_name, name)) or _list_in_document(name)
        field.resolve = _connection_resolver(source, spec)
    elif type_name == "Query":
        raise ValueError(f"no resolver for Query.{name}")
    elif target.name == "Datetime":
        field.resolve = _datetime_resolver(name)
    else:
        field.resolve = _key_resolver(name)


def build_executable_schema(sdl: str) -> GraphQLSchema:
    """Parse the SDL and bind scalars and resolvers; ValueError when a root is unbound."""
    schema = build_schema(sdl)
    bind_scalars(schema.type_map)
    specs = {name: _filter_spec(t) for name, t in schema.type_map.items()
             if isinstance(t, GraphQLInputObjectType) and name.endswith("Filter")}
    for type_name, type_ in schema.type_map.items():
        if type_name.startswith("__") or not isinstance(type_, GraphQLObjectType):
            continue
        for name, field in type_.fields.items():
            if _is_connection(type_) and name in _CONNECTION_FIELDS:
                field.resolve = _CONNECTION_FIELDS[name]
            else:
                _bind_field(type_name, name, field, specs)
    return schema
