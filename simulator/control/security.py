"""The control token: optional protection of every /_sim operation."""

from __future__ import annotations

import hmac
from typing import Any

from connexion.exceptions import OAuthProblem
from connexion.lifecycle import ConnexionRequest
from connexion.security import BearerSecurityHandler

from simulator.core.errors import Forbidden, Unauthorized
from simulator.platform.context import Platform
from simulator.web import SCOPE_KEY


def control_token_info(token: str | None, request: ConnexionRequest) -> dict[str, Any]:
    """Open without a configured token; else 401 when none is sent, 403 when it differs."""
    p: Platform = request.scope[SCOPE_KEY]
    expected = p.settings.control_token
    if not expected:
        return {"sub": "control"}
    if token is None:
        raise Unauthorized("this control plane needs Authorization: Bearer <control token>",
                           error_code="unauthorized")
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise Forbidden("the control token is wrong", error_code="invalid_control_token")
    return {"sub": "control"}


class ControlBearerHandler(BearerSecurityHandler):
    """Connexion's bearer handler, but the info function also sees requests without a token
    (so an unprotected control plane needs no header at all)."""

    def _get_verify_func(self, token_info_func: Any) -> Any:
        check = self.check_bearer_token(token_info_func)

        def wrapper(request: ConnexionRequest) -> Any:
            try:
                auth_type, token = self.get_auth_header_value(request)
            except OAuthProblem:
                auth_type, token = "malformed", ""
            if auth_type is None:
                token = None
            elif auth_type != "bearer":
                token = ""
            return check(request, token)

        return wrapper


SECURITY_MAP = {"bearer": ControlBearerHandler}
