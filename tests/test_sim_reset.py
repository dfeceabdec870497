"""POST /_sim/reset and /_sim/seed: a tenant back to its generated world, or a new one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from simulator.eventstream import outbox
from simulator.platform import entities as E
from tests.conftest import SMALL, get_token


def _problem(r, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["detail"]
    return r.json()


def _rows(platform, table: str, tenant: str = "dodici") -> int:
    with platform.store.read() as tx:
        return tx.conn.execute(f"SELECT COUNT(*) FROM {table} WHERE tenant=?",  # noqa: S608
                               (tenant,)).fetchone()[0]


def test_reset_restores_the_sample_order_and_removes_integrations(client, auth, platform,
                                                                   sample_order_id):
    original = client.get(f"/v0/orders/{sample_order_id}", headers=auth).json()
    with platform.store.tx() as tx:  # the order changed, as a flow would change it
        doc = tx.get("dodici", E.ORDER, sample_order_id)
        E.save(tx, "dodici", E.ORDER, {**doc, "placed_at": "2020-01-01T00:00:00.000Z"})
    r = client.post("/api/v1/org/integrations/eventstream", headers=auth, json={
        "id": "erp", "callback_parameters": {"callback_url": "http://127.0.0.1:9/x"}})
    assert r.status_code in (200, 201), r.text
    assert client.post("/_sim/events", json={"name": "order.opened"}).status_code == 201
    assert _rows(platform, "outbox") == 1 and _rows(platform, "deliveries") == 1
    assert client.get(f"/v0/orders/{sample_order_id}", headers=auth).json() != original

    r = client.post("/_sim/reset", json={})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["tenant"] == "dodici" and body["seed"] == 42
    assert body["counts"]["products"] == SMALL.products
    assert body["counts"]["customers"] == SMALL.customers
    assert body["counts"]["orders"] == SMALL.orders + 1  # the sample order too

    # the old token still works; the order is back as generated
    assert client.get(f"/v0/orders/{sample_order_id}", headers=auth).json() == original
    assert client.get("/api/v1/org/integrations/eventstream/erp",
                      headers=auth).status_code == 404
    for table in ("outbox", "deliveries", "attempts", "timers"):
        assert _rows(platform, table) == 0, table
    with platform.store.read() as tx:
        assert tx.count("dodici", outbox.INTEGRATION) == 0
        assert tx.count("dodici", E.ORDER) == body["counts"]["orders"]


def test_reset_touches_only_its_tenant(client, platform):
    token = get_token(client, "other")
    r = client.post("/api/v1/org/integrations/eventstream",
                    headers={"tenant": "other", "Authorization": f"Bearer {token}"},
                    json={"id": "keep", "callback_parameters": {
                        "callback_url": "http://127.0.0.1:9/x"}})
    assert r.status_code in (200, 201), r.text
    r = client.post("/_sim/reset", json={"tenant": "dodici"})
    assert r.status_code == 200 and r.json()["tenant"] == "dodici"
    with platform.store.read() as tx:
        assert tx.count("other", outbox.INTEGRATION) == 1
    r = client.post("/_sim/reset", params={"tenant": "other"})
    assert r.status_code == 200 and r.json()["tenant"] == "other"
    with platform.store.read() as tx:
        assert tx.count("other", outbox.INTEGRATION) == 0


def _products(client, auth) -> list[str]:
    r = client.post("/api/v1/org/data/query", headers=auth,
                    json={"query": "{ orders(first: 5) { nodes { id externalId } } }"})
    assert r.status_code == 200, r.text
    return [n["externalId"] for n in r.json()["data"]["orders"]["nodes"]]


def test_seed_changes_the_world_deterministically_and_reset_keeps_it(client, auth, platform):
    generated = _products(client, auth)
    r = client.post("/_sim/seed", json={"seed": 7})
    assert r.status_code == 200, r.text
    assert r.json()["seed"] == 7 and r.json()["tenant"] == "dodici"
    seven = _products(client, auth)
    assert seven != generated
    client.post("/_sim/seed", json={"seed": 8})
    assert _products(client, auth) != seven
    r = client.post("/_sim/seed", json={"seed": 7})
    counts = r.json()["counts"]
    assert _products(client, auth) == seven  # same seed, same world
    r = client.post("/_sim/reset")  # a reset keeps the tenant's last seed
    assert r.status_code == 200 and r.json()["seed"] == 7 and r.json()["counts"] == counts
    assert _products(client, auth) == seven
    client.post("/_sim/seed", json={"seed": 42})
    assert _products(client, auth) == generated


@pytest.mark.parametrize("body", [{"seed": -1}, {"seed": "x"}, {}, {"seed": 1, "extra": 2},
                                  {"seed": 1, "tenant": "bad tenant"}, {"seed": 1.5}])
def test_bad_seed_is_400(client, body):
    _problem(client.post("/_sim/seed", json=body), 400)


@pytest.mark.parametrize("body", [{"tenant": "bad tenant"}, {"tenant": 3}, {"other": 1}, [1]])
def test_bad_reset_is_400(client, body):
    _problem(client.post("/_sim/reset", json=body), 400)


def test_reset_of_an_unknown_tenant_without_auto_creation_is_404():
    from simulator.app import create_app
    from tests.conftest import make_settings

    app = create_app(make_settings(auto_create_tenants=False))
    with app.test_client() as c:
        _problem(c.post("/_sim/reset", json={"tenant": "nobody"}), 404)
        _problem(c.post("/_sim/seed", json={"seed": 3, "tenant": "nobody"}), 404)


def _world_of(platform: Any, tenant: str) -> dict[str, Any]:
    """What a tenant's generated world holds, without the tenant's name."""
    with platform.store.read() as tx:
        return {kind: sorted(json.dumps(d, sort_keys=True).replace(tenant, "T")
                             for d in tx.query(tenant, kind, limit=100000))
                for kind in ("product", "location", "stock", "customer", "order")}


def test_a_world_key_gives_tenants_the_same_world_and_resets_keep_it(client, platform):
    for name in ("keyed-a", "keyed-b"):
        r = client.post("/_sim/seed", json={"seed": 3, "key": "scenario", "tenant": name})
        assert r.status_code == 200, r.text
    a, b = _world_of(platform, "keyed-a"), _world_of(platform, "keyed-b")
    assert a == b and a["stock"] and a["order"]
    client.post("/_sim/seed", json={"seed": 3, "tenant": "unkeyed"})
    assert _world_of(platform, "unkeyed")["stock"] != a["stock"]  # the name is the key
    client.post("/_sim/seed", json={"seed": 3, "key": "other", "tenant": "keyed-b"})
    assert _world_of(platform, "keyed-b")["stock"] != a["stock"]
    client.post("/_sim/seed", json={"seed": 3, "key": "scenario", "tenant": "keyed-b"})
    r = client.post("/_sim/reset", json={"tenant": "keyed-b"})  # the key is kept
    assert r.status_code == 200
    assert _world_of(platform, "keyed-b") == a
    assert client.post("/_sim/seed", json={"seed": 3, "key": ""}).status_code == 400
