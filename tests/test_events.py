"""Event payload contracts, their builders and samples, and the events domain operations write
to the outbox in the transaction of the change."""

from __future__ import annotations

import json
from typing import Any

import pytest

from simulator.core.errors import ValidationFailed
from simulator.eventstream import schemas
from simulator.platform import entities as E
from simulator.platform import events
from simulator.platform.fulfillment import create_fulfillment_request
from tests.test_fulfillment import SHIP
from tests.test_fulfillment import url as fr_url
from tests.test_injection import URL as INJECT
from tests.test_injection import body as inject_body
from tests.test_injection import item, shipment
from tests.test_returns import TENANT, make_order
from tests.test_returns import body as return_body
from tests.test_returns import url as returns_url

EXPECTED = {
    "order.created", "order.opened", "order.completed", "order.cancelled",
    "order.items_cancelled", "return.processed", "refund_request.issued",
    "payment_account.amount_authorized", "payment_account.amount_captured",
    "payment_account.amount_refunded", "fulfillment_request.assigned",
    "fulfillment_request.items_completed", "fulfillment_request.items_ready_for_handover",
    "fulfillment_request.items_failed", "inventory_transaction.asn_created",
    "inventory_transaction.items_received", "inventory_transaction.adjustment_created"}


def outbox(platform: Any, tenant: str = TENANT) -> list[tuple[str, dict[str, Any]]]:
    with platform.store.read() as tx:
        rows = tx.conn.execute("SELECT name, payload FROM outbox WHERE tenant=? ORDER BY seq",
                               (tenant,)).fetchall()
    return [(name, json.loads(payload)) for name, payload in rows]


def assert_valid(rows: list[tuple[str, dict[str, Any]]]) -> None:
    for name, payload in rows:
        assert schemas.validate(name, payload) == [], (name, payload)


# -- schemas --------------------------------------------------------------------------------

def test_every_event_has_a_schema_and_the_envelope_is_not_an_event():
    assert set(schemas.names()) == EXPECTED
    assert schemas.names() == sorted(schemas.names())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_schema_metadata_and_example_validates(name):
    doc = schemas.schema(name)
    assert doc["$id"] == f"{name}.json" and doc["title"]
    assert "newstore-api.md section 1" in doc["description"]
    assert doc["additionalProperties"] is True and "id" in doc["required"]
    [example] = doc["examples"]
    assert schemas.validate(name, example) == []


def test_schema_returns_a_copy():
    schemas.schema("order.created")["required"].clear()
    assert schemas.schema("order.created")["required"]


def test_unknown_event_name_is_a_clear_value_error():
    with pytest.raises(ValueError, match="unknown event name 'order.shipped'.*order.created"):
        schemas.validate("order.shipped", {})
    with pytest.raises(ValueError, match="known events"):
        schemas.schema("envelope")


def test_validation_errors_name_json_path_and_message():
    example = schemas.schema("order.completed")["examples"][0]
    example["items"][0]["quantity"] = "one"
    del example["id"]
    example["extra_field"] = "allowed"
    errors = schemas.validate("order.completed", example)
    assert errors == ["$: 'id' is a required property",
                      "$.items[0].quantity: 'one' is not of type 'integer'"]


def test_amounts_are_numbers_not_strings():
    example = schemas.schema("refund_request.issued")["examples"][0]
    example["amount"] = "5.00"
    assert schemas.validate("refund_request.issued", example) == [
        "$.amount: '5.00' is not of type 'number'"]


def test_envelope_validation():
    good = {"tenant": "dodici", "name": "order.opened", "published_at": "2026-01-02T03:04:05.678Z",
            "payload": {"id": "x"}}
    assert schemas.validate_envelope(good) == []
    assert schemas.validate_envelope({**good, "published_at": "2026-01-02T03:04:05Z"}) == [
        "$.published_at: '2026-01-02T03:04:05Z' does not match "
        "'^\\\\d{4}-\\\\d{2}-\\\\d{2}T\\\\d{2}:\\\\d{2}:\\\\d{2}\\\\.\\\\d{3}Z$'"]
    missing = dict(good)
    del missing["payload"]
    assert schemas.validate_envelope(missing) == ["$: 'payload' is a required property"]
    assert schemas.validate_envelope([]) == ["$: [] is not of type 'object'"]


# -- builders and samples ---------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_payload_validates_and_is_deterministic(platform, name):
    payload = events.sample_payload(platform, TENANT, name)
    assert schemas.validate(name, payload) == [], payload
    again = events.sample_payload(platform, TENANT, name)
    for stamp in ("processed_at", "created_at"):  # inventory samples happen "now"
        if name.startswith("inventory_transaction."):
            again.pop(stamp, None), payload.pop(stamp, None)
    assert again == payload


def test_sample_payload_for_unknown_name_is_validation_failed(platform):
    with pytest.raises(ValidationFailed) as err:
        events.sample_payload(platform, TENANT, "order.shipped")
    assert err.value.field == "name" and "order.opened" in err.value.detail


def test_builders_over_world_documents_validate(platform):
    with platform.store.read() as tx:
        orders = tx.query(TENANT, E.ORDER, limit=60)
        frs = tx.query(TENANT, E.FULFILLMENT_REQUEST, limit=20)
        returns = tx.query(TENANT, E.RETURN, limit=20)
        refunds = tx.query(TENANT, E.REFUND, limit=20)
        accounts = [tx.get(TENANT, E.PAYMENT_ACCOUNT, o["id"]) for o in orders]
    assert orders and frs and returns and refunds
    built: list[tuple[str, dict[str, Any]]] = []
    for order in orders:
        built += [("order.created", events.order_created(order)),
                  ("order.opened", events.order_opened(order)),
                  ("order.completed", events.order_completed(order)),
                  ("order.cancelled", events.order_cancelled(order)),
                  ("order.items_cancelled",
                   events.order_items_cancelled(order, order["items"][:1], "customer_request"))]
    for account in accounts:
        for kind, name in events.PAYMENT_EVENTS.items():
            txs = [t for t in account["transactions"] if t["transaction_type"] == kind]
            if txs:
                built.append((name, events.payment_account_event(account, txs)))
    for fr in frs:
        for name in ("assigned", "items_completed", "items_ready_for_handover"):
            built.append((f"fulfillment_request.{name}", events.fulfillment_request_event(fr)))
    built += [("return.processed", events.return_processed(r)) for r in returns]
    built += [("refund_request.issued", events.refund_request_issued(r)) for r in refunds]
    assert {n for n, _ in built} >= EXPECTED - {
        "fulfillment_request.items_failed", "payment_account.amount_authorized"} - {
        n for n in EXPECTED if n.startswith("inventory")}
    assert_valid(built)


def test_blind_return_payload_has_no_order_id(platform):
    ret = dict(schemas.schema("return.processed")["examples"][0], order_id=None, items=[])
    ret["items"] = schemas.schema("return.processed")["examples"][0]["items"]
    payload = events.return_processed(ret)
    assert "order_id" not in payload
    assert schemas.validate("return.processed", payload) == []


def test_order_payload_carries_addresses_in_both_spellings(platform):
    r_order = events.sample_payload(platform, TENANT, "order.created")
    address = r_order["billing_address"]
    assert address["address_line1"] == address["address_line_1"]
    assert isinstance(r_order["grand_total"], float)


# -- set_path ---------------------------------------------------------------------------------

def test_set_path_sets_nested_values_and_list_indexes():
    payload = {"items": [{"quantity": 1}, {"quantity": 2}], "id": "a"}
    assert events.set_path(payload, "items.1.quantity", 5) is payload
    assert payload["items"][1]["quantity"] == 5
    events.set_path(payload, "id", None)
    events.set_path(payload, "extended.deep.key", "v")
    assert payload["extended"] == {"deep": {"key": "v"}} and payload["id"] is None
    events.set_path(payload, "items.0", {"replaced": True})
    assert payload["items"][0] == {"replaced": True}


@pytest.mark.parametrize("path", ["", "items..x", "items.9.quantity", "items.x", "id.sub",
                                  "items.0.quantity.more"])
def test_set_path_refuses_what_cannot_be_set(path):
    payload = {"items": [{"quantity": 1}], "id": "a"}
    with pytest.raises(ValidationFailed) as err:
        events.set_path(payload, path, 1)
    assert err.value.field == path and repr(path) in err.value.detail


# -- emission from domain operations ----------------------------------------------------------

def test_injection_emits_created_then_opened_and_replay_emits_nothing(client, auth, platform):
    before = len(outbox(platform))
    r = client.post(INJECT, json=inject_body("EV-1"), headers=auth)
    assert r.status_code == 200, r.text
    rows = outbox(platform)[before:]
    assert [n for n, _ in rows] == ["order.created", "order.opened"]
    assert rows[0][1]["id"] == r.json()["id"] and rows[0][1]["external_id"] == "EV-1"
    assert [i["product_id"] for i in rows[1][1]["items"]] == ["1000061", "1000068"]
    assert rows[0][1]["grand_total"] == 91.8
    assert_valid(rows)
    again = client.post(INJECT, json=inject_body("EV-1"), headers=auth)
    assert again.status_code == 200 and again.json() == r.json()
    assert len(outbox(platform)) == before + 2
    bad = client.post(INJECT, json=inject_body("EV-1", currency="EUR"), headers=auth)
    assert bad.status_code == 400 and len(outbox(platform)) == before + 2


def test_injection_to_unknown_external_node_also_emits_cancelled(client, auth, platform):
    before = len(outbox(platform))
    routed = shipment(item("EXT-1"), routing={"strategy": "external",
                                              "fulfillment_node_id": "NOWHERE"})
    r = client.post(INJECT, json=inject_body("EV-2", shipments=[routed],
                                             payments=[]), headers=auth)
    assert r.status_code == 200, r.text
    rows = outbox(platform)[before:]
    assert [n for n, _ in rows] == ["order.created", "order.opened", "order.cancelled"]
    cancelled = rows[2][1]
    assert cancelled["cancellation_reason"] == "unknown_fulfillment_node"
    assert [(i["status"], i["cancellation_reason"]) for i in cancelled["items"]] == [
        ("cancelled", "unknown_fulfillment_node")]
    assert_valid(rows)


def test_rejected_injection_emits_nothing(client, auth, platform):
    before = len(outbox(platform))
    r = client.post(INJECT, json=inject_body("EV-3", shipments=[shipment(
        item("EXT-1", "no-such-product"))]), headers=auth)
    assert r.status_code == 400
    assert len(outbox(platform)) == before


def test_return_emits_processed_and_amount_refunded(client, auth, platform):
    order_id = make_order(platform, ["completed", "completed"])
    before = len(outbox(platform))
    pid = next(i["product_id"] for i in
               events.order_created(_order(platform, order_id))["items"])
    r = client.post(returns_url(order_id), headers=auth, json=return_body(
        {"product_id": pid, "quantity": 1, "return_reason": "Too small"}))
    assert r.status_code in (200, 201), r.text
    ret = r.json()
    rows = outbox(platform)[before:]
    assert [n for n, _ in rows] == ["return.processed", "payment_account.amount_refunded"]
    processed, refunded = rows[0][1], rows[1][1]
    assert processed["id"] == ret["id"] and processed["order_id"] == order_id
    assert processed["total_refund_amount_adjusted"] == ret["total_refund_amount_adjusted"]
    assert [i["product_id"] for i in processed["items"]] == [pid]
    [txn] = refunded["transactions"]
    assert (refunded["id"], txn["amount"], txn["correlation_id"]) == (
        order_id, ret["total_refund_amount_adjusted"], ret["id"])
    assert [i["id"] for i in refunded["instruments"]] == ["instr-1"]
    assert_valid(rows)


def test_zero_refund_return_emits_no_payment_event(client, auth, platform):
    order_id = make_order(platform, ["completed"])
    pid = _order(platform, order_id)["items"][0]["product_id"]
    before = len(outbox(platform))
    r = client.post(returns_url(order_id), headers=auth, json=return_body(
        {"product_id": pid, "return_reason": "Damaged"}, refund_amount=0))
    assert r.status_code in (200, 201), r.text
    assert [n for n, _ in outbox(platform)[before:]] == ["return.processed"]


def test_failed_return_emits_nothing(client, auth, platform, sample_order_id):
    before = len(outbox(platform))
    r = client.post(returns_url(sample_order_id), headers=auth, json=return_body(
        {"product_id": "not-in-order", "return_reason": "x"}))
    assert r.status_code == 400
    assert len(outbox(platform)) == before


def test_appeasement_emits_refund_request_issued_and_amount_refunded(client, auth, platform,
                                                                      sample_order_id):
    before = len(outbox(platform))
    r = client.post(f"/v0/d/orders/{sample_order_id}/refunds", headers=auth, json={
        "amount": 5.0, "currency": "USD", "reason": "Price adjustment", "reason_code": 2,
        "note": "Testing refund"})
    assert r.status_code == 201, r.text
    refund = r.json()
    rows = outbox(platform)[before:]
    assert [n for n, _ in rows] == ["refund_request.issued", "payment_account.amount_refunded"]
    issued = rows[0][1]
    assert (issued["id"], issued["order_id"], issued["payment_account_id"], issued["amount"],
            issued["reason_code"], issued["return_reason"], issued["note"]) == (
        refund["id"], sample_order_id, sample_order_id, 5.0, 2, "Price adjustment",
        "Testing refund")
    assert rows[1][1]["transactions"][0]["correlation_id"] == refund["id"]
    assert_valid(rows)


def _order(platform: Any, order_id: str) -> dict[str, Any]:
    with platform.store.read() as tx:
        return tx.get(TENANT, E.ORDER, order_id)


def test_fulfillment_assignment_and_shipment_events(client, auth, platform):
    order_id = make_order(platform, ["pending", "pending"], ["1000061", "1000068"])
    before = len(outbox(platform))
    fr = create_fulfillment_request(platform, TENANT, order_id, "US01", "GROUND")
    ack = client.post(fr_url(fr["id"], "acknowledgement"), headers=auth, json={})
    assert ack.status_code == 200
    client.post(fr_url(fr["id"], "acknowledgement"), headers=auth, json={})
    r = client.post(fr_url(fr["id"], "shipment"), headers=auth, json={"line_items": [
        {"product_ids": ["1000061"], "shipment": SHIP}]})
    assert r.status_code == 200, r.text
    r = client.post(fr_url(fr["id"], "shipment"), headers=auth, json={"line_items": [
        {"product_ids": ["1000068"], "shipment": SHIP}]})
    assert r.status_code == 200, r.text
    rows = outbox(platform)[before:]
    assert [n for n, _ in rows] == [
        "fulfillment_request.assigned", "fulfillment_request.items_completed",
        "fulfillment_request.items_completed", "order.completed"]
    assigned, first, second, completed = (payload for _, payload in rows)
    assert (assigned["id"], assigned["order_id"], assigned["service_level"],
            assigned["fulfillment_location_id"]) == (fr["id"], order_id, "GROUND", "US01")
    assert [i["product_id"] for i in assigned["items"]] == ["1000061", "1000068"]
    assert [i["product_id"] for i in first["items"]] == ["1000061"]
    assert first["items"][0]["tracking_code"] == SHIP["tracking_code"]
    assert first["items"][0]["shipped_at"].endswith("Z")
    assert second["logical_timestamp"] > first["logical_timestamp"]
    assert completed["id"] == order_id
    assert {i["status"] for i in completed["items"]} == {"completed"}
    assert_valid(rows)


def test_rejection_emits_items_failed(client, auth, platform):
    order_id = make_order(platform, ["pending", "pending"], ["1000061", "1000068"])
    fr = create_fulfillment_request(platform, TENANT, order_id, "US01", "GROUND")
    before = len(outbox(platform))
    r = client.post(fr_url(fr["id"], "reject_items"), headers=auth, json={"missing_items": [
        {"reason": "no_inventory", "product_ids": ["1000068"]}]})
    assert r.status_code == 200, r.text
    rows = outbox(platform)[before:]
    assert [n for n, _ in rows] == ["fulfillment_request.items_failed"]
    assert [(i["product_id"], i["rejection_reason"]) for i in rows[0][1]["items"]] == [
        ("1000068", "no_inventory")]
    assert_valid(rows)


def test_cancelling_items_then_all_emits_items_cancelled_then_order_cancelled(client, auth,
                                                                             platform):
    order_id = make_order(platform, ["pending", "pending"], ["1000061", "1000068"])
    fr = create_fulfillment_request(platform, TENANT, order_id, "US01", "GROUND")
    before = len(outbox(platform))
    r = client.post(fr_url(fr["id"], "canceled_items"), headers=auth,
                    json={"product_ids": ["1000061"]})
    assert r.status_code == 200, r.text
    r = client.post(fr_url(fr["id"], "canceled_items"), headers=auth,
                    json={"product_ids": ["1000068"]})
    assert r.status_code == 200, r.text
    rows = outbox(platform)[before:]
    assert [n for n, _ in rows] == ["order.items_cancelled", "order.items_cancelled",
                                    "order.cancelled"]
    assert [i["product_id"] for i in rows[0][1]["items"]] == ["1000061"]
    assert rows[0][1]["items"][0]["cancellation_reason"] == "canceled_by_fulfillment_node"
    assert {i["product_id"] for i in rows[2][1]["items"]} == {"1000061", "1000068"}
    assert_valid(rows)


def test_failed_fulfillment_action_emits_nothing(client, auth, platform):
    order_id = make_order(platform, ["pending"], ["1000061"])
    fr = create_fulfillment_request(platform, TENANT, order_id, "US01", "GROUND")
    before = len(outbox(platform))
    r = client.post(fr_url(fr["id"], "shipment"), headers=auth, json={"line_items": [
        {"product_ids": ["1000061", "9999999"], "shipment": SHIP}]})
    assert r.status_code == 400
    assert len(outbox(platform)) == before


def test_emit_writes_one_outbox_row_with_envelope_fields(platform):
    payload = events.sample_payload(platform, TENANT, "inventory_transaction.items_received")
    with platform.store.tx() as tx:
        event = events.emit(platform, tx, TENANT, "inventory_transaction.items_received",
                            payload)
    assert schemas.validate_envelope(event.envelope()) == []
    assert outbox(platform)[-1] == ("inventory_transaction.items_received", payload)
