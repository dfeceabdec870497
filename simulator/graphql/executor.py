"""Running a GraphQL request: cached parse + validate, then execution over one store read.

Responses are kept too, keyed by everything they depend on besides the store (query,
variables, operation, tenant, timezone header) together with the reads that built them; a
kept response is served only when re-running those reads gives the very same rows.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections import OrderedDict
from functools import lru_cache
from inspect import isawaitable
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    execute,
    parse,
    validate,
)

from simulator.core.store import Store
from simulator.graphql.loader import GraphQLContext, Loader, Read, still_current
from simulator.graphql.schema import build_executable_schema

Doc = dict[str, Any]

# responses built from more documents than this are not kept (memory; re-reading them to
# prove a cached response current would cost about as much as building it again)
MAX_CACHED_ROWS = 64

# guards against queries that would make the simulator the bottleneck: how deep fields may
# nest (the standard introspection query needs 13), and how many nodes one response may hold
MAX_DEPTH = 20
MAX_NODES = 20_000

# header values that do not turn Force-Render-Timezone on
_OFF = {"", "0", "false", "no", "off"}


def wants_timezone(header: str | None) -> bool:
    """Whether a Force-Render-Timezone header value asks for a trailing Z."""
    return header is not None and header.strip().lower() not in _OFF


class _LRU(OrderedDict):  # type: ignore[type-arg]
    """A small thread-safe least-recently-used map."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self.lock = threading.Lock()

    def fetch(self, key: Any) -> Any:
        """The value kept under key (now the most recent), or None."""
        with self.lock:
            value = self.get(key)
            if value is not None:
                self.move_to_end(key)
            return value

    def keep(self, key: Any, value: Any) -> None:
        """Keep a value, dropping the least recently used one when full."""
        with self.lock:
            self[key] = value
            self.move_to_end(key)
            if len(self) > self.size:
                self.popitem(last=False)


class GraphQLService:
    """One executable schema, an LRU of parsed and validated documents by query text, and an
    LRU of responses, each reused only while the reads behind it still give the same rows."""

    def __init__(self, sdl: str, cache_size: int = 256) -> None:
        self.schema: GraphQLSchema = build_executable_schema(sdl)
        self.cache_size = cache_size
        self._documents = _LRU(cache_size)
        self._responses = _LRU(cache_size)

    def document(self, query: str) -> tuple[DocumentNode | None, list[GraphQLError]]:
        """The parsed document and its validation errors, cached by query text."""
        hit = self._documents.fetch(query)
        if hit is not None:
            return hit
        try:
            document: DocumentNode | None = parse(query)
            errors = validate(self.schema, document)
            if not errors and document is not None and depth(document) > MAX_DEPTH:
                errors = [GraphQLError(f"the query nests fields more than {MAX_DEPTH} deep")]
        except GraphQLError as exc:
            document, errors = None, [exc]
        except RecursionError:  # absurdly deep nesting
            document, errors = None, [GraphQLError("the query is nested too deeply")]
        self._documents.keep(query, (document, errors))
        return document, errors

    def execute(
        self,
        store: Store,
        tenant: str,
        query: str,
        variables: Doc | None = None,
        operation_name: str | None = None,
        *,
        force_timezone: bool = False,
        cache_responses: bool = True,
    ) -> Doc:
        """The response body: {data, errors?}, or {errors} when the query is invalid.

        The body may be a cached object shared with other requests: do not modify it.
        """
        document, errors = self.document(query)
        if document is None or errors:
            return {"errors": [error.formatted for error in errors]}
        key = (_response_key(query, variables, operation_name, tenant, force_timezone)
               if cache_responses else None)
        with store.read() as tx:
            cached: tuple[weakref.ref[Store], list[Read], Doc] | None = \
                self._responses.fetch(key) if key else None
            if cached and cached[0]() is store and still_current(tx, cached[1]):
                return cached[2]
            loader = Loader(tx, tenant)
            context = GraphQLContext(tenant=tenant, loader=loader, force_timezone=force_timezone,
                                     nodes_left=MAX_NODES)
            result = execute(self.schema, document, context_value=context,
                             variable_values=variables, operation_name=operation_name)
        if isawaitable(result):  # every resolver is synchronous
            raise TypeError("a resolver returned an awaitable")
        body: Doc = {"data": result.data}
        if result.errors:
            body["errors"] = [error.formatted for error in result.errors]
        if key and loader.rows_read <= MAX_CACHED_ROWS:
            self._responses.keep(key, (weakref.ref(store), loader.reads, body))
        return body


def depth(document: DocumentNode) -> int:
    """How deep fields nest in the document's operations (through fragments)."""
    fragments = {d.name.value: d for d in document.definitions
                 if isinstance(d, FragmentDefinitionNode)}

    def nested(selection_set: SelectionSetNode | None, seen: frozenset[str]) -> int:
        deepest = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                deepest = max(deepest, 1 + nested(selection.selection_set, seen))
            elif isinstance(selection, InlineFragmentNode):
                deepest = max(deepest, nested(selection.selection_set, seen))
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in fragments and name not in seen:
                    deepest = max(deepest, nested(fragments[name].selection_set,
                                                  seen | {name}))
        return deepest

    return max((nested(d.selection_set, frozenset()) for d in document.definitions
                if isinstance(d, OperationDefinitionNode)), default=0)


def _response_key(query: str, variables: Doc | None, operation_name: str | None, tenant: str,
                  force_timezone: bool) -> tuple[Any, ...] | None:
    """What a response depends on besides the rows it read; None when not cacheable."""
    try:
        encoded = json.dumps(variables, sort_keys=True) if variables else ""
    except (TypeError, ValueError):
        return None
    return (query, encoded, operation_name, tenant, force_timezone)


@lru_cache(maxsize=8)
def _service_for_sdl(sdl: str) -> GraphQLService:
    return GraphQLService(sdl)


@lru_cache(maxsize=8)
def service_for(path: Path) -> GraphQLService:
    """The service built from an SDL file, once per file (and per distinct SDL text)."""
    return _service_for_sdl(Path(path).read_text())
