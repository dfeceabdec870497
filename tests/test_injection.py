"""Order injection (POST /v0/d/fulfill_order): contract, rules, idempotency, isolation."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import pytest

from simulator.platform import entities as E
from simulator.platform import injection
from tests.conftest import get_token

URL = "/v0/d/fulfill_order"
P1, P2, P3 = "1000061", "1000068", "1000075"


def item(external_item_id: str = "EXT-1", product_id: str = P1, price: float = 50.0,
         tax: float = 4.0, **extra: Any) -> dict[str, Any]:
    return {"external_item_id": external_item_id, "product_id": product_id,
            "price": {"item_price": price, "item_list_price": price + 10,
                      "item_tax_lines": [{"amount": tax, "rate": 0.08, "name": "STATE TAX",
                                          "country_code": "US"}]}, **extra}


def shipment(*items: dict[str, Any], level: str = "GROUND", price: float = 5.0,
             tax: float = 0.4, routing: dict[str, Any] | None = None) -> dict[str, Any]:
    option: dict[str, Any] = {"service_level_identifier": level, "price": price, "tax": tax}
    if routing:
        option["routing_strategy"] = routing
    return {"items": list(items) or [item()], "shipping_option": option}


def body(external_id: str = "WEB-1001", **changes: Any) -> dict[str, Any]:
    b: dict[str, Any] = {
        "external_id": external_id, "channel_type": "web", "channel_name": "webshop",
        "currency": "USD", "shop": "storefront", "shop_locale": "en-US",
        "placed_at": "2026-02-03T10:00:00Z", "customer_email": "jane@example.com",
        "customer_name": "Jane Doe",
        "shipping_address": {"first_name": "Jane", "last_name": "Doe",
                             "address_line_1": "1 Main St", "city": "Boston", "state": "MA",
                             "zip_code": "02110", "country": "US"},
        "shipments": [shipment(item("EXT-1", P1, 50.0, 4.0), item("EXT-2", P2, 30.0, 2.4))],
        "payments": [{"type": "captured", "amount": 91.8, "method": "credit_card",
                      "processor": "stripe", "processed_at": "2026-02-03T10:00:01Z",
                      "correlation_ref": "ch_1"}],
    }
    b.update(changes)
    return b


def stored(platform, kind: str, id: str, tenant: str = "dodici") -> dict[str, Any]:
    with platform.store.read() as tx:
        doc = tx.get(tenant, kind, id)
    assert doc is not None
    return doc


def assert_problem(r, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    if code:
        assert r.json()["error_code"] == code, r.json()
    return r.json()


# -- happy paths -------------------------------------------------------------------

def test_injection_answers_ids_and_creates_order_and_account(client, auth, platform):
    r = client.post(URL, json=body(), headers=auth)
    assert r.status_code == 200, r.text
    answer = r.json()
    uuid.UUID(answer["id"])
    assert answer["external_id"] == "WEB-1001"
    assert [(i["external_item_id"], i["product_id"]) for i in answer["items"]] == [
        ("EXT-1", P1), ("EXT-2", P2)]
    assert len({i["id"] for i in answer["items"]}) == 2
    order = stored(platform, E.ORDER, answer["id"])
    assert order["external_id"] == "WEB-1001"
    assert order["status"] == "open" and order["channel_type"] == "web"
    assert order["placed_at"] == "2026-02-03T10:00:00.000Z"
    assert order["is_historical"] is False and order["demand_location_id"] is None
    assert [i["status"] for i in order["items"]] == ["pending", "pending"]
    assert order["items"][0]["pricebook_price"] == 50.0 and order["items"][0]["list_price"] == 60.0
    assert order["subtotal"] == 80.0 and order["shipping_total"] == 5.0
    assert order["tax_total"] == 6.8 and order["grand_total"] == 91.8
    assert order["addresses"][0]["address_type"] == "shipping"
    assert order["addresses"][0]["city"] == "Boston"
    account = stored(platform, E.PAYMENT_ACCOUNT, answer["id"])
    assert [t["transaction_type"] for t in account["transactions"]] == ["authorize", "capture"]
    assert account["instruments"][0]["payment_provider"] == "stripe"
    assert account["transactions"][0]["correlation_id"] == "ch_1"


def test_injected_order_is_readable_through_rest(client, auth):
    answer = client.post(URL, json=body(), headers=auth).json()
    so = client.get(f"/v0/orders/{answer['id']}", headers=auth)
    assert so.status_code == 200
    assert so.json()["id"] == "WEB-1001" and so.json()["totals"]["total"] == 91.8
    ext = client.get("/v0/d/external_orders/WEB-1001", headers=auth).json()
    assert ext["order_uuid"] == answer["id"]
    acc = client.get(f"/v0/c/payments/accounts/{answer['id']}", headers=auth).json()
    assert acc["balance"] == 91.8
    assert acc["instruments"][0]["capture_amount"] == 91.8
    co = client.get(f"/v0/c/customer_orders/{answer['id']}", headers=auth).json()
    assert co["customer_order"]["consumer"]["email"] == "jane@example.com"
    assert co["customer_order"]["shipment_details"][0]["shipping_option"][
        "service_level_identifier"] == "GROUND"


def test_store_order_in_store_handover(client, auth, platform):
    b = body("STORE-1", channel_type="store", channel_name="Boston Store", store_id="US01",
             associate_id="assoc-1", is_historical=True,
             shipments=[shipment(item(), level="IN_STORE_HANDOVER", price=0, tax=0)])
    b["payments"][0].update(amount=54.0, method="cash", processor="cash")
    r = client.post(URL, json=b, headers=auth)
    assert r.status_code == 200, r.text
    order = stored(platform, E.ORDER, r.json()["id"])
    assert order["demand_location_id"] == "US01" and order["channel"] == "US01"
    assert order["fulfillment_type"] == "in_store_purchase" and order["is_historical"] is True
    assert order["items"][0]["fulfillment_location_id"] == "US01"
    assert order["grand_total"] == 54.0


def test_shipping_offer_token_variant_b(client, auth, platform):
    b = body(shipments=[{"items": [item()], "shipping_option": {
        "shipping_offer_token": "tok-123", "price": 0, "tax": 0}}])
    r = client.post(URL, json=b, headers=auth)
    assert r.status_code == 200, r.text
    order = stored(platform, E.ORDER, r.json()["id"])
    assert order["items"][0]["shipping_offer_token"] == "tok-123"


def test_tax_included_prices_are_not_taxed_twice(client, auth, platform):
    b = body(price_method="tax_included",
             shipments=[shipment(item("A", P1, 54.0, 4.0), price=0, tax=0)])
    order = stored(platform, E.ORDER, client.post(URL, json=b, headers=auth).json()["id"])
    assert order["grand_total"] == 54.0 and order["tax_total"] == 4.0


def test_discounts_are_recorded_per_item_and_order(client, auth, platform):
    it = item("A", P1, 100.0, 6.4)
    it["price"]["item_discount_info"] = [{"discount_ref": "d1", "original_value": 10,
                                          "price_adjustment": 10, "type": "percentage"}]
    it["price"]["item_order_discount_info"] = [{"discount_ref": "o1", "original_value": 10,
                                                "price_adjustment": 10, "type": "fixed",
                                                "coupon_code": "SAVE10"}]
    b = body(shipments=[shipment(it, price=0, tax=0)])
    order = stored(platform, E.ORDER, client.post(URL, json=b, headers=auth).json()["id"])
    assert order["items"][0]["item_discounts"] == 10 and order["items"][0]["order_discounts"] == 10
    assert order["discount_total"] == 20 and order["grand_total"] == 86.4
    assert {(d["level"], d["coupon_code"]) for d in order["discounts"]} == {
        ("item", None), ("order", "SAVE10")}


def test_repeated_external_item_ids_are_quantity_lines(client, auth):
    b = body(shipments=[shipment(item("LINE-1"), item("LINE-1"))])
    r = client.post(URL, json=b, headers=auth)
    assert r.status_code == 200, r.text
    ids = [i["id"] for i in r.json()["items"]]
    assert len(ids) == 2 and len(set(ids)) == 2


def test_addon_gets_its_parent_item_id(client, auth, platform):
    b = body(shipments=[shipment(item("PARENT"),
                                 item("ADDON", P2, addon_parent_external_item_id="PARENT"))])
    r = client.post(URL, json=b, headers=auth)
    assert r.status_code == 200, r.text
    order = stored(platform, E.ORDER, r.json()["id"])
    assert order["items"][1]["addon_parent_item_id"] == order["items"][0]["id"]


def test_prerouted_order_keeps_its_node(client, auth, platform):
    b = body(shipments=[shipment(routing={"strategy": "prerouted",
                                          "fulfillment_node_id": "DC01"})])
    order = stored(platform, E.ORDER, client.post(URL, json=b, headers=auth).json()["id"])
    assert order["items"][0]["fulfillment_location_id"] == "DC01"
    assert order["items"][0]["routing_strategy"] == "prerouted"
    assert order["status"] == "open"


def test_external_routing_to_known_node_stays_open(client, auth, platform):
    b = body(shipments=[shipment(routing={"strategy": "external",
                                          "fulfillment_node_id": "US02"})])
    order = stored(platform, E.ORDER, client.post(URL, json=b, headers=auth).json()["id"])
    assert order["status"] == "open"


def test_external_routing_to_unknown_node_cancels_the_order(client, auth, platform):
    b = body(shipments=[shipment(routing={"strategy": "external",
                                          "fulfillment_node_id": "NOWHERE"})])
    b["payments"][0]["type"] = "authorized"
    r = client.post(URL, json=b, headers=auth)
    assert r.status_code == 200, r.text
    order = stored(platform, E.ORDER, r.json()["id"])
    assert order["status"] == "cancelled"
    assert {i["status"] for i in order["items"]} == {"cancelled"}
    acc = client.get(f"/v0/c/payments/accounts/{r.json()['id']}", headers=auth).json()
    assert acc["instruments"][0]["authorize_amount"] == 0.0 and acc["balance"] == 0.0


def test_fulfilled_order_is_closed(client, auth, platform):
    b = body(is_fulfilled=True)
    order = stored(platform, E.ORDER, client.post(URL, json=b, headers=auth).json()["id"])
    assert order["status"] == "closed"
    assert {i["status"] for i in order["items"]} == {"completed"}


# -- idempotency ---------------------------------------------------------------------

def test_same_payload_twice_gives_the_same_answer(client, auth, platform):
    first = client.post(URL, json=body(), headers=auth)
    b = body()
    b["shipments"][0]["items"][0]["price"]["item_price"] = 50  # 50 == 50.0
    second = client.post(URL, json=dict(reversed(list(b.items()))), headers=auth)
    assert second.status_code == 200
    assert second.json() == first.json()
    with platform.store.read() as tx:
        assert len(tx.query("dodici", E.ORDER, external_id="WEB-1001")) == 1


def test_same_external_id_with_different_data_fails(client, auth):
    assert client.post(URL, json=body(), headers=auth).status_code == 200
    changed = body()
    changed["shipments"][0]["items"][0]["price"]["item_price"] = 51.0
    r = client.post(URL, json=changed, headers=auth)
    problem = assert_problem(r, 400, "same_order_injection_with_different_data")
    assert problem["field"] == "external_id"


def test_external_id_of_an_existing_world_order_is_refused(client, auth):
    assert_problem(client.post(URL, json=body("GD-DODICI-0001"), headers=auth), 400,
                   "external_id_already_exists")


# -- shipments bounds and domain rules --------------------------------------------

@pytest.mark.parametrize("count,status", [(0, 400), (1, 200), (10, 200), (11, 400)])
def test_shipments_bounds(client, auth, count, status):
    b = body(f"BOUNDS-{count}",
             shipments=[shipment(item(f"E{n}")) for n in range(count)])
    r = client.post(URL, json=b, headers=auth)
    assert r.status_code == status, r.text
    if status == 200:
        assert len(r.json()["items"]) == count
    else:
        assert_problem(r, 400, "validation_error")


def test_shipment_without_items_is_invalid_shipments(client, auth):
    b = body(shipments=[{"items": [], "shipping_option": {"service_level_identifier": "GROUND",
                                                          "price": 0, "tax": 0}}])
    assert_problem(client.post(URL, json=b, headers=auth), 400, "invalid_shipments")


def test_in_store_handover_with_two_shipments_is_invalid_shipments(client, auth):
    b = body(shipments=[shipment(level="IN_STORE_HANDOVER"), shipment(item("E2"))])
    assert_problem(client.post(URL, json=b, headers=auth), 400, "invalid_shipments")


def test_items_above_the_maximum_are_refused(client, auth, monkeypatch):
    monkeypatch.setattr(injection, "MAX_ITEMS_PER_ORDER", 3)
    b = body(shipments=[shipment(*[item(f"E{n}") for n in range(4)])])
    problem = assert_problem(client.post(URL, json=b, headers=auth), 400,
                             "maximum_allowed_number_of_items_exceeded")
    assert "at most 3" in problem["detail"]
    b = body(shipments=[shipment(*[item(f"E{n}") for n in range(3)])])
    assert client.post(URL, json=b, headers=auth).status_code == 200


def test_big_order_limits_of_the_configuration(client, auth, platform):
    r = client.post("/v1/r/config/order_injection?version=1", headers=auth, json={
        "big_sales_order": {"soft_limit_for_big_orders": 2, "hard_limit_for_big_orders": 3}})
    assert r.status_code == 200, r.text
    small = client.post(URL, json=body("SMALL", shipments=[shipment(item("A"), item("B"))]),
                        headers=auth)
    assert stored(platform, E.ORDER, small.json()["id"])["status"] == "open"
    held = client.post(URL, json=body("HELD", shipments=[shipment(
        item("A"), item("B"), item("C"))]), headers=auth)
    order = stored(platform, E.ORDER, held.json()["id"])
    assert order["status"] == "on_hold" and {i["status"] for i in order["items"]} == {"on_hold"}
    assert client.get(f"/v0/orders/{order['id']}", headers=auth).json()["status"] == "on_hold"
    big = client.post(URL, json=body("BIG", shipments=[shipment(
        *[item(f"E{n}") for n in range(4)])]), headers=auth)
    assert big.status_code == 200
    order = stored(platform, E.ORDER, big.json()["id"])
    assert order["status"] == "cancelled"
    assert {i["cancellation_reason"] for i in order["items"]} == {"big_order_hard_limit_exceeded"}


@pytest.mark.parametrize("parent", ["MISSING", "ADDON"])
def test_addon_with_invalid_parent(client, auth, parent):
    b = body(shipments=[shipment(item("PARENT"),
                                 item("ADDON", addon_parent_external_item_id=parent))])
    assert_problem(client.post(URL, json=b, headers=auth), 400, "addon_invalid_parent_item")


def test_addon_parent_that_is_an_addon_is_invalid(client, auth):
    b = body(shipments=[shipment(item("P"), item("A1", addon_parent_external_item_id="P"),
                                 item("A2", addon_parent_external_item_id="A1"))])
    assert_problem(client.post(URL, json=b, headers=auth), 400, "addon_invalid_parent_item")


def test_addon_with_duplicate_external_item_id(client, auth):
    b = body(shipments=[shipment(item("PARENT"), item("ADDON", addon_parent_external_item_id=
                                                      "PARENT"),
                                 item("ADDON"))])
    assert_problem(client.post(URL, json=b, headers=auth), 400,
                   "addon_duplicate_external_item_id")


def test_price_with_more_than_two_decimals(client, auth):
    b = body(shipments=[shipment(item(price=10.123))])
    assert_problem(client.post(URL, json=b, headers=auth), 400, "invalid_price_decimals")
    b = body(shipments=[shipment(price=4.999)])
    assert_problem(client.post(URL, json=b, headers=auth), 400, "invalid_price_decimals")


def test_discounts_above_item_price(client, auth):
    it = item(price=10.0)
    it["price"]["item_discount_info"] = [{"discount_ref": "d", "original_value": 20,
                                          "price_adjustment": 20, "type": "fixed"}]
    assert_problem(client.post(URL, json=body(shipments=[shipment(it)]), headers=auth), 400,
                   "discount_exceeds_item_price")


@pytest.mark.parametrize("strategy", ["prerouted", "external"])
def test_routing_without_node_id(client, auth, strategy):
    b = body(shipments=[shipment(routing={"strategy": strategy})])
    assert_problem(client.post(URL, json=b, headers=auth), 400, "missing_fulfillment_node_id")


def test_unknown_product(client, auth):
    b = body(shipments=[shipment(item(product_id="NOPE-1"), item("E2", product_id="NOPE-2"))])
    problem = assert_problem(client.post(URL, json=b, headers=auth), 400, "product_not_found")
    assert problem["missing_product_ids"] == ["NOPE-1", "NOPE-2"]


def test_refused_injection_stores_nothing(client, auth, platform):
    b = body("REFUSED-1", shipments=[shipment(item(product_id="NOPE"))])
    assert client.post(URL, json=b, headers=auth).status_code == 400
    with platform.store.read() as tx:
        assert tx.get("dodici", E.INJECTION, "REFUSED-1") is None
        assert tx.query("dodici", E.ORDER, external_id="REFUSED-1") == []
    assert client.post(URL, json=body("REFUSED-1"), headers=auth).status_code == 200


# -- malformed bodies -----------------------------------------------------------------

def _broken(mutate) -> dict[str, Any]:
    b = copy.deepcopy(body())
    mutate(b)
    return b


MALFORMED = {
    "missing shop": lambda b: b.pop("shop"),
    "missing external_id": lambda b: b.pop("external_id"),
    "bad channel_type": lambda b: b.update(channel_type="fax"),
    "currency is a number": lambda b: b.update(currency=12),
    "shipments is a string": lambda b: b.update(shipments="x"),
    "item without price": lambda b: b["shipments"][0]["items"][0].pop("price"),
    "price is a string": lambda b: b["shipments"][0]["items"][0]["price"].update(
        item_price="ten"),
    "tax rate above 1": lambda b: b["shipments"][0]["items"][0]["price"][
        "item_tax_lines"][0].update(rate=8),
    "no service level nor token": lambda b: b["shipments"][0]["shipping_option"].pop(
        "service_level_identifier"),
    "unknown routing strategy": lambda b: b["shipments"][0]["shipping_option"].update(
        routing_strategy={"strategy": "magic"}),
    "payment type": lambda b: b["payments"][0].update(type="pending"),
    "payment without correlation_ref": lambda b: b["payments"][0].pop("correlation_ref"),
    "address without country": lambda b: b["shipping_address"].pop("country"),
    "placed_at not a time": lambda b: b.update(placed_at="yesterday"),
    "negative price": lambda b: b["shipments"][0]["items"][0]["price"].update(item_price=-1),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_bodies_are_400(client, auth, name):
    r = client.post(URL, json=_broken(MALFORMED[name]), headers=auth)
    assert_problem(r, 400)


@pytest.mark.parametrize("payload", [[], "text", 42, None])
def test_non_object_json_is_400(client, auth, payload):
    r = client.post(URL, json=payload, headers=auth)
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


def test_non_json_body_is_4xx(client, auth):
    r = client.post(URL, content=b"{not json", headers={**auth,
                                                          "Content-Type": "application/json"})
    assert_problem(r, 400)
    r = client.post(URL, content=b"external_id=1", headers={
        **auth, "Content-Type": "text/plain"})
    assert 400 <= r.status_code < 500
    assert r.headers["content-type"].startswith("application/problem+json")


def test_body_that_is_not_utf8_is_400(client, auth):
    # found by the contract sweep: Connexion's JSON validator let UnicodeDecodeError escape (500)
    r = client.post(URL, content=b"\x80", headers={**auth, "Content-Type": "application/json"})
    problem = assert_problem(r, 400, "validation_error")
    assert "utf-8" in problem["detail"]


def test_utf8_body_is_still_read_after_the_encoding_check(client, auth):
    payload = body(external_id=f"zoë-{uuid.uuid4()}", customer_name="Zoë Doe")
    r = client.post(URL, content=json.dumps(payload, ensure_ascii=False).encode(),
                    headers={**auth, "Content-Type": "application/json"})
    assert r.status_code == 200, r.text


def test_injection_needs_a_token(client):
    assert_problem(client.post(URL, json=body()), 401)


# -- tenants ------------------------------------------------------------------------

def test_injected_order_is_invisible_to_another_tenant(client, auth):
    answer = client.post(URL, json=body(), headers=auth).json()
    acme = {"Authorization": f"Bearer {get_token(client, 'acme')}", "tenant": "acme"}
    for url in (f"/v0/orders/{answer['id']}", f"/v0/c/customer_orders/{answer['id']}",
                f"/v0/c/payments/accounts/{answer['id']}", "/v0/d/external_orders/WEB-1001"):
        assert_problem(client.get(url, headers=acme), 404, "not_found")
    # external ids are unique per tenant: acme may use the same one for its own order
    other = client.post(URL, json=body(), headers=acme)
    assert other.status_code == 200, other.text
    assert other.json()["id"] != answer["id"]
