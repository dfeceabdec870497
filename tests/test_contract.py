"""Property-based contract tests over every operation of openapi/newstore.yaml.

schemathesis generates valid and invalid requests from the spec; whatever it sends, the
simulator must answer without a 5xx, and every 4xx must be application/problem+json.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode

from simulator.app import create_app
from tests.conftest import CLIENT, make_settings

APP = create_app(make_settings(validate_responses=False))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])


def _token() -> str:
    with APP.test_client() as c:
        return c.post("/auth/realms/dodici/protocol/openid-connect/token",
                      data={"grant_type": "client_credentials", "client_id": CLIENT[0],
                            "client_secret": CLIENT[1]}).json()["access_token"]


TOKEN = _token()


@schema.parametrize()
@settings(max_examples=25, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_no_input_yields_a_server_error(case):
    headers = dict(case.headers or {})
    headers.setdefault("Authorization", f"Bearer {TOKEN}")
    response = case.call(headers=headers)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}")
    if 400 <= response.status_code < 500:
        assert response.headers["content-type"][0].startswith("application/problem+json"), \
            f"{case.method} {case.formatted_path}: {response.headers}"
        assert response.json()["detail"]
