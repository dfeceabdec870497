"""What handlers share: the platform of this app, the request's tenant, and auth checks."""

from __future__ import annotations

import re
from typing import Any

from connexion import request
from connexion.datastructures import MediaTypeDict
from connexion.exceptions import BadRequestProblem
from connexion.lifecycle import ConnexionRequest
from connexion.validators import (
    VALIDATOR_MAP,
    FormDataValidator,
    JSONRequestBodyValidator,
    MultiPartFormDataValidator,
)
from starlette.types import ASGIApp, Receive, Scope, Send

from simulator.core.errors import NotFound
from simulator.platform.auth import Principal
from simulator.platform.context import Platform

SCOPE_KEY = "newstore_sim.platform"
TENANT_KEY = "newstore_sim.tenant"

# {tenant}.p.newstore.net, {tenant}.x.newstore.net and any {tenant}.<stage>.newstore.net
_HOST = re.compile(r"^(?P<tenant>[A-Za-z0-9_-]+)\.[A-Za-z0-9-]+\.newstore\.net(?::\d+)?$")


def tenant_from_headers(headers: Any, default: str) -> str:
    """Host header first, then the tenant header, then the default tenant."""
    match = _HOST.match(headers.get("host", ""))
    if match and match["tenant"] != "id":
        return match["tenant"]
    return headers.get("tenant") or default


class PlatformMiddleware:
    """Puts the platform and the request's tenant into the ASGI scope."""

    def __init__(self, app: ASGIApp, platform: Platform) -> None:
        self.app = app
        self.platform = platform

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if any(ord(ch) < 0x20 or ch == "\x7f" for ch in scope["path"]):
                # Connexion's router and Flask's disagree on such paths; no operation has one
                raise NotFound(f"no operation at {scope['path']!r}")
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            scope[SCOPE_KEY] = self.platform
            scope[TENANT_KEY] = tenant_from_headers(headers, self.platform.settings.tenant)
        await self.app(scope, receive, send)


class JSONBodyValidator(JSONRequestBodyValidator):
    """Connexion's JSON body validator, answering 400 for a body that is not UTF-8."""

    async def _parse(self, stream: Any, scope: Scope) -> Any:
        chunks = [message async for message in stream]

        async def replay() -> Any:
            for chunk in chunks:
                yield chunk

        try:
            b"".join(chunks).decode(self._encoding)
        except UnicodeDecodeError as exc:
            raise BadRequestProblem(
                detail=f"request body is not valid {self._encoding}: {exc.reason}") from exc
        return await super()._parse(replay(), scope)


# Connexion replaces the whole "body" entry, so every media type is listed again
VALIDATORS: dict[str, Any] = {
    **VALIDATOR_MAP,
    "body": MediaTypeDict({
        "*/*json": JSONBodyValidator,
        "application/x-www-form-urlencoded": FormDataValidator,
        "multipart/form-data": MultiPartFormDataValidator,
    }),
}


def platform() -> Platform:
    """The platform serving the current request."""
    return request.scope[SCOPE_KEY]


def tenant() -> str:
    """The current request's tenant, created on first use."""
    return platform().require_tenant(request.scope[TENANT_KEY])


def bearer_info(token: str, request: ConnexionRequest) -> dict[str, Any]:
    """Connexion's bearer check: 403 for a token that is invalid, expired or foreign."""
    p: Platform = request.scope[SCOPE_KEY]
    principal: Principal = p.auth.verify(token, request.scope[TENANT_KEY])
    return {"sub": principal.client_id, "tenant": principal.tenant}
