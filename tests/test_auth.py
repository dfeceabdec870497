"""Token endpoints and bearer checks, as NewStore's Keycloak realms behave."""

from __future__ import annotations

from tests.conftest import CLIENT, get_token

REALM = "/auth/realms/dodici/protocol/openid-connect/token"


def test_client_credentials_token_has_keycloak_fields(client):
    r = client.post(REALM, data={"grant_type": "client_credentials", "client_id": CLIENT[0],
                                 "client_secret": CLIENT[1]})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    assert body["access_token"].count(".") == 2
    assert {"refresh_expires_in", "not-before-policy", "scope"} <= set(body)


def test_wrong_secret_is_401_with_oauth_error(client):
    r = client.post(REALM, data={"grant_type": "client_credentials", "client_id": CLIENT[0],
                                 "client_secret": "nope"})
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["error"] == "unauthorized_client"


def test_missing_grant_type_is_400(client):
    r = client.post(REALM, data={"client_id": CLIENT[0], "client_secret": CLIENT[1]})
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"
    assert "grant_type" in r.json()["detail"]


def test_unsupported_grant_type_is_400(client):
    r = client.post(REALM, data={"grant_type": "password", "username": CLIENT[0],
                                 "password": CLIENT[1]})
    assert r.status_code == 400
    assert r.json()["error"] == "unsupported_grant_type"


def test_legacy_token_password_grant_form_and_json(client):
    form = client.post("/v0/token", data={"grant_type": "password", "username": CLIENT[0],
                                          "password": CLIENT[1]})
    assert form.status_code == 200 and "refresh_token" in form.json()
    js = client.post("/v0/token", json={"grant_type": "client_credentials",
                                        "client_id": CLIENT[0], "client_secret": CLIENT[1]})
    assert js.status_code == 200 and js.json()["token_type"] == "Bearer"


def test_legacy_token_rejects_password_in_query(client):
    r = client.post("/v0/token?password=x", data={"grant_type": "password",
                                                   "username": CLIENT[0], "password": "x"})
    assert r.status_code == 400
    assert "password is not allowed" in r.json()["detail"]


def test_token_for_another_tenant_is_403(client):
    token = get_token(client, "acme")
    r = client.get("/v0/orders/whatever", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403
    assert r.json()["error_code"] == "invalid_token"


def test_missing_token_401_invalid_403_expired_403(client, platform, sample_order_id):
    url = f"/v0/c/payments/accounts/{sample_order_id}"
    missing = client.get(url)
    assert missing.status_code == 401 and missing.json()["status"] == 401
    bad = client.get(url, headers={"Authorization": "Bearer not.a.token"})
    assert bad.status_code == 403 and bad.json()["detail"]
    token = get_token(client)
    platform.clock.advance(platform.settings.token_ttl + 1)
    expired = client.get(url, headers={"Authorization": f"Bearer {token}"})
    assert expired.status_code == 403
    assert expired.json()["error_code"] == "token_expired"


def test_health_needs_no_auth(client):
    assert client.get("/health").json()["status"] == "ok"


def test_cached_token_is_still_checked_for_expiry_tenant_and_signature(client, platform,
                                                                       sample_order_id):
    """A token whose signature was checked once is remembered, but never served stale: it
    expires on time, stays foreign to other tenants, and a tampered copy is still 403."""
    url = f"/v0/orders/{sample_order_id}"
    token = get_token(client)
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get(url, headers=auth).status_code == 200
    assert token in platform.auth._verified  # remembered after the first check
    foreign = client.get(url, headers={**auth, "tenant": "acme"})
    assert foreign.status_code == 403 and foreign.json()["error_code"] == "invalid_token"
    header, body, signature = token.split(".")
    tampered = client.get(url, headers={"Authorization": f"Bearer {header}.{body}x.{signature}"})
    assert tampered.status_code == 403 and tampered.json()["error_code"] == "invalid_token"
    platform.clock.advance(platform.settings.token_ttl + 1)
    for _ in range(2):
        expired = client.get(url, headers=auth)
        assert expired.status_code == 403
        assert expired.json()["error_code"] == "token_expired"
    assert client.get(url).status_code == 401
