"""What the control handlers share: the tenant a /_sim call acts on."""

from __future__ import annotations

from connexion import request

from simulator.web import TENANT_KEY, platform


def tenant(explicit: str | None = None) -> str:
    """The given tenant, else the `tenant` query parameter, else the request's tenant."""
    name = explicit or request.query_params.get("tenant") or request.scope[TENANT_KEY]
    return platform().require_tenant(name)
