"""The mock OMS consumes the Event Stream (POST /oms/events, real HTTP from the dispatcher)
and re-routes an order cancelled for a store's failure under a new order number."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from pytest_httpserver import HTTPServer

from simulator.oms import mock
from tests.conftest import make_settings
from tests.server import register_sink, running_server, wait_for
from tests.test_flow_store_fulfillment import STORE, Tenant


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("reroute") / "sim.db"
    with running_server(make_settings(db=str(db), retry_profile="fast")) as url:
        yield url


@pytest.fixture
def shop(sim: str, httpserver: HTTPServer) -> Tenant:
    """A tenant whose Event Stream also goes to the mock OMS."""
    t = Tenant(sim, httpserver)
    register_sink(sim, t.headers, f"{sim}/oms/events", integration_id="mock-oms",
                  api_key="oms-key")
    return t


def _mock_oms_answers(t: Tenant) -> list[dict[str, Any]]:
    """The mock OMS's answers to the Event Stream, from the simulator's attempt records."""
    r = requests.get(f"{t.url}/_sim/eventstream/attempts", params={
        "tenant": t.name, "integration_id": "mock-oms"}, timeout=10)
    assert r.status_code == 200, r.text
    return [json.loads(a["response_body"]) for a in r.json()["attempts"]
            if a["status_code"] == 200 and a["response_body"]]


def _reroute_of(t: Tenant, order_id: str) -> dict[str, Any] | None:
    for answer in _mock_oms_answers(t):
        if answer.get("action") == "rerouted" and answer["reroute"]["order_id"] == order_id:
            return answer["reroute"]
    return None


def _order_by_number(t: Tenant, number: str) -> tuple[str, dict[str, Any]]:
    ref = t.get(f"/v0/d/external_orders/{number}")
    return ref["order_uuid"], t.get(f"/v0/orders/{ref['order_uuid']}?id_type=internal")


@pytest.mark.parametrize("outcome", ["mispick", "mispack"])
def test_a_failed_pick_is_rerouted_under_a_new_number(shop: Tenant, outcome: str) -> None:
    injected = shop.inject(f"RR-{outcome}")
    frs = shop.action("pick", fulfillment_request_id=_request_of(shop, injected["id"]),
                      outcome=outcome)
    assert "order.cancelled" in frs["events"]
    reroute = wait_for(lambda: _reroute_of(shop, injected["id"]), timeout=15,
                       what="the mock OMS's re-route")
    assert reroute["new_external_id"] == f"RR-{outcome}-R1"
    assert reroute["fulfillment_location_id"] != STORE
    uuid, new = _order_by_number(shop, f"RR-{outcome}-R1")
    assert uuid == reroute["new_order_id"] != injected["id"]
    assert new["id"] == f"RR-{outcome}-R1"
    assert _request_of(shop, uuid, "fulfillmentLocationId") == reroute[
        "fulfillment_location_id"]
    assert sorted(i["product_id"] for i in new["items"]) == sorted(
        i["product_id"] for i in injected["items"])


def _request_of(t: Tenant, order_id: str, field: str = "id") -> str:
    gql = ('query($id: String!, $tenant: String!) { order(id: $id, tenant: $tenant) {'
           ' fulfillmentRequests { nodes { id fulfillmentLocationId } } } }')
    r = requests.post(f"{t.url}/api/v1/org/data/query", headers=t.headers, timeout=10,
                      json={"query": gql, "variables": {"id": order_id, "tenant": t.name}})
    nodes = r.json()["data"]["order"]["fulfillmentRequests"]["nodes"]
    assert nodes, r.text
    return nodes[0][field]


def test_redelivery_answers_the_same_and_injects_nothing(shop: Tenant) -> None:
    injected = shop.inject("RR-dup")
    shop.action("pick", fulfillment_request_id=_request_of(shop, injected["id"]),
                outcome="mispick")
    first = wait_for(lambda: _reroute_of(shop, injected["id"]), timeout=15, what="re-route")
    deliveries = requests.get(f"{shop.url}/_sim/eventstream/deliveries", params={
        "tenant": shop.name, "integration_id": "mock-oms", "event_name": "order.cancelled"},
        timeout=10).json()["deliveries"]
    delivery = next(d for d in deliveries if d["domain_entity_id"] == injected["id"])
    redeliver = f"/_sim/eventstream/deliveries/{delivery['delivery_id']}/_redeliver"
    r = requests.post(shop.url + redeliver, params={"tenant": shop.name}, timeout=10)
    assert r.status_code in (200, 202), r.text
    def rerouted() -> list[dict[str, Any]]:
        return [a["reroute"] for a in _mock_oms_answers(shop) if a["action"] == "rerouted"
                and a["reroute"]["order_id"] == injected["id"]]
    wait_for(lambda: len(rerouted()) >= 2, timeout=15, what="the redelivered event")
    answers = rerouted()
    assert all(a == first for a in answers)
    r = requests.get(f"{shop.url}/v0/d/external_orders/RR-dup-R2", headers=shop.headers,
                     timeout=10)
    assert r.status_code == 404


def test_a_customer_cancellation_is_not_rerouted(shop: Tenant) -> None:
    injected = shop.inject("RR-customer")
    shop.action("cancel-items", order_id=injected["id"], reason="customer_request")
    answer = wait_for(lambda: [a for a in _mock_oms_answers(shop)
                               if a["event"] == "order.cancelled"], timeout=15,
                      what="the OMS's answer")
    assert answer[-1]["action"] == "ignored"
    assert "customer_request" in answer[-1]["reason"]


def test_rules() -> None:
    assert mock.next_order_number("123") == "123-R1"
    assert mock.next_order_number("123-R1") == "123-R2"
    assert mock.next_order_number("A-R9") == "A-R10"
    stock = {("S1", "p"): 5, ("S2", "p"): 0, ("S3", "p"): 2}
    pick = mock.choose_store(["S3", "S2", "S1"], {"p": 2},
                             lambda loc, pid: stock.get((loc, pid), 0), {"S1"})
    assert pick == "S3"
    assert mock.choose_store(["S1"], {"p": 9}, lambda loc, pid: 5, set()) is None


def test_the_events_endpoint_needs_an_envelope(sim: str) -> None:
    r = requests.post(f"{sim}/oms/events", json={"name": "x"},
                      headers={"Authorization": "Bearer k"}, timeout=10)
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/problem+json")
    r = requests.post(f"{sim}/oms/events", json={"tenant": "t", "name": "x", "payload": {}},
                      timeout=10)
    assert r.status_code == 401
