"""POST /api/v1/org/data/query: NewStore's GraphQL endpoint."""

from __future__ import annotations

from typing import Any

from flask import Response

from simulator.core import codec
from simulator.graphql import service_for, wants_timezone
from simulator.web import header, platform, tenant


def query(body: dict[str, Any]) -> Response:
    """Run a GraphQL request over the tenant's documents; query errors answer 200."""
    p = platform()
    service = service_for(p.settings.openapi_dir / "newstore.graphql")
    result = service.execute(
        p.store, tenant(), body["query"], body.get("variables"), body.get("operationName"),
        force_timezone=wants_timezone(header("force-render-timezone")),
        cache_responses=p.settings.graphql_response_cache)
    # serialized here so that fields keep the order of the query (GraphQL spec, 7.2.2)
    return Response(codec.dumps(result), status=200, mimetype="application/json")
