"""The ERP's API key: any non-empty key, or exactly SIM_ERP_API_KEY when one is set."""

from __future__ import annotations

import hmac
from typing import Any

from connexion.lifecycle import ConnexionRequest

from simulator.core.errors import Forbidden, Unauthorized
from simulator.platform.context import Platform
from simulator.web import SCOPE_KEY


def api_key_info(token: str | None, request: ConnexionRequest) -> dict[str, Any]:
    """401 without a key, 403 for a key other than the configured one."""
    p: Platform = request.scope[SCOPE_KEY]
    if not token:
        raise Unauthorized("the ERP needs Authorization: Bearer <api key>",
                           error_code="unauthorized")
    expected = p.settings.erp_api_key
    if expected and not hmac.compare_digest(token.encode(), expected.encode()):
        raise Forbidden("the ERP API key is wrong", error_code="invalid_api_key")
    return {"sub": "erp"}
