"""Checkout flows through POST /_sim/actions/place-order on a real server: the exact events a
local webhook sink receives (validated against their schemas), REST and GraphQL state, PSP
delays on the manual clock, and ATP from a real availability webhook or the platform's stock."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import uvicorn
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from simulator.app import create_app
from simulator.eventstream import schemas
from simulator.platform import config
from tests.conftest import make_settings
from tests.server import _wait_until_ready, fixed_world, register_sink, server_token, wait_for

_tenants = itertools.count(1)
AUTHORIZED, CAPTURED = "payment_account.amount_authorized", "payment_account.amount_captured"
ORDER_QUERY = """query($id: String!, $tenant: String!) { order(id: $id, tenant: $tenant) {
  status items { nodes { productId status shippingServiceLevel fulfillmentLocationId } }
  paymentAccount { paymentStatus transactions { nodes { transactionType amount } } } } }"""


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """A real server on a manual clock; yields (base URL, app) so tests can reach the store."""
    db = tmp_path_factory.mktemp("checkout") / "sim.db"
    app = create_app(make_settings(db=str(db), retry_profile="fast", clock_mode="manual"))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield _wait_until_ready(server, thread), app
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.platform.store.close()




class Tenant:
    """A fresh tenant with an Event Stream integration pointing at the sink."""

    def __init__(self, sim: tuple[str, Any], sink: HTTPServer) -> None:
        self.url, self.app = sim
        self.name = f"checkout{next(_tenants)}"
        fixed_world(self.url, self.name)
        self.headers = {"tenant": self.name,
                        "Authorization": f"Bearer {server_token(self.url, self.name)}"}
        self.sink = sink
        sink.expect_request("/events", method="POST").respond_with_data("ok")
        register_sink(self.url, self.headers, sink.url_for("/events"))

    def place(self, **body: Any) -> requests.Response:
        return requests.post(f"{self.url}/_sim/actions/place-order", params={"tenant": self.name},
                             json=body, timeout=30)

    def sim(self, method: str, path: str, params: dict | None = None,
            **kw: Any) -> requests.Response:
        return requests.request(method, f"{self.url}/_sim/{path}",
                                params={"tenant": self.name, **(params or {})}, timeout=30, **kw)

    def clock(self, json: dict) -> requests.Response:
        return requests.post(f"{self.url}/_sim/clock/advance", json=json, timeout=30)

    def get(self, path: str, **params: Any) -> requests.Response:
        return requests.get(f"{self.url}{path}", headers=self.headers, params=params, timeout=10)

    def stock(self, location: str, **quantities: int) -> None:
        r = requests.post(f"{self.url}/v0/d/import/availability", headers=self.headers, json={
            "fulfillment_location_id": location,
            "items": [{"product_id": p, "quantity": q} for p, q in quantities.items()]},
            timeout=10)
        assert r.status_code == 200, r.text

    def webhook(self, url: str, timeout: int = 5) -> None:
        """The ATP webhook, written past the API's https/5..60 s rules (a local test OMS)."""
        with self.app.platform.store.tx() as tx:
            config._store(tx, self.name, config.AVAILABILITY_WEBHOOK, {
                "url": url, "api_key": "atp-key-0123456789abcdef",
                "external_identifier": "product_id", "timeout": timeout})

    def products(self, n: int) -> list[str]:
        with self.app.platform.store.read() as tx:
            return [d["id"] for d in tx.query(self.name, "product", ascending=True, limit=n)]

    def published(self, order_id: str, count: int) -> list[str]:
        """Event names about the order in publication order, once all were delivered."""
        def delivered() -> list[dict] | None:
            r = self.sim("GET", "eventstream/deliveries", params={"tenant": self.name,
                                                                   "limit": 1000})
            mine = [d for d in r.json()["deliveries"] if d["domain_entity_id"] == order_id]
            if len(mine) >= count and all(d["status"] == "delivered" for d in mine):
                return sorted(mine, key=lambda d: d["delivery_id"])
            return None
        deliveries = wait_for(delivered, what=f"{count} deliveries of {order_id}")
        envelopes = [json.loads(req.get_data()) for req, _ in self.sink.log
                     if req.path == "/events"]
        for env in envelopes:  # what the sink received, each valid against its schema
            if env["payload"].get("id") == order_id:
                schemas.validate(env["name"], env["payload"])
        received = sorted(env["name"] for env in envelopes
                          if env["tenant"] == self.name and env["payload"]["id"] == order_id)
        names = [d["event_name"] for d in deliveries]
        assert sorted(names) == received
        return names

    def graphql(self, order_id: str) -> dict:
        r = requests.post(f"{self.url}/api/v1/org/data/query", headers=self.headers, timeout=10,
                          json={"query": ORDER_QUERY,
                                "variables": {"id": order_id, "tenant": self.name}})
        assert r.status_code == 200 and "errors" not in r.json(), r.text
        return r.json()["data"]["order"]


@pytest.fixture
def tenant(sim, httpserver) -> Tenant:
    return Tenant(sim, httpserver)


def assert_problem(r: requests.Response, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("application/problem+json")
    body = r.json()
    if code:
        assert body["error_code"] == code, body
    return body


def assert_nothing_created(tenant: Tenant, before: int) -> None:
    r = tenant.sim("GET", "eventstream/deliveries", params={"tenant": tenant.name})
    assert len(r.json()["deliveries"]) == before


# -- cash & carry ----------------------------------------------------------------------------

def test_cash_and_carry(tenant):
    pid = tenant.products(1)[0]
    r = tenant.place(kind="cash_and_carry", items=[{"product_id": pid, "quantity": 2}])
    assert r.status_code == 201, r.text
    body = r.json()
    flow = [AUTHORIZED, "order.created", "order.opened", "order.completed", CAPTURED]
    assert body["events"] == flow
    assert body["status"] == "complete" and body["payment_status"] == "captured"
    assert body["payment_account_id"] == body["order_id"] and body["atp_source"] is None
    assert tenant.published(body["order_id"], 5) == flow
    rest = tenant.get(f"/v0/orders/{body['order_id']}").json()
    assert rest["status"] == "closed" and rest["fulfillment_type"] == "in_store_purchase"
    assert [i["status"] for i in rest["items"]] == ["complete", "complete"]
    account = tenant.get(f"/v0/c/payments/accounts/{body['order_id']}").json()
    assert account["payment_status"] == "captured"
    gql = tenant.graphql(body["order_id"])
    assert gql["status"] == "closed"
    assert {i["status"] for i in gql["items"]["nodes"]} == {"completed"}
    assert {i["shippingServiceLevel"] for i in gql["items"]["nodes"]} == {"IN_STORE_HANDOVER"}
    assert gql["paymentAccount"]["paymentStatus"] == "captured"
    assert [t["transactionType"] for t in gql["paymentAccount"]["transactions"]["nodes"]] == \
        ["authorize", "capture"]


def test_cash_and_carry_waits_for_a_delayed_authorization(tenant):
    r = tenant.sim("PUT", "psp", json={"default": {"authorize_delay_s": 60}})
    assert r.status_code == 200, r.text
    r = tenant.place(kind="cash_and_carry", payment_method="cash")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "awaiting_payment" and body["events"] == []
    assert body["payment_status"] == "pending"
    assert tenant.get(f"/v0/orders/{body['order_id']}").status_code == 404
    r = requests.post(f"{tenant.url}/api/v1/org/data/query", headers=tenant.headers, timeout=10,
                      json={"query": ORDER_QUERY,
                            "variables": {"id": body["order_id"], "tenant": tenant.name}})
    assert r.json()["data"]["order"] is None
    assert tenant.clock(json={"seconds": 61}).status_code == 200
    wait_for(lambda: tenant.get(f"/v0/orders/{body['order_id']}").status_code == 200,
             what="the order after the authorization")
    flow = [AUTHORIZED, "order.created", "order.opened", "order.completed", CAPTURED]
    assert tenant.published(body["order_id"], 5) == flow
    assert tenant.graphql(body["order_id"])["paymentAccount"]["paymentStatus"] == "captured"


def test_cash_and_carry_capture_delay_sends_the_capture_later(tenant):
    tenant.sim("PUT", "psp", json={"credit_card": {"capture_delay_s": 30}})
    body = tenant.place(kind="cash_and_carry").json()
    assert body["events"] == [AUTHORIZED, "order.created", "order.opened", "order.completed"]
    assert body["status"] == "complete" and body["payment_status"] == "authorized"
    assert tenant.graphql(body["order_id"])["paymentAccount"]["paymentStatus"] == "authorized"
    tenant.clock(json={"seconds": 31})
    wait_for(lambda: tenant.graphql(body["order_id"])["paymentAccount"]["paymentStatus"]
             == "captured", what="the capture")
    assert tenant.published(body["order_id"], 5)[-1] == CAPTURED


def test_declined_authorization_creates_nothing(tenant):
    tenant.sim("PUT", "psp", json={"default": {"failure_rate": 1}})
    body = assert_problem(tenant.place(kind="cash_and_carry"), 409, "payment_declined")
    assert tenant.get(f"/v0/orders/{body['payment_account_id']}").status_code == 404
    assert tenant.get(f"/v0/c/payments/accounts/{body['payment_account_id']}").status_code == 404
    assert_nothing_created(tenant, 0)


# -- endless aisle -----------------------------------------------------------------------------

def atp_answer(availabilities: list[tuple[str, str, int]]) -> dict:
    return {"availabilities": [{"product_id": p, "external_identifier": p,
                                "fulfillment_location": loc, "atp": n}
                               for p, loc, n in availabilities]}


def test_endless_aisle_with_the_atp_webhook(tenant, httpserver):
    a, b = tenant.products(2)
    httpserver.expect_request("/atp", method="POST").respond_with_json(
        atp_answer([(a, "DC01", 1), (a, "DC02", 1), (b, "DC02", 5)]))
    tenant.webhook(httpserver.url_for("/atp"))
    r = tenant.place(kind="endless_aisle", items=[{"product_id": a, "quantity": 2},
                                                  {"product_id": b}])
    assert r.status_code == 201, r.text
    body = r.json()
    flow = [AUTHORIZED, CAPTURED, "order.created", "order.opened"]
    assert body["events"] == flow and body["atp_source"] == "webhook"
    assert body["status"] == "complete" and body["payment_status"] == "captured"
    [request] = [req for req, _ in httpserver.log if req.path == "/atp"]
    assert request.headers["Authorization"] == "atp-key-0123456789abcdef"
    sent = json.loads(request.get_data())
    assert sent["products"] == [{"product_id": a, "external_identifier": a},
                                {"product_id": b, "external_identifier": b}]
    assert sent["fulfillment_locations"] == ["DC01", "DC02"]
    assert tenant.published(body["order_id"], 4) == flow
    rest = tenant.get(f"/v0/orders/{body['order_id']}").json()
    assert rest["status"] == "closed" and rest["fulfillment_type"] == "traditional"
    assert {i["status"] for i in rest["items"]} == {"in_fulfillment"}
    gql = tenant.graphql(body["order_id"])
    assert gql["status"] == "closed"
    items = gql["items"]["nodes"]
    assert {i["status"] for i in items} == {"captured"}
    assert sorted(i["fulfillmentLocationId"] for i in items if i["productId"] == a) == \
        ["DC01", "DC02"]  # a split shipment
    assert gql["paymentAccount"]["paymentStatus"] == "captured"


def test_endless_aisle_uses_platform_stock_without_a_webhook(tenant):
    a = tenant.products(1)[0]
    tenant.stock("DC01", **{a: 3})
    tenant.stock("DC02", **{a: 0})  # the generated world stocks both distribution centers
    body = tenant.place(kind="endless_aisle", items=[{"product_id": a, "quantity": 3}]).json()
    assert body["atp_source"] == "stock" and body["events"][-1] == "order.opened"
    problem = assert_problem(tenant.place(kind="endless_aisle",
                                          items=[{"product_id": a, "quantity": 4}]),
                             409, "products_not_available")
    assert problem["unavailable"] == [{"product_id": a, "requested": 4, "available": 3,
                                       "reason": "partially_available",
                                       "detail": "3 of 4 available (across every location)"}]


def test_endless_aisle_pre_capture_waits_for_both_psp_delays(tenant):
    a = tenant.products(1)[0]
    tenant.stock("DC02", **{a: 1})
    tenant.sim("PUT", "psp", json={"default": {"authorize_delay_s": 10,
                                               "capture_delay_s": 10}})
    body = tenant.place(kind="endless_aisle", items=[{"product_id": a}]).json()
    assert body["status"] == "awaiting_payment" and body["events"] == []
    tenant.clock(json={"seconds": 11})
    wait_for(lambda: tenant.sim("GET", "psp/operations",
                                params={"tenant": tenant.name, "status": "pending"}
                                ).json()["operations"], what="the capture request")
    assert tenant.get(f"/v0/orders/{body['order_id']}").status_code == 404
    tenant.clock(json={"seconds": 11})
    wait_for(lambda: tenant.get(f"/v0/orders/{body['order_id']}").status_code == 200,
             what="the order")
    assert tenant.published(body["order_id"], 4) == [AUTHORIZED, CAPTURED, "order.created",
                                                     "order.opened"]


def _not_available(tenant: Tenant, reason: str, **place: Any) -> dict:
    before = len(tenant.sim("GET", "eventstream/deliveries",
                            params={"tenant": tenant.name}).json()["deliveries"])
    problem = assert_problem(tenant.place(kind="endless_aisle", **place), 409,
                             "products_not_available")
    assert {u["reason"] for u in problem["unavailable"]} == {reason}, problem
    assert_nothing_created(tenant, before)
    with tenant.app.platform.store.read() as tx:
        assert not [o for o in tx.query(tenant.name, "order", limit=2000)
                    if o.get("origin") == "associate_app"]
    return problem


def test_partly_unavailable_quantity(tenant, httpserver):
    a = tenant.products(1)[0]
    httpserver.expect_request("/atp").respond_with_json(atp_answer([(a, "DC01", 1)]))
    tenant.webhook(httpserver.url_for("/atp"))
    problem = _not_available(tenant, "partially_available",
                             items=[{"product_id": a, "quantity": 2}])
    assert problem["unavailable"][0]["available"] == 1


def test_unknown_location_counts_for_nothing(tenant, httpserver):
    a = tenant.products(1)[0]
    httpserver.expect_request("/atp").respond_with_json(atp_answer([(a, "XX99", 50)]))
    tenant.webhook(httpserver.url_for("/atp"))
    problem = _not_available(tenant, "location_not_configured", items=[{"product_id": a}])
    assert "XX99" in problem["unavailable"][0]["detail"]


def test_webhook_answering_500_means_nothing_is_available(tenant, httpserver):
    a = tenant.products(1)[0]
    httpserver.expect_request("/atp").respond_with_data("boom", status=500)
    tenant.webhook(httpserver.url_for("/atp"))
    problem = _not_available(tenant, "atp_webhook_failed", items=[{"product_id": a}])
    assert "500" in problem["unavailable"][0]["detail"]


def test_oms_fault_fails_the_atp_call_without_reaching_the_oms(tenant, httpserver):
    a = tenant.products(1)[0]
    httpserver.expect_request("/atp").respond_with_json(atp_answer([(a, "DC01", 5)]))
    tenant.webhook(httpserver.url_for("/atp"))
    r = tenant.sim("POST", "faults", json={"system": "oms", "operation": "availability",
                                           "status": 503, "times": 1})
    assert r.status_code == 201, r.text
    problem = _not_available(tenant, "atp_webhook_failed", items=[{"product_id": a}])
    assert "503" in problem["unavailable"][0]["detail"]
    assert not [req for req, _ in httpserver.log if req.path == "/atp"]  # the OMS was spared
    journal = tenant.sim("GET", "journal", params={"system": "oms"}).json()["entries"]
    assert journal[0]["status"] == 503 and journal[0]["operation_id"] == "availability"
    r = tenant.place(kind="endless_aisle", items=[{"product_id": a}])  # the fault fired once
    assert r.status_code == 201, r.text


def test_oms_latency_fault_beyond_the_timeout_is_a_timeout(tenant, httpserver):
    a = tenant.products(1)[0]
    httpserver.expect_request("/atp").respond_with_json(atp_answer([(a, "DC01", 5)]))
    tenant.webhook(httpserver.url_for("/atp"), timeout=1)
    r = tenant.sim("POST", "faults", json={"system": "oms", "operation": "availability",
                                           "status": None, "latency_ms": 1500})
    assert r.status_code == 201, r.text
    problem = _not_available(tenant, "atp_webhook_failed", items=[{"product_id": a}])
    assert "within 1 s" in problem["unavailable"][0]["detail"]


def test_webhook_timing_out_means_nothing_is_available(tenant, httpserver):
    a = tenant.products(1)[0]

    def slow(_request: Request) -> Response:
        time.sleep(2)
        return Response(json.dumps(atp_answer([(a, "DC01", 9)])), content_type="application/json")

    httpserver.expect_request("/atp").respond_with_handler(slow)
    tenant.webhook(httpserver.url_for("/atp"), timeout=1)
    started = time.monotonic()
    problem = _not_available(tenant, "atp_webhook_failed", items=[{"product_id": a}])
    assert time.monotonic() - started < 2.5
    assert "within 1 s" in problem["unavailable"][0]["detail"]


@pytest.mark.parametrize("answer", [{"nope": []}, {"availabilities": [{"product_id": "x"}]},
                                    "not json"])
def test_malformed_webhook_answer_means_nothing_is_available(tenant, httpserver, answer):
    a = tenant.products(1)[0]
    if isinstance(answer, str):
        httpserver.expect_request("/atp").respond_with_data(answer)
    else:
        httpserver.expect_request("/atp").respond_with_json(answer)
    tenant.webhook(httpserver.url_for("/atp"))
    problem = _not_available(tenant, "atp_webhook_failed", items=[{"product_id": a}])
    assert "malformed" in problem["unavailable"][0]["detail"]


# -- mixed cart ----------------------------------------------------------------------------------

def test_mixed_cart(tenant, httpserver):
    carry, ship = tenant.products(2)
    httpserver.expect_request("/atp").respond_with_json(atp_answer([(ship, "DC02", 1)]))
    tenant.webhook(httpserver.url_for("/atp"))
    r = tenant.place(kind="mixed_cart", items=[{"product_id": carry, "fulfillment": "carry"},
                                               {"product_id": ship, "fulfillment": "ship"}])
    assert r.status_code == 201, r.text
    body = r.json()
    flow = [AUTHORIZED, CAPTURED, "order.created", "order.opened"]
    assert body["events"] == flow and body["status"] == "partially_complete"
    [request] = [req for req, _ in httpserver.log if req.path == "/atp"]
    assert [p["product_id"] for p in json.loads(request.get_data())["products"]] == [ship]
    assert tenant.published(body["order_id"], 4) == flow
    rest = tenant.get(f"/v0/orders/{body['order_id']}").json()
    assert rest["status"] == "open" and rest["fulfillment_type"] == "multiple"
    assert {i["product_id"]: i["status"] for i in rest["items"]} == {
        carry: "complete", ship: "in_fulfillment"}
    gql = tenant.graphql(body["order_id"])
    assert gql["status"] == "partially_complete"
    assert {i["productId"]: i["status"] for i in gql["items"]["nodes"]} == {
        carry: "completed", ship: "captured"}
    assert gql["paymentAccount"]["paymentStatus"] == "captured"


def test_mixed_cart_checks_availability_of_the_ship_items_only(tenant):
    carry, ship = tenant.products(2)
    for dc in ("DC01", "DC02"):
        tenant.stock(dc, **{carry: 0, ship: 0})
    problem = assert_problem(tenant.place(kind="mixed_cart", items=[
        {"product_id": carry, "quantity": 1, "fulfillment": "carry"},
        {"product_id": ship, "quantity": 1, "fulfillment": "ship"}]),
        409, "products_not_available")
    assert [u["product_id"] for u in problem["unavailable"]] == [ship]


# -- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("body,status,field", [
    ({}, 400, None),
    ({"kind": "teleport"}, 400, None),
    ({"kind": "cash_and_carry", "items": []}, 400, None),
    ({"kind": "cash_and_carry", "items": [{"product_id": "1000061", "quantity": 0}]}, 400, None),
    ({"kind": "cash_and_carry", "payment_method": "bitcoin"}, 400, None),
    ({"kind": "cash_and_carry", "surprise": 1}, 400, None),
    ({"kind": "cash_and_carry", "items": [{"product_id": "nope"}]}, 422, "items[0].product_id"),
    ({"kind": "cash_and_carry", "items": [{"product_id": "1000061", "fulfillment": "ship"}]},
     422, "items[0].fulfillment"),
    ({"kind": "mixed_cart", "items": [{"product_id": "1000061", "fulfillment": "carry"}]},
     422, "items"),
    ({"kind": "mixed_cart", "items": [{"product_id": "1000061"}]}, 422, "items[0].fulfillment"),
    ({"kind": "cash_and_carry", "customer_email": "nobody"}, 422, "customer_email"),
    ({"kind": "endless_aisle", "service_level": "WARP"}, 422, "service_level"),
    ({"kind": "cash_and_carry", "store_id": "DC01"}, 404, None),
])
def test_bad_input_is_a_4xx_problem(tenant, body, status, field):
    problem = assert_problem(tenant.place(**body), status)
    if field:
        assert problem.get("field") == field, problem


def test_cash_is_refused_for_endless_aisle_unless_enabled(tenant):
    assert_problem(tenant.place(kind="endless_aisle", payment_method="cash"), 409,
                   "cash_not_enabled_for_endless_aisle")
