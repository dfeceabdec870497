"""In-store returns (referenced, unreferenced), appeasements and exchanges driven through
/_sim/actions on a real server, checked in REST, GraphQL and at a real webhook sink."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from pytest_httpserver import HTTPServer

from simulator.eventstream import schemas
from tests.conftest import make_settings
from tests.server import fixed_world, register_sink, running_server, server_token, wait_for

_tenants = itertools.count(1)
REFUNDED = "payment_account.amount_refunded"
ORDERS_QUERY = """{ orders(first: 300) { nodes { id status grandTotal
  items { nodes { id productId status pricebookPrice itemDiscounts orderDiscounts } }
  paymentAccount { instruments { nodes { paymentMethod } }
                   transactions { nodes { transactionType amount } } } } } }"""
ORDER_QUERY = """query ($id: String!, $tenant: String!) { order(id: $id, tenant: $tenant) {
  id status isExchange grandTotal externalId
  exchanges { nodes { orderId returnId } }
  items { nodes { id productId status } }
  returns { nodes { id origin totalRefundAmount } }
  refunds { nodes { id type amount status } }
  paymentAccount { instruments { nodes { id paymentMethod paymentOrigin
      paymentAccountTransactions { nodes { amount transactionType correlationId } } } } } } }"""


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A simulator on a manual clock, its dispatcher and timers running."""
    db = tmp_path_factory.mktemp("aftersales") / "sim.db"
    with running_server(make_settings(db=str(db), retry_profile="fast",
                                      clock_mode="manual")) as url:
        yield url




class Shop:
    """A fresh tenant with an Event Stream integration posting to the sink."""

    def __init__(self, url: str, httpserver: HTTPServer) -> None:
        self.url = url
        self.name = f"aftersales{next(_tenants)}"
        fixed_world(url, self.name)
        self.sink = f"/sink/{self.name}"
        self.httpserver = httpserver
        self.headers = {"tenant": self.name,
                        "Authorization": f"Bearer {server_token(url, self.name)}"}
        httpserver.expect_request(self.sink, method="POST").respond_with_data("ok")
        register_sink(url, self.headers, httpserver.url_for(self.sink), "erp")

    def action(self, name: str, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
        r = requests.post(f"{self.url}/_sim/actions/{name}", json=body,
                          params={"tenant": self.name}, timeout=30)
        assert r.status_code == status, r.text
        if status >= 400:
            assert r.headers["content-type"].startswith("application/problem+json")
        return r.json()

    def get(self, path: str) -> Any:
        r = requests.get(f"{self.url}{path}", headers=self.headers, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def put(self, path: str, body: Any) -> Any:
        r = requests.put(f"{self.url}{path}", json=body, headers=self.headers, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        r = requests.post(f"{self.url}/api/v1/org/data/query", headers=self.headers,
                          json={"query": query, "variables": variables}, timeout=10)
        assert r.status_code == 200, r.text
        body = r.json()
        assert "errors" not in body, body
        return body["data"]

    def order(self, order_id: str) -> dict[str, Any]:
        return self.graphql(ORDER_QUERY, id=order_id, tenant=self.name)["order"]

    def returnable_order(self, method: str = "credit_card", skip: int = 0) -> dict[str, Any]:
        """A closed historical order, all items completed, captured, never refunded."""
        found = self._returnable(method)
        assert len(found) > skip, "the world has no fitting order"
        return found[skip]

    def undiscounted_item(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """A returnable order and one of its items bought at the full price."""
        for order in self._returnable("credit_card"):
            for item in order["items"]["nodes"]:
                if item["itemDiscounts"] == 0 and item["orderDiscounts"] == 0:
                    return order, item
        raise AssertionError("the world has no returnable item bought at the full price")

    def _returnable(self, method: str) -> list[dict[str, Any]]:
        found = []
        for order in self.graphql(ORDERS_QUERY)["orders"]["nodes"]:
            txs = [t["transactionType"] for t in order["paymentAccount"]["transactions"]["nodes"]]
            methods = [i["paymentMethod"] for i in order["paymentAccount"]["instruments"]["nodes"]]
            items = order["items"]["nodes"]
            if (order["status"] == "closed" and "capture" in txs and "refund" not in txs
                    and methods == [method] and len(items) >= 2
                    and all(i["status"] == "completed" for i in items)):
                found.append(order)
        return found

    def published(self) -> list[str]:
        """Event names in publication order (the outbox order of the deliveries)."""
        r = requests.get(f"{self.url}/_sim/eventstream/deliveries",
                         params={"tenant": self.name, "limit": 1000}, timeout=10)
        assert r.status_code == 200, r.text
        return [d["event_name"] for d in sorted(r.json()["deliveries"],
                                                key=lambda d: d["delivery_id"])]

    def received(self, count: int) -> list[dict[str, Any]]:
        """The envelopes the sink received, once there are `count`; each payload valid."""
        def got() -> list[dict[str, Any]]:
            return [json.loads(req.get_data()) for req, _ in self.httpserver.log
                    if req.path == self.sink]
        envelopes = wait_for(lambda: len(got()) >= count and got(), what=f"{count} events")
        assert len(envelopes) == count, [e["name"] for e in envelopes]
        for envelope in envelopes:
            assert envelope["tenant"] == self.name
            assert schemas.validate(envelope["name"], envelope["payload"]) == [], envelope
        return envelopes


@pytest.fixture
def shop(sim: str, httpserver: HTTPServer) -> Shop:
    return Shop(sim, httpserver)


def by_name(envelopes: list[dict[str, Any]], name: str) -> dict[str, Any]:
    [payload] = [e["payload"] for e in envelopes if e["name"] == name]
    return payload


# -- referenced returns --------------------------------------------------------------------

def test_referenced_return_refunds_the_original_payment(shop):
    order = shop.returnable_order()
    item = order["items"]["nodes"][0]
    result = shop.action("return", {"order_id": order["id"], "items": [{"item_id": item["id"]}],
                                    "reason": "Too small"})
    assert result["events"] == ["return.processed", REFUNDED]
    assert result["order_id"] == order["id"] and result["refund_status"] == "completed"
    assert shop.published() == ["return.processed", REFUNDED]
    envelopes = shop.received(2)
    ret = by_name(envelopes, "return.processed")
    assert ret["id"] == result["return_id"] and ret["order_id"] == order["id"]
    assert [i["order_item_id"] for i in ret["items"]] == [item["id"]]
    assert ret["items"][0]["return_reason"] == "Too small"
    refunded = by_name(envelopes, REFUNDED)
    assert refunded["transactions"][0]["correlation_id"] == result["return_id"]
    assert refunded["transactions"][0]["amount"] == ret["total_refund_amount"]
    assert refunded["instruments"][0]["payment_method"] == "credit_card"
    # REST
    rest = shop.get(f"/v0/d/orders/{order['id']}/returns/{result['return_id']}")
    assert rest["total_refund_amount"] == ret["total_refund_amount"]
    [refund] = shop.get(f"/v0/d/orders/{order['id']}/refunds")["refunds"]
    assert refund["id"] == result["refund_id"] and refund["status"] == "completed"
    # GraphQL
    view = shop.order(order["id"])
    statuses = {i["id"]: i["status"] for i in view["items"]["nodes"]}
    assert statuses[item["id"]] == "returned"
    assert list(statuses.values()).count("returned") == 1
    [instrument] = view["paymentAccount"]["instruments"]["nodes"]
    refunds = [t for t in instrument["paymentAccountTransactions"]["nodes"]
               if t["transactionType"] == "refund"]
    assert refunds == [{"amount": ret["total_refund_amount"], "transactionType": "refund",
                        "correlationId": result["return_id"]}]


def test_return_by_product_and_nothing_left_to_return(shop):
    order = shop.returnable_order()
    items = order["items"]["nodes"]
    everything = [{"item_id": i["id"]} for i in items]
    shop.action("return", {"order_id": order["id"], "items": everything})
    problem = shop.action("return", {"order_id": order["id"],
                                     "items": [{"product_id": items[0]["productId"]}]}, 400)
    assert problem["error_code"] == "invalid_return_items"
    assert "only 0 more can be returned" in problem["detail"]
    problem = shop.action("return", {"order_id": order["id"], "items": everything[:1]}, 400)
    assert "returned" in problem["detail"] and problem["field"] == "items[0].item_id"


@pytest.mark.parametrize("method", ["gift_card", "e_gift_card", "credit_card", "external"])
def test_refund_option_refused_then_allowed(shop, method):
    order = shop.returnable_order("cash" if method == "credit_card" else "credit_card")
    item = order["items"]["nodes"][0]
    body = {"order_id": order["id"], "items": [{"item_id": item["id"]}],
            "refund_method": method}
    problem = shop.action("return", body, 400)
    assert problem["error_code"] == "refund_option_not_allowed"
    assert problem["field"] == "refund_method" and "original" in problem["detail"]
    shop.put("/v1/p/config/payment_options", {"refund_options": ["original", method]})
    result = shop.action("return", body)
    assert result["events"] == ["return.processed", REFUNDED]
    refunded = by_name(shop.received(2), REFUNDED)
    [instrument] = refunded["instruments"]
    assert instrument["payment_method"] == method
    methods = [i["paymentMethod"] for i in
               shop.order(order["id"])["paymentAccount"]["instruments"]["nodes"]]
    assert method in methods


def test_store_mapping_decides_the_refund_options(shop):
    order = shop.returnable_order()
    item = order["items"]["nodes"][0]
    shop.put("/v1/p/config/payment_options", {
        "refund_options": ["original"],
        "store_mapping": {"US02": {"refund_options": ["gift_card"]}}})
    body = {"order_id": order["id"], "items": [{"item_id": item["id"]}], "store_id": "US02"}
    problem = shop.action("return", body, 400)  # original is not an option in US02
    assert problem["error_code"] == "refund_option_not_allowed"
    result = shop.action("return", dict(body, refund_method="gift_card"))
    assert result["events"] == ["return.processed", REFUNDED]
    ret = shop.get(f"/v0/d/orders/{order['id']}/returns/{result['return_id']}")
    assert ret["return_location_id"] == "US02"


# -- unreferenced returns ------------------------------------------------------------------

def test_unreferenced_return_refunds_the_supplied_payment(shop):
    products = [o["items"]["nodes"][0]["productId"] for o in
                [shop.returnable_order(), shop.returnable_order(skip=1)]]
    result = shop.action("return", {
        "items": [{"product_id": products[0], "quantity": 2}, {"product_id": products[1]}],
        "external_order_id": "GD000001234", "store_id": "US01",
        "payment_details": {"payment_method": "credit_card", "last4": "4242"}})
    assert result["events"] == ["return.processed", REFUNDED]
    assert result["origin"] == "external"
    envelopes = shop.received(2)
    ret = by_name(envelopes, "return.processed")
    assert len(ret["items"]) == 3 and ret["return_location_id"] == "US01"
    refunded = by_name(envelopes, REFUNDED)
    assert refunded["transactions"][0]["amount"] == ret["total_refund_amount"] \
        == result["refund_amount"]
    view = shop.order(result["order_id"])
    assert view["status"] == "created_for_blind_return"
    assert view["externalId"] == "GD000001234"
    assert [i["status"] for i in view["items"]["nodes"]] == ["returned"] * 3
    assert view["returns"]["nodes"][0]["origin"] == "external"
    [instrument] = view["paymentAccount"]["instruments"]["nodes"]
    assert instrument["paymentOrigin"] == "external"
    assert [t["transactionType"] for t in instrument["paymentAccountTransactions"]["nodes"]] \
        == ["refund"]


def test_unreferenced_return_needs_payment_details_and_known_products(shop):
    problem = shop.action("return", {"items": [{"product_id": "nope"}]}, 400)
    assert problem["error_code"] == "missing_payment_details"
    problem = shop.action("return", {"items": [{"product_id": "nope"}],
                                     "payment_details": {"payment_method": "cash"}}, 400)
    assert problem["error_code"] == "unknown_product" and problem["field"] == \
        "items[0].product_id"
    problem = shop.action("return", {"items": [{"product_id": "nope"}],
                                     "payment_details": {"amount": 3}}, 400)
    assert problem["field"] == "payment_details.payment_method"


# -- the PSP's refund delay ------------------------------------------------------------------

def test_refund_delay_keeps_payment_details_out_of_graphql_until_the_clock_moves(shop):
    r = requests.put(f"{shop.url}/_sim/psp", params={"tenant": shop.name},
                     json={"credit_card": {"refund_delay_s": 300}}, timeout=10)
    assert r.status_code == 200, r.text
    order = shop.returnable_order()
    item = order["items"]["nodes"][0]
    result = shop.action("return", {"order_id": order["id"],
                                    "items": [{"item_id": item["id"]}]})
    assert result["events"] == ["return.processed"]
    assert result["refund_status"] == "pending"

    def refunds() -> list[dict[str, Any]]:
        view = shop.order(order["id"])
        return [t for i in view["paymentAccount"]["instruments"]["nodes"]
                for t in i["paymentAccountTransactions"]["nodes"]
                if t["transactionType"] == "refund"]

    shop.received(1)
    assert refunds() == []  # the "payment details unavailable" exception
    [refund] = shop.get(f"/v0/d/orders/{order['id']}/refunds")["refunds"]
    assert refund["status"] == "pending"
    r = requests.post(f"{shop.url}/_sim/clock/advance", json={"seconds": 301}, timeout=10)
    assert r.status_code == 200, r.text
    [booked] = wait_for(refunds, what="the refund transaction")
    assert booked["correlationId"] == result["return_id"]
    assert shop.published() == ["return.processed", REFUNDED]
    envelopes = shop.received(2)
    assert [e["name"] for e in envelopes] == ["return.processed", REFUNDED]
    [refund] = shop.get(f"/v0/d/orders/{order['id']}/refunds")["refunds"]
    assert refund["status"] == "completed"


# -- appeasements ------------------------------------------------------------------------------

def test_appeasement_is_refunded_and_issued(shop):
    order = shop.returnable_order()
    result = shop.action("appease", {"order_id": order["id"], "amount": 5.5,
                                     "note": "Scratched box"})
    assert result["events"] == ["refund_request.issued", REFUNDED]
    envelopes = shop.received(2)
    issued = by_name(envelopes, "refund_request.issued")
    assert issued == {**issued, "id": result["refund_id"], "order_id": order["id"],
                      "amount": 5.5, "return_reason": "Price adjustment",
                      "note": "Scratched box"}
    assert by_name(envelopes, REFUNDED)["transactions"][0]["correlation_id"] == \
        result["refund_id"]
    [refund] = shop.get(f"/v0/d/orders/{order['id']}/refunds")["refunds"]
    assert refund["type"] == "appeasement" and refund["amount"] == 5.5


def test_appeasement_over_the_refundable_amount_is_refused(shop):
    order = shop.returnable_order()
    problem = shop.action("appease", {"order_id": order["id"],
                                      "amount": order["grandTotal"] + 0.01}, 400)
    assert problem["error_code"] == "refund_amount_exceeds_balance"
    assert problem["refundable_balance"] == order["grandTotal"]
    shop.action("appease", {"order_id": order["id"], "amount": order["grandTotal"]})
    problem = shop.action("appease", {"order_id": order["id"], "amount": 0.01}, 400)
    assert problem["refundable_balance"] == 0


# -- exchanges -------------------------------------------------------------------------------

def test_even_exchange_moves_no_money(shop):
    order, item = shop.undiscounted_item()  # a discounted one costs more when bought again
    result = shop.action("exchange", {"order_id": order["id"],
                                      "return_items": [{"item_id": item["id"]}],
                                      "new_items": [{"product_id": item["productId"]}]})
    assert result["difference"] == 0
    assert result["events"] == ["return.processed", "order.created", "order.opened"]
    envelopes = shop.received(3)
    created = by_name(envelopes, "order.created")
    assert created["id"] == result["new_order_id"] and created["is_exchange"] is True
    assert created["exchanges"] == [{"order_id": order["id"], "return_id": result["return_id"]}]
    view = shop.order(result["new_order_id"])
    assert view["isExchange"] is True
    assert view["exchanges"]["nodes"] == [{"orderId": order["id"],
                                           "returnId": result["return_id"]}]
    [credit] = view["paymentAccount"]["instruments"]["nodes"]
    assert credit["paymentMethod"] == "store_credit"
    old = shop.order(order["id"])
    assert not [t for i in old["paymentAccount"]["instruments"]["nodes"]
                for t in i["paymentAccountTransactions"]["nodes"]
                if t["transactionType"] == "refund"]


def _cheapest_and_dearest(shop: Shop) -> tuple[dict[str, Any], str, str]:
    order = shop.returnable_order()
    nodes = [n for o in shop.graphql(ORDERS_QUERY)["orders"]["nodes"] for n in o["items"]["nodes"]]
    by_price = sorted({(n["pricebookPrice"], n["productId"]) for n in nodes})
    return order, by_price[0][1], by_price[-1][1]


def test_uneven_exchange_charges_the_difference(shop):
    order, _, dearest = _cheapest_and_dearest(shop)
    item = order["items"]["nodes"][0]
    result = shop.action("exchange", {"order_id": order["id"],
                                      "return_items": [{"item_id": item["id"]}],
                                      "new_items": [{"product_id": dearest, "quantity": 3}]})
    assert result["difference"] > 0
    assert result["events"] == ["return.processed", "payment_account.amount_authorized",
                                "order.created", "order.opened",
                                "payment_account.amount_captured"]
    assert shop.published() == result["events"]
    envelopes = shop.received(5)
    captured = by_name(envelopes, "payment_account.amount_captured")
    assert captured["id"] == result["new_order_id"]
    assert captured["transactions"][0]["amount"] == result["difference"]
    view = shop.order(result["new_order_id"])
    methods = sorted(i["paymentMethod"] for i in view["paymentAccount"]["instruments"]["nodes"])
    assert methods == ["credit_card", "store_credit"]
    paid = sum(t["amount"] for i in view["paymentAccount"]["instruments"]["nodes"]
               for t in i["paymentAccountTransactions"]["nodes"]
               if t["transactionType"] == "capture")
    assert round(paid, 2) == view["grandTotal"]


def test_uneven_exchange_refunds_the_difference(shop):
    order, cheapest, _ = _cheapest_and_dearest(shop)
    items = order["items"]["nodes"]
    result = shop.action("exchange", {"order_id": order["id"],
                                      "return_items": [{"item_id": i["id"]} for i in items],
                                      "new_items": [{"product_id": cheapest}]})
    assert result["difference"] < 0
    assert result["events"] == ["return.processed", REFUNDED, "order.created", "order.opened"]
    refunded = by_name(shop.received(4), REFUNDED)
    assert refunded["id"] == order["id"]
    assert refunded["transactions"][0]["amount"] == -result["difference"]


# -- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "body", "status"), [
    ("return", {}, 400),
    ("return", {"items": []}, 400),
    ("return", {"order_id": "x", "items": [{"item_id": "y"}], "refund_method": "cash"}, 400),
    ("return", {"order_id": "nope", "items": [{"item_id": "y"}]}, 404),
    ("return", {"order_id": "nope", "items": [{}]}, 400),
    ("return", {"items": [{"product_id": "1"}], "bogus": 1}, 400),
    ("appease", {"order_id": "nope", "amount": 1}, 404),
    ("appease", {"order_id": "x", "amount": 0}, 400),
    ("appease", {"order_id": "x", "amount": "ten"}, 400),
    ("appease", {"amount": 1}, 400),
    ("exchange", {"order_id": "x", "return_items": [{"item_id": "y"}]}, 400),
    ("exchange", {"order_id": "nope", "return_items": [{"item_id": "y"}],
                  "new_items": [{"product_id": "1"}]}, 404),
    ("exchange", {"order_id": "x", "return_items": [{"item_id": "y"}],
                  "new_items": [{"product_id": "1", "quantity": 0}]}, 400),
])
def test_bad_input_is_a_problem(shop, name, body, status):
    problem = shop.action(name, body, status)
    assert problem["status"] == status and problem.get("detail")


def test_bad_input_names_what_was_wrong(shop):
    order = shop.returnable_order()
    item = order["items"]["nodes"][0]
    problem = shop.action("exchange", {"order_id": order["id"],
                                       "return_items": [{"item_id": item["id"]}],
                                       "new_items": [{"product_id": "nope"}]}, 400)
    assert problem["field"] == "new_items[0].product_id"
    problem = shop.action("return", {"order_id": order["id"], "items": [{"item_id": "zz"}]},
                          400)
    assert problem["field"] == "items[0].item_id" and "zz" in problem["detail"]
    problem = shop.action("return", {"order_id": order["id"],
                                     "items": [{"item_id": item["id"]}],
                                     "payment_details": {"payment_method": "cash"}}, 400)
    assert problem["error_code"] == "unexpected_payment_details"
    problem = shop.action("return", {"order_id": order["id"],
                                     "items": [{"item_id": item["id"]}], "store_id": "XX"}, 400)
    assert problem["field"] == "store_id"
    # nothing was written by the refused calls
    assert shop.order(order["id"])["returns"]["nodes"] == []
