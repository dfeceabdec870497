"""Tenancy: Host header, then tenant header, then the default; tenants never mix."""

from __future__ import annotations

import pytest

from simulator.web import tenant_from_headers
from tests.conftest import get_token, make_settings


@pytest.mark.parametrize("headers, expected", [
    ({"host": "acme.p.newstore.net"}, "acme"),
    ({"host": "acme-sandbox.x.newstore.net"}, "acme-sandbox"),
    ({"host": "acme.s.newstore.net:443"}, "acme"),
    ({"host": "id.p.newstore.net", "tenant": "zeta"}, "zeta"),
    ({"host": "localhost:8082", "tenant": "zeta"}, "zeta"),
    ({"host": "acme.p.newstore.net", "tenant": "zeta"}, "acme"),
    ({"host": "localhost:8082"}, "fallback"),
    ({}, "fallback"),
])
def test_tenant_resolution_order(headers, expected):
    assert tenant_from_headers(headers, "fallback") == expected


def test_host_header_selects_the_tenant_and_its_token(client):
    token = get_token(client, "acme")
    headers = {"Authorization": f"Bearer {token}", "Host": "acme.p.newstore.net"}
    r = client.get("/v0/orders/012345Ab-CdEf-GhIj-KlMn-OpQrStUvWxYz", headers=headers)
    assert r.status_code == 404, "the sample order lives in dodici only"
    dodici = {"Authorization": f"Bearer {get_token(client)}", "Host": "dodici.p.newstore.net"}
    r = client.get("/v0/orders/012345Ab-CdEf-GhIj-KlMn-OpQrStUvWxYz", headers=dodici)
    assert r.status_code == 200


def test_one_tenant_never_sees_anothers_orders(client, platform):
    from simulator.platform import entities as E
    with platform.store.read() as tx:
        dodici_order = tx.query("dodici", E.ORDER, limit=1)[0]
    acme = {"Authorization": f"Bearer {get_token(client, 'acme')}", "tenant": "acme"}
    assert client.get(f"/v0/orders/{dodici_order['id']}", headers=acme).status_code == 404
    assert client.get(f"/v0/c/payments/accounts/{dodici_order['id']}",
                      headers=acme).status_code == 404
    with platform.store.read() as tx:
        acme_ids = {o["id"] for o in tx.query("acme", E.ORDER)}
        dodici_ids = {o["id"] for o in tx.query("dodici", E.ORDER)}
    assert acme_ids and not acme_ids & dodici_ids


def test_unknown_tenants_can_be_refused():
    from simulator.app import create_app
    app = create_app(make_settings(auto_create_tenants=False))
    with app.test_client() as c:
        r = c.post("/auth/realms/nowhere/protocol/openid-connect/token",
                   data={"grant_type": "client_credentials", "client_id": "x",
                         "client_secret": "y"})
        assert r.status_code == 404
        assert r.json()["error_code"] == "tenant_not_found"


def test_invalid_tenant_header_is_400(client):
    r = client.post("/v0/token", data={"grant_type": "client_credentials",
                                        "client_id": "test-client",
                                        "client_secret": "test-secret"},
                    headers={"tenant": "bad tenant!"})
    assert r.status_code == 400
    assert r.json()["error_code"] == "invalid_tenant"
