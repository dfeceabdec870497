"""Fulfillment requests: reading one, and the location's acknowledgement, rejection,
cancellation and shipment, mirrored on the order."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.core.errors import Conflict, NotFound, ValidationFailed
from simulator.platform import entities as E
from simulator.platform.fulfillment import create_fulfillment_request
from tests.conftest import get_token
from tests.test_returns import TENANT, is_problem, make_order, read

SHIP = {"tracking_code": "1Z999AA10123456784", "carrier": "UPS"}


def new_request(platform: Any, products: list[str] | None = None,
                statuses: list[str] | None = None) -> tuple[str, dict[str, Any]]:
    statuses = statuses or ["pending"] * (len(products) if products else 2)
    order_id = make_order(platform, statuses, products)
    fr = create_fulfillment_request(platform, TENANT, order_id, "US01", "GROUND")
    return order_id, fr


def url(fr_id: str, action: str = "") -> str:
    return f"/v0/d/fulfillment_requests/{fr_id}" + (f"/{action}" if action else "")


def order_items(platform: Any, order_id: str) -> list[dict[str, Any]]:
    return read(platform, E.ORDER, order_id)["items"]


def test_created_request_is_assigned_and_readable(client, auth, platform):
    order_id, fr = new_request(platform)
    assert fr["status"] == "assigned" and fr["fulfillment_location_id"] == "US01"
    r = client.get(url(fr["id"]), headers=auth)
    assert r.status_code == 200 and r.json() == fr
    assert [i["id"] for i in fr["items"]] == [i["id"] for i in order_items(platform, order_id)]
    assert {i["status"] for i in fr["items"]} == {"pending"}
    assert {i["fulfillment_location_id"] for i in order_items(platform, order_id)} == {"US01"}


def test_world_request_is_readable_and_unknown_is_404(client, auth, platform):
    with platform.store.read() as tx:
        world_fr = tx.query(TENANT, E.FULFILLMENT_REQUEST, limit=1)[0]
    r = client.get(url(world_fr["id"]), headers=auth)
    assert r.status_code == 200 and r.json()["status"] == "completed"
    is_problem(client.get(url("nope"), headers=auth), 404, "not_found")
    is_problem(client.post(url("nope", "acknowledgement"), headers=auth, json={}), 404,
               "not_found")


def test_requests_are_tenant_isolated(client, platform):
    _, fr = new_request(platform)
    headers = {"Authorization": f"Bearer {get_token(client, 'acme')}", "tenant": "acme"}
    is_problem(client.get(url(fr["id"]), headers=headers), 404)


def test_acknowledge_is_mirrored_and_idempotent(client, auth, platform):
    order_id, fr = new_request(platform)
    r = client.post(url(fr["id"], "acknowledgement"), headers=auth, json={})
    assert r.status_code == 200
    acked = r.json()
    assert acked["status"] == "acknowledged"
    assert {i["status"] for i in acked["items"]} == {"acknowledged"}
    assert acked["logical_timestamp"] == fr["logical_timestamp"] + 1
    assert {i["status"] for i in order_items(platform, order_id)} == {"acknowledged"}
    again = client.post(url(fr["id"], "acknowledgement"), headers=auth)
    assert again.status_code == 200 and again.json() == acked


def test_shipping_everything_completes_request_and_closes_order(client, auth, platform):
    order_id, fr = new_request(platform, ["1000061", "1000068"])
    client.post(url(fr["id"], "acknowledgement"), headers=auth, json={})
    r = client.post(url(fr["id"], "shipment"), headers=auth, json={"line_items": [
        {"product_ids": ["1000061"], "shipment": SHIP},
        {"product_ids": ["1000068"], "shipment": {"tracking_code": "T2", "carrier": "FedEx"}},
    ]})
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "completed"
    shipped_at = platform.clock.now().isoformat()[:16]
    by_product = {i["product_id"]: i for i in done["items"]}
    assert (by_product["1000061"]["carrier"], by_product["1000061"]["tracking_code"]) == (
        "UPS", SHIP["tracking_code"])
    assert by_product["1000068"]["carrier"] == "FedEx"
    assert by_product["1000061"]["shipped_at"][:16] == shipped_at
    order = read(platform, E.ORDER, order_id)
    assert order["status"] == "closed"
    assert [(i["status"], i["carrier"]) for i in order["items"]] == [
        ("completed", "UPS"), ("completed", "FedEx")]
    assert order["items"][0]["tracking_code"] == SHIP["tracking_code"]
    assert order["items"][0]["shipped_at"] is not None


def test_partial_shipment_keeps_order_open(client, auth, platform):
    order_id, fr = new_request(platform, ["1000061", "1000068"])
    r = client.post(url(fr["id"], "shipment"), headers=auth,
                    json={"line_items": [{"product_ids": ["1000068"], "shipment": SHIP}]})
    assert r.json()["status"] == "acknowledged"
    assert read(platform, E.ORDER, order_id)["status"] == "open"
    r = client.post(url(fr["id"], "shipment"), headers=auth,
                    json={"line_items": [{"product_ids": ["1000068"], "shipment": SHIP}]})
    assert is_problem(r, 409, "invalid_item_state")["product_id"] == "1000068"
    r = client.post(url(fr["id"], "shipment"), headers=auth,
                    json={"line_items": [{"product_ids": ["1000061"], "shipment": SHIP}]})
    assert r.json()["status"] == "completed"
    assert read(platform, E.ORDER, order_id)["status"] == "closed"


def test_repeated_product_id_ships_several_units(client, auth, platform):
    order_id, fr = new_request(platform, ["1000061", "1000061"])
    r = client.post(url(fr["id"], "shipment"), headers=auth, json={
        "line_items": [{"product_ids": ["1000061", "1000061"], "shipment": SHIP}]})
    assert [i["status"] for i in r.json()["items"]] == ["completed", "completed"]
    assert read(platform, E.ORDER, order_id)["status"] == "closed"


def test_rejection_rejects_open_items_and_blocks_shipment(client, auth, platform):
    order_id, fr = new_request(platform, ["1000061", "1000068"])
    r = client.post(url(fr["id"], "rejection"), headers=auth, json={
        "rejection_reason": "no_inventory", "missing_product_ids": ["1000061"]})
    assert r.status_code == 200
    rejected = r.json()
    assert rejected["status"] == "rejected"
    assert {(i["status"], i["rejection_reason"]) for i in rejected["items"]} == {
        ("rejected", "no_inventory")}
    order = read(platform, E.ORDER, order_id)
    assert {(i["status"], i["rejection_reason"]) for i in order["items"]} == {
        ("rejected", "no_inventory")}
    assert order["status"] == "open"
    r = client.post(url(fr["id"], "shipment"), headers=auth,
                    json={"line_items": [{"product_ids": ["1000061"], "shipment": SHIP}]})
    problem = is_problem(r, 409, "invalid_state_transition")
    assert problem["fulfillment_request_status"] == "rejected"


def test_rejection_with_foreign_product_is_400(client, auth, platform):
    _, fr = new_request(platform, ["1000061"])
    r = client.post(url(fr["id"], "rejection"), headers=auth, json={
        "rejection_reason": "cannot_fulfill", "missing_product_ids": ["42"]})
    assert is_problem(r, 400, "unknown_product_ids")["product_ids"] == ["42"]
    assert read(platform, E.FULFILLMENT_REQUEST, fr["id"])["status"] == "assigned"


def test_reject_items_then_ship_the_rest(client, auth, platform):
    order_id, fr = new_request(platform, ["1000061", "1000068", "1000075"])
    r = client.post(url(fr["id"], "reject_items"), headers=auth, json={"missing_items": [
        {"reason": "damaged", "product_ids": ["1000061"]},
        {"reason": "not_found", "product_ids": ["1000068"]}]})
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "acknowledged"
    assert [(i["status"], i["rejection_reason"]) for i in body["items"]] == [
        ("rejected", "damaged"), ("rejected", "not_found"), ("pending", None)]
    assert [i["status"] for i in order_items(platform, order_id)] == [
        "rejected", "rejected", "pending"]
    r = client.post(url(fr["id"], "shipment"), headers=auth,
                    json={"line_items": [{"product_ids": ["1000075"], "shipment": SHIP}]})
    assert r.json()["status"] == "completed"
    assert read(platform, E.ORDER, order_id)["status"] == "open"  # rejected items await routing


def test_cancel_items_then_all(client, auth, platform):
    order_id, fr = new_request(platform, ["1000061", "1000068"])
    r = client.post(url(fr["id"], "canceled_items"), headers=auth,
                    json={"product_ids": ["1000061"]})
    assert r.json()["status"] == "assigned"
    items = order_items(platform, order_id)
    assert (items[0]["status"], items[0]["cancellation_reason"]) == (
        "cancelled", "canceled_by_fulfillment_node")
    r = client.post(url(fr["id"], "canceled_items"), headers=auth,
                    json={"product_ids": ["1000068"], "reason": "mispick"})
    assert r.json()["status"] == "cancelled"
    order = read(platform, E.ORDER, order_id)
    assert order["status"] == "cancelled"
    assert order["items"][1]["cancellation_reason"] == "mispick"


def test_completed_request_accepts_no_action(client, auth, platform):
    _, fr = new_request(platform, ["1000061"])
    client.post(url(fr["id"], "shipment"), headers=auth,
                json={"line_items": [{"product_ids": ["1000061"], "shipment": SHIP}]})
    for action, payload in [
        ("acknowledgement", {}),
        ("rejection", {"rejection_reason": "cannot_fulfill"}),
        ("reject_items", {"missing_items": [{"reason": "x", "product_ids": ["1000061"]}]}),
        ("canceled_items", {"product_ids": ["1000061"]}),
        ("shipment", {"line_items": [{"product_ids": ["1000061"], "shipment": SHIP}]}),
    ]:
        r = client.post(url(fr["id"], action), headers=auth, json=payload)
        problem = is_problem(r, 409, "invalid_state_transition")
        assert problem["fulfillment_request_status"] == "completed"


def test_unknown_product_in_shipment_is_400_and_changes_nothing(client, auth, platform):
    order_id, fr = new_request(platform, ["1000061"])
    r = client.post(url(fr["id"], "shipment"), headers=auth, json={"line_items": [
        {"product_ids": ["1000061"], "shipment": SHIP},
        {"product_ids": ["777"], "shipment": SHIP}]})
    is_problem(r, 400, "unknown_product_ids")
    assert read(platform, E.FULFILLMENT_REQUEST, fr["id"])["items"][0]["status"] == "pending"
    assert order_items(platform, order_id)[0]["status"] == "pending"


def test_create_request_domain_errors(platform):
    order_id, _ = new_request(platform, ["1000061"])
    with pytest.raises(Conflict) as exc:
        create_fulfillment_request(platform, TENANT, order_id, "US02", "GROUND")
    assert exc.value.error_code == "no_items_to_fulfill"
    other = make_order(platform, ["pending"])
    with pytest.raises(ValidationFailed):
        create_fulfillment_request(platform, TENANT, other, "NOWHERE", "GROUND")
    with pytest.raises(NotFound):
        create_fulfillment_request(platform, TENANT, "no-order", "US01", "GROUND")


@pytest.mark.parametrize("action,payload", [
    ("rejection", {}),
    ("rejection", {"rejection_reason": "bored"}),
    ("rejection", {"rejection_reason": "no_inventory", "missing_product_ids": "1000061"}),
    ("reject_items", {}),
    ("reject_items", {"missing_items": []}),
    ("reject_items", {"missing_items": [{"product_ids": ["1000061"]}]}),
    ("reject_items", {"missing_items": [{"reason": "x", "product_ids": []}]}),
    ("canceled_items", {}),
    ("canceled_items", {"product_ids": [1]}),
    ("shipment", {}),
    ("shipment", {"line_items": [{"product_ids": ["1000061"]}]}),
    ("shipment", {"line_items": [{"product_ids": ["1000061"],
                                  "shipment": {"carrier": "UPS"}}]}),
    ("shipment", {"line_items": [{"product_ids": ["1000061"],
                                  "shipment": {"carrier": "", "tracking_code": "x"}}]}),
    ("shipment", ["1000061"]),
    ("acknowledgement", []),
])
def test_malformed_bodies_are_400(client, auth, platform, action, payload):
    _, fr = new_request(platform, ["1000061"])
    is_problem(client.post(url(fr["id"], action), headers=auth, json=payload), 400)
    assert read(platform, E.FULFILLMENT_REQUEST, fr["id"])["status"] == "assigned"
