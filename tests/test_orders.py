"""Order reads: the sales-order model, customer orders, external ids and payment accounts."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.platform import entities as E
from tests.conftest import get_token

V2 = "application/x.newstore.orders+json;version=2"


def doc(platform, kind: str, id: str) -> dict[str, Any]:
    with platform.store.read() as tx:
        found = tx.get("dodici", kind, id)
    assert found is not None
    return found


def world_order(platform, predicate) -> dict[str, Any]:
    with platform.store.read() as tx:
        found = [o for o in tx.query("dodici", E.ORDER) if predicate(o)]
    if not found:
        pytest.skip("the seeded test world holds no such order")
    return found[0]


def assert_not_found(r) -> None:
    assert r.status_code == 404, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["error_code"] == "not_found"


# -- GET /v0/orders/{id} ------------------------------------------------------------

def test_sample_order_in_the_sales_order_model(client, auth, platform, sample_order_id):
    r = client.get(f"/v0/orders/{sample_order_id}", headers=auth)
    assert r.status_code == 200
    so = r.json()
    order = doc(platform, E.ORDER, sample_order_id)
    assert so["id"] == "GD-DODICI-0001" and so["origin"] == "newstore"
    assert so["origin_id"] == sample_order_id
    assert so["channel_type"] == "store" and so["fulfillment_type"] == "in_store_purchase"
    assert so["status"] == "closed" and so["currency"] == "USD"
    assert so["placed_at"] == order["placed_at"].removesuffix("Z")
    assert not so["placed_at"].endswith("Z")
    assert sorted(i["status"] for i in so["items"]) == ["complete", "returned"]
    assert so["totals"]["total"] == order["grand_total"]
    assert so["totals"]["tax"] == order["tax_total"]
    assert so["totals"]["discount"] == order["discount_total"] == 19.8
    assert so["payment_history"] == []
    first = so["items"][0]
    assert first["price"]["net"] == round(first["price"]["gross"] - first["price"]["discount"], 2)
    assert first["external_identifier"]["sku"] == f"SKU-{first['product_id']}"


def test_version_2_media_type_gives_utc_with_z(client, auth, platform, sample_order_id):
    r = client.get(f"/v0/orders/{sample_order_id}", headers={**auth, "Accept": V2})
    assert r.status_code == 200
    assert r.json()["placed_at"] == doc(platform, E.ORDER, sample_order_id)["placed_at"]
    assert r.json()["placed_at"].endswith("Z")


def test_external_id_type_includes_payment_history(client, auth):
    r = client.get("/v0/orders/GD-DODICI-0001?id_type=external", headers=auth)
    assert r.status_code == 200
    history = r.json()["payment_history"]
    assert [h["category"] for h in history] == ["payment", "refund"]
    assert history[0]["amount"] == r.json()["totals"]["total"]
    assert history[1]["amount"] < history[0]["amount"]


def test_cancelled_world_order(client, auth, platform):
    order = world_order(platform, lambda o: o["status"] == "cancelled")
    so = client.get(f"/v0/orders/{order['id']}", headers=auth).json()
    assert so["status"] == "closed"
    assert {i["status"] for i in so["items"]} == {"cancelled"}
    acc = client.get(f"/v0/c/payments/accounts/{order['id']}", headers=auth).json()
    assert acc["balance"] == 0.0
    assert acc["instruments"][0]["authorize_amount"] == 0.0
    assert "void" in [t["reason"] for t in acc["instruments"][0]["original_transactions"]]


def test_web_world_order(client, auth, platform):
    order = world_order(platform, lambda o: o["channel_type"] == "web"
                        and o["status"] == "closed")
    so = client.get(f"/v0/orders/{order['id']}", headers=auth).json()
    assert so["channel_type"] == "web" and so["fulfillment_type"] == "traditional"
    assert so["totals"]["shipping"] == 9.95
    co = client.get(f"/v0/c/customer_orders/{order['id']}", headers=auth).json()
    details = co["customer_order"]["shipment_details"]
    assert len(details) == 1
    assert details[0]["shipping_option"]["shipping_type"] == "traditional_carrier"
    assert details[0]["shipping_option"]["price"] == 9.95
    assert all(i["tracking_code"] for i in details[0]["items"])
    assert co["customer_order"]["placement_location"] == {"id": None}


def test_bad_id_type_is_400(client, auth, sample_order_id):
    r = client.get(f"/v0/orders/{sample_order_id}?id_type=uuid", headers=auth)
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/problem+json")


def test_unknown_query_parameter_is_400(client, auth, sample_order_id):
    r = client.get(f"/v0/orders/{sample_order_id}?foo=1", headers=auth)
    assert r.status_code == 400


@pytest.mark.parametrize("url", [
    "/v0/orders/00000000-0000-4000-8000-000000000000",
    "/v0/orders/GD-NOPE?id_type=external",
    "/v0/orders/GD-DODICI-0001",  # an external id is not an internal id
    "/v0/c/customer_orders/nope",
    "/v0/d/external_orders/nope",
    "/v0/c/payments/accounts/nope",
])
def test_unknown_ids_are_404(client, auth, url):
    assert_not_found(client.get(url, headers=auth))


def test_reads_need_a_token(client, sample_order_id):
    r = client.get(f"/v0/orders/{sample_order_id}")
    assert r.status_code == 401


def test_world_order_is_invisible_to_another_tenant(client, sample_order_id):
    acme = {"Authorization": f"Bearer {get_token(client, 'acme')}", "tenant": "acme"}
    assert_not_found(client.get(f"/v0/orders/{sample_order_id}", headers=acme))
    assert_not_found(client.get("/v0/d/external_orders/GD-DODICI-0001", headers=acme))


# -- GET /v0/c/customer_orders/{id} ---------------------------------------------------

def test_sample_customer_order(client, auth, platform, sample_order_id):
    r = client.get(f"/v0/c/customer_orders/{sample_order_id}", headers=auth)
    assert r.status_code == 200
    body = r.json()
    co = body["customer_order"]
    order = doc(platform, E.ORDER, sample_order_id)
    account = doc(platform, E.PAYMENT_ACCOUNT, sample_order_id)
    assert co["sales_order_external_id"] == "GD-DODICI-0001"
    assert co["channel_type"] == "store"
    assert co["placement_location"] == {"id": order["demand_location_id"]} != {"id": None}
    assert co["consumer"]["email"] == order["customer_email"]
    assert co["currency_code"] == "USD"
    assert co["totals"]["grand_total"] == order["grand_total"]
    assert [e["name"] for e in co["order_timeline"]] == ["order_placed", "return_processed"]
    assert co["shipment_details"][0]["shipping_option"] == {
        "service_level_identifier": "IN_STORE_HANDOVER", "shipping_type": "in_store_handover",
        "price": 0.0, "tax": 0.0}
    assert len(co["items"]) == 2
    assert co["payments"][0]["refund_amount"] > 0
    assert [h["type"] for h in body["payment_history"]] == [
        t["transaction_type"] for t in account["transactions"]]
    assert body["pagination_info"] == {"total": 3, "count": 3, "offset": 0}


# -- GET /v0/d/external_orders/{external_id} ------------------------------------------

def test_external_order_lookup(client, auth, sample_order_id):
    r = client.get("/v0/d/external_orders/GD-DODICI-0001", headers=auth)
    assert r.status_code == 200
    assert r.json()["order_uuid"] == sample_order_id
    assert r.json()["external_id"] == "GD-DODICI-0001"


# -- GET /v0/c/payments/accounts/{id} --------------------------------------------------

def test_sample_payment_account(client, auth, platform, sample_order_id):
    r = client.get(f"/v0/c/payments/accounts/{sample_order_id}", headers=auth)
    assert r.status_code == 200
    acc = r.json()
    order = doc(platform, E.ORDER, sample_order_id)
    account = doc(platform, E.PAYMENT_ACCOUNT, sample_order_id)
    refunded = sum(t["amount"] for t in account["transactions"]
                   if t["transaction_type"] == "refund")
    assert acc["id"] == sample_order_id and acc["currency"] == "USD"
    assert acc["balance"] == round(order["grand_total"] - refunded, 2)
    assert [t["transaction_id"] for t in acc["transactions"]] == [
        t["id"] for t in account["transactions"]]
    auth_tx, capture_tx, refund_tx = acc["transactions"]
    assert (auth_tx["credit"], auth_tx["debit"]) == (order["grand_total"], 0.0)
    assert (capture_tx["credit"], capture_tx["debit"]) == (0.0, 0.0)
    assert (refund_tx["credit"], refund_tx["debit"]) == (0.0, refunded)
    instrument = acc["instruments"][0]
    assert instrument["authorize_amount"] == order["grand_total"]
    assert instrument["capture_amount"] == order["grand_total"]
    assert instrument["refund_amount"] == refunded
    assert [t["reason"] for t in instrument["original_transactions"]] == [
        "authorization", "capture", "refund"]
    refund = instrument["original_transactions"][2]
    with platform.store.read() as tx:
        returns = tx.query("dodici", E.RETURN, parent_id=sample_order_id)
    assert refund["correlation_id"] == returns[0]["id"]
    assert refund["refund_amount"] == refunded and refund["capture_amount"] == 0.0


def test_cached_parameter_validators_keep_rejecting(client, auth, sample_order_id):
    """Parameter validators are built once per spec parameter: valid and invalid values
    alternate and each gets its own answer."""
    for _ in range(2):
        assert client.get(f"/v0/orders/{sample_order_id}?id_type=internal",
                          headers=auth).status_code == 200
        bad = client.get(f"/v0/orders/{sample_order_id}?id_type=uuid", headers=auth)
        assert bad.status_code == 400 and "uuid" in bad.json()["detail"]
