"""Token endpoints: the Keycloak realm endpoint and the legacy /v0/token."""

from __future__ import annotations

from typing import Any

from connexion import request

from simulator.core.errors import ValidationFailed
from simulator.web import platform, tenant


def _issuer() -> str:
    return f"{request.url.scheme}://{request.headers.get('host', 'localhost')}"


def realm_token(realm: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """POST /auth/realms/{tenant}/protocol/openid-connect/token."""
    p = platform()
    p.require_tenant(realm)
    return p.auth.grant(realm, _form(body), legacy=False, issuer=_issuer())


def legacy_token(body: dict[str, Any] | None = None, password: str | None = None
                 ) -> dict[str, Any]:
    """POST /v0/token (deprecated by NewStore, still answered)."""
    if password is not None:
        raise ValidationFailed("Query parameter password is not allowed",
                               error_code="password_in_query")
    return platform().auth.grant(tenant(), _form(body), legacy=True, issuer=_issuer())


def _form(body: dict[str, Any] | None) -> dict[str, str]:
    return {k: str(v) for k, v in (body or {}).items() if v is not None}
