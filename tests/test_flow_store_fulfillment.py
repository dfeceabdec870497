"""Store fulfillment (ship from store, BOPIS, mispick / mispack and re-routing, unconfigured
store) and item cancellations, driven through /_sim/actions on a real server; the events a
real local webhook sink received are checked in publication order against their schemas."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from pytest_httpserver import HTTPServer

from simulator.eventstream import schemas
from simulator.eventstream.dispatcher import IDEMPOTENCY_HEADER
from tests.conftest import make_settings
from tests.server import fixed_world, register_sink, running_server, server_token, wait_for
from tests.test_injection import body, item, shipment

P1, P2 = "1000061", "1000068"
STORE = "US01"
_tenants = itertools.count(1)

GQL = """query($id: String!, $tenant: String!) { order(id: $id, tenant: $tenant) {
  status fulfillmentType
  items { nodes { id status cancellationReason rejectionReason carrier trackingCode } }
  fulfillmentRequests { nodes { id status serviceLevel fulfillmentLocationId
    items { nodes { id status rejectionReason carrier trackingCode } } } }
  paymentAccount { transactions { nodes { transactionType amount } } }
} }"""


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("storeflow") / "sim.db"
    with running_server(make_settings(db=str(db), retry_profile="fast")) as url:
        yield url




class Tenant:
    """A fresh tenant with an integration pointing at the test's sink."""

    def __init__(self, url: str, httpserver: HTTPServer) -> None:
        self.url = url
        self.name = f"storeflow{next(_tenants)}"
        fixed_world(url, self.name)
        self.headers = {"tenant": self.name,
                        "Authorization": f"Bearer {server_token(url, self.name)}"}
        self.sink = httpserver
        httpserver.expect_request("/sink", method="POST").respond_with_data("ok")
        register_sink(url, self.headers, httpserver.url_for("/sink"), api_key="s3cret")

    def get(self, path: str) -> dict[str, Any]:
        r = requests.get(f"{self.url}{path}", headers=self.headers, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def inject(self, external_id: str, node: str = STORE, level: str = "GROUND",
               payment: str = "captured", expect: int = 200) -> dict[str, Any]:
        b = body(external_id, shipments=[shipment(item("EXT-1", P1, 50.0, 4.0),
                                                  item("EXT-2", P2, 30.0, 2.4), level=level,
                                                  routing={"strategy": "external",
                                                           "fulfillment_node_id": node})])
        b["payments"][0]["type"] = payment
        r = requests.post(f"{self.url}/v0/d/fulfill_order", json=b, headers=self.headers,
                          timeout=10)
        assert r.status_code == expect, r.text
        return r.json()

    def action(self, name: str, expect: int = 201, **payload: Any) -> dict[str, Any]:
        r = requests.post(f"{self.url}/_sim/actions/{name}", json=payload,
                          headers={"tenant": self.name}, timeout=10)
        assert r.status_code == expect, r.text
        if expect >= 400:
            assert r.headers["content-type"].startswith("application/problem+json")
        return r.json()

    def graphql(self, order_id: str) -> dict[str, Any]:
        r = requests.post(f"{self.url}/api/v1/org/data/query", headers=self.headers,
                          json={"query": GQL, "variables": {"id": order_id,
                                                            "tenant": self.name}}, timeout=10)
        assert r.status_code == 200 and "errors" not in r.json(), r.text
        return r.json()["data"]["order"]

    def request_id(self, order_id: str) -> str:
        [fr] = self.graphql(order_id)["fulfillmentRequests"]["nodes"]
        return fr["id"]

    def events(self, order_id: str, count: int) -> list[tuple[str, dict[str, Any]]]:
        """The order's events as the sink received them, in publication order (validated)."""
        def delivered() -> list[dict[str, Any]]:
            r = requests.get(f"{self.url}/_sim/eventstream/deliveries",
                             params={"integration_id": "sink", "limit": 1000},
                             headers={"tenant": self.name}, timeout=10)
            rows = r.json()["deliveries"]
            return rows if rows and all(d["status"] == "delivered" for d in rows) else []
        received: dict[str, dict[str, Any]] = {}

        def mine() -> list[tuple[str, dict[str, Any]]]:
            received.clear()
            for req, _ in self.sink.log:
                envelope = json.loads(req.get_data())
                if envelope["tenant"] == self.name:
                    received[req.headers[IDEMPOTENCY_HEADER]] = envelope
            ordered = sorted(delivered(), key=lambda d: d["delivery_id"])
            out = []
            for d in ordered:
                env = received.get(d["event_id"])
                if env is None:
                    return []
                payload = env["payload"]
                if order_id in (payload.get("id"), payload.get("order_id")):
                    out.append((env["name"], payload))
            return out if len(out) >= count else []
        found = wait_for(mine, what=f"{count} events of order {order_id}")
        for name, payload in found:
            assert schemas.validate(name, payload) == [], (name, payload)
        return found


@pytest.fixture
def t(sim: str, httpserver: HTTPServer) -> Tenant:
    return Tenant(sim, httpserver)


INJECTED = ["order.created", "order.opened", "fulfillment_request.assigned"]


def names(found: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [name for name, _ in found]


# -- ship from store ------------------------------------------------------------------------

def test_ship_from_store_happy_path(t: Tenant):
    order_id = t.inject("SF-1001")["id"]
    fr_id = t.request_id(order_id)
    assert t.get(f"/v0/d/fulfillment_requests/{fr_id}")["status"] == "assigned"

    picked = t.action("pick", fulfillment_request_id=fr_id, outcome="ok")
    assert picked["events"] == [] and picked["status"] == "open"
    assert picked["fulfillment_request_status"] == "acknowledged"
    fr = t.get(f"/v0/d/fulfillment_requests/{fr_id}")
    assert fr["picked_at"] and all(i["picked_at"] for i in fr["items"])

    handed = t.action("hand-over", fulfillment_request_id=fr_id)
    assert handed["events"] == ["fulfillment_request.items_completed", "order.completed"]
    assert handed["status"] == "closed" and handed["fulfillment_request_status"] == "completed"
    [label] = handed["labels"]
    assert label["type"] == "shipping_label" and label["carrier"] == "UPS"
    assert label["tracking_code"].startswith("1Z") and label["url"].endswith(".pdf")

    found = t.events(order_id, 5)
    assert names(found) == INJECTED + ["fulfillment_request.items_completed",
                                       "order.completed"]
    completed = found[3][1]
    assert {i["tracking_code"] for i in completed["items"]} == {label["tracking_code"]}
    assert completed["fulfillment_location_id"] == STORE
    assert {i["status"] for i in found[4][1]["items"]} == {"completed"}

    rest = t.get(f"/v0/orders/{order_id}")
    assert {i["status"] for i in rest["items"]} == {"complete"}
    gql = t.graphql(order_id)
    assert gql["status"] == "closed"
    assert {(i["status"], i["carrier"], i["trackingCode"]) for i in gql["items"]["nodes"]} == {
        ("completed", "UPS", label["tracking_code"])}
    assert gql["fulfillmentRequests"]["nodes"][0]["status"] == "completed"


def test_hand_over_before_pick_is_409(t: Tenant):
    order_id = t.inject("SF-1002")["id"]
    fr_id = t.request_id(order_id)
    problem = t.action("hand-over", 409, fulfillment_request_id=fr_id)
    assert problem["error_code"] == "not_picked" and "pick" in problem["detail"]
    t.action("pick", fulfillment_request_id=fr_id, outcome="ok")
    again = t.action("pick", 409, fulfillment_request_id=fr_id, outcome="ok")
    assert again["error_code"] == "already_picked"
    t.action("hand-over", fulfillment_request_id=fr_id)
    done = t.action("hand-over", 409, fulfillment_request_id=fr_id)
    assert done["error_code"] == "invalid_state_transition"


# -- BOPIS ------------------------------------------------------------------------------------

def test_bopis_happy_path(t: Tenant):
    order_id = t.inject("BOPIS-1", level="IN_STORE_PICKUP")["id"]
    fr_id = t.request_id(order_id)
    picked = t.action("pick", fulfillment_request_id=fr_id, outcome="ok")
    assert picked["events"] == ["fulfillment_request.items_ready_for_handover"]
    [label] = picked["labels"]
    assert label["type"] == "in_store_pickup_label" and label["tracking_code"] is None

    # the tenant may also be named in the body (no tenant header here)
    r = requests.post(f"{t.url}/_sim/actions/hand-over", timeout=10,
                      json={"fulfillment_request_id": fr_id, "tenant": t.name})
    assert r.status_code == 201, r.text
    handed = r.json()
    assert handed["events"] == ["fulfillment_request.items_completed", "order.completed"]
    assert handed["labels"] == [] and handed["order_id"] == order_id

    found = t.events(order_id, 6)
    assert names(found) == INJECTED + ["fulfillment_request.items_ready_for_handover",
                                       "fulfillment_request.items_completed",
                                       "order.completed"]
    assert found[2][1]["service_level"] == "IN_STORE_PICKUP"
    ready = found[3][1]
    assert len(ready["items"]) == 2 and ready["logical_timestamp"] >= 2
    gql = t.graphql(order_id)
    assert gql["fulfillmentType"] == "in_store_pickup" and gql["status"] == "closed"
    assert {i["status"] for i in gql["items"]["nodes"]} == {"completed"}
    assert t.get(f"/v0/d/fulfillment_requests/{fr_id}")["labels"][0]["type"] == \
        "in_store_pickup_label"


# -- mispick / mispack and re-routing ----------------------------------------------------------

@pytest.mark.parametrize("outcome,rejection,reason", [
    ("mispick", "no_inventory", "insufficient_stock"), ("mispack", "damaged", "damaged")])
def test_failed_pick_cancels_and_the_number_cannot_be_reused(t: Tenant, outcome: str,
                                                             rejection: str, reason: str):
    answer = t.inject("SF-2001")
    order_id = answer["id"]
    fr_id = t.request_id(order_id)
    first_item = answer["items"][0]["id"]
    result = t.action("pick", fulfillment_request_id=fr_id, outcome=outcome,
                      items=[first_item])
    assert result["events"] == ["fulfillment_request.items_failed", "order.cancelled"]
    assert result["status"] == "cancelled" and result["fulfillment_request_status"] == "rejected"

    found = t.events(order_id, 5)
    assert names(found) == INJECTED + ["fulfillment_request.items_failed", "order.cancelled"]
    failed = {i["id"]: i["rejection_reason"] for i in found[3][1]["items"]}
    assert failed == {first_item: rejection, answer["items"][1]["id"]: "cannot_fulfill"}
    cancelled = found[4][1]
    assert cancelled["cancellation_reason"] == reason
    assert {i["status"] for i in cancelled["items"]} == {"cancelled"}

    gql = t.graphql(order_id)
    assert gql["status"] == "cancelled"
    assert {i["cancellationReason"] for i in gql["items"]["nodes"]} == {reason}
    assert gql["fulfillmentRequests"]["nodes"][0]["status"] == "rejected"
    assert {i["status"] for i in t.get(f"/v0/orders/{order_id}")["items"]} == {"cancelled"}

    # the external OMS re-routes: the same number is refused (same or changed payload) ...
    for node in (STORE, "US02"):
        r = requests.post(f"{t.url}/v0/d/fulfill_order", headers=t.headers, timeout=10,
                          json=body("SF-2001", shipments=[shipment(
                              item("EXT-1", P1, 50.0, 4.0), item("EXT-2", P2, 30.0, 2.4),
                              routing={"strategy": "external", "fulfillment_node_id": node})]))
        assert r.status_code == 400 and r.json()["error_code"] == "external_id_already_exists"
        assert r.json()["field"] == "external_id" and "new" in r.json()["detail"]
    # ... a new number is accepted and assigned to the other store
    rerouted = t.inject("SF-2001-R1", node="US02")["id"]
    assert rerouted != order_id
    [fr] = t.graphql(rerouted)["fulfillmentRequests"]["nodes"]
    assert fr["fulfillmentLocationId"] == "US02" and fr["status"] == "assigned"
    assert names(t.events(rerouted, 3)) == INJECTED


def test_order_for_an_unconfigured_store_is_cancelled_automatically(t: Tenant):
    answer = t.inject("SF-3001", node="NOWHERE", payment="authorized")
    order_id = answer["id"]
    assert names(t.events(order_id, 3)) == ["order.created", "order.opened", "order.cancelled"]
    gql = t.graphql(order_id)
    assert gql["status"] == "cancelled" and gql["fulfillmentRequests"]["nodes"] == []
    assert {n["transactionType"] for n in gql["paymentAccount"]["transactions"]["nodes"]} == {
        "authorize", "void"}
    # nothing to pick or cancel; a retry of the same injection answers the same ids
    problem = t.action("cancel-items", 409, order_id=order_id, reason="customer_request")
    assert problem["error_code"] == "nothing_to_cancel"
    assert t.inject("SF-3001", node="NOWHERE", payment="authorized") == answer


# -- cancellations ------------------------------------------------------------------------------

def test_cancel_items_partially_then_fully_with_refunds(t: Tenant):
    answer = t.inject("SF-4001")
    order_id = answer["id"]
    first, second = (i["id"] for i in answer["items"])
    part = t.action("cancel-items", order_id=order_id, reason="customer_request",
                    items=[{"item_id": first, "quantity": 1}])
    assert part["events"] == ["order.items_cancelled", "payment_account.amount_refunded"]
    assert part["status"] == "open" and part["item_ids"] == [first]
    assert part["refund_amount"] == 54.0  # 50.00 + 4.00 tax

    rest = t.action("cancel-items", order_id=order_id, reason="fraud")
    assert rest["events"] == ["order.items_cancelled", "order.cancelled",
                              "payment_account.amount_refunded"]
    assert rest["refund_amount"] == 37.8  # the rest of 91.80 captured, shipping included

    found = t.events(order_id, 8)
    assert names(found) == INJECTED + [
        "order.items_cancelled", "payment_account.amount_refunded",
        "order.items_cancelled", "order.cancelled", "payment_account.amount_refunded"]
    assert [(i["id"], i["cancellation_reason"]) for i in found[3][1]["items"]] == [
        (first, "customer_request")]
    assert [(i["id"], i["cancellation_reason"]) for i in found[5][1]["items"]] == [
        (second, "fraud")]
    assert [tx["amount"] for tx in found[4][1]["transactions"]] == [54.0]
    assert [tx["amount"] for tx in found[7][1]["transactions"]] == [37.8]

    account = t.get(f"/v0/c/payments/accounts/{order_id}")
    assert account["instruments"][0]["refund_amount"] == 91.8
    gql = t.graphql(order_id)
    assert gql["status"] == "cancelled"
    assert {i["id"]: i["cancellationReason"] for i in gql["items"]["nodes"]} == {
        first: "customer_request", second: "fraud"}
    assert gql["fulfillmentRequests"]["nodes"][0]["status"] == "cancelled"
    assert sorted(n["amount"] for n in gql["paymentAccount"]["transactions"]["nodes"]
                  if n["transactionType"] == "refund") == [37.8, 54.0]


def test_cancelling_the_rest_of_a_partly_shipped_order_completes_it(t: Tenant):
    answer = t.inject("SF-4002")
    order_id = answer["id"]
    fr_id = t.request_id(order_id)
    first, second = (i["id"] for i in answer["items"])
    t.action("pick", fulfillment_request_id=fr_id, outcome="ok", items=[first])
    t.action("hand-over", fulfillment_request_id=fr_id)
    done = t.action("cancel-items", order_id=order_id, reason="insufficient_stock")
    assert done["item_ids"] == [second] and done["status"] == "closed"
    assert done["events"] == ["order.items_cancelled", "order.completed",
                              "payment_account.amount_refunded"]
    assert done["refund_amount"] == 32.4
    assert t.get(f"/v0/d/fulfillment_requests/{fr_id}")["status"] == "completed"


# -- bad input ---------------------------------------------------------------------------------

def test_bad_input_is_a_problem_that_says_what_was_wrong(t: Tenant):
    answer = t.inject("SF-5001")
    order_id = answer["id"]
    fr_id = t.request_id(order_id)
    cases = [
        ("pick", 400, None, {"fulfillment_request_id": fr_id, "outcome": "maybe"}),
        ("pick", 400, None, {"outcome": "ok"}),
        ("pick", 400, None, {"fulfillment_request_id": fr_id, "outcome": "ok", "x": 1}),
        ("pick", 404, "not_found", {"fulfillment_request_id": "nope", "outcome": "ok"}),
        ("pick", 400, "unknown_item_ids",
         {"fulfillment_request_id": fr_id, "outcome": "ok", "items": ["nope"]}),
        ("hand-over", 404, "not_found", {"fulfillment_request_id": "nope"}),
        ("hand-over", 400, None, {}),
        ("cancel-items", 400, "invalid_cancellation_reason",
         {"order_id": order_id, "reason": "bored"}),
        ("cancel-items", 400, None, {"order_id": order_id}),
        ("cancel-items", 404, "not_found", {"order_id": "nope", "reason": "fraud"}),
        ("cancel-items", 400, "unknown_item_ids",
         {"order_id": order_id, "reason": "fraud", "items": [{"item_id": "nope"}]}),
        ("cancel-items", 400, "invalid_quantity", {"order_id": order_id, "reason": "fraud",
                                                   "items": [{"item_id": answer["items"][0][
                                                       "id"], "quantity": 2}]}),
        ("cancel-items", 400, None, {"order_id": order_id, "reason": "fraud", "items": []}),
    ]
    for action, status, code, payload in cases:
        problem = t.action(action, status, **payload)
        assert problem["detail"], (action, payload)
        if code:
            assert problem["error_code"] == code, (action, payload, problem)
    r = requests.post(f"{t.url}/_sim/actions/pick", data=b"not json",
                      headers={"tenant": t.name, "Content-Type": "application/json"},
                      timeout=10)
    assert r.status_code == 400
    # nothing changed
    assert t.get(f"/v0/d/fulfillment_requests/{fr_id}")["status"] == "assigned"
    t.action("cancel-items", order_id=order_id, reason="fraud")
    closed = t.action("cancel-items", 409, order_id=order_id, reason="fraud",
                      items=[{"item_id": answer["items"][0]["id"]}])
    assert closed["error_code"] == "item_not_open"
    assert t.action("pick", 409, fulfillment_request_id=fr_id, outcome="ok")[
        "error_code"] == "invalid_state_transition"
