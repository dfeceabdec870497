"""The external OMS contract: a deliberately wrong OMS (pytest-httpserver) — bad field types,
missing fields, slow, down — has each violation reported in the journal and the problem, and
the documented fallback applied; purchase history cut to the 100 newest, newest first."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from werkzeug import Request, Response

from simulator.oms.contract import check
from simulator.platform import config, external_oms

KEY = "oms-key-0123456789abcdef"


def _order(n: int, placed_at: str, **changes: Any) -> dict:
    order = {"id": f"OMS{n:06d}", "origin": "external", "origin_id": f"OMS{n:06d}",
             "placed_at": placed_at, "channel_type": "web", "currency": "USD",
             "fulfillment_type": "traditional", "status": "closed",
             "customer": {"id": None, "email": "ana@example.com", "name": "Ana"},
             "items": [{"id": f"i{n}", "origin_id": f"i{n}", "status": "complete",
                        "price": {"net": 10.0, "tax": 1.0, "gross": 11.0, "discount": 0.0}}],
             "totals": {"discount": 0.0, "gift_wrapping": 0.0, "gross": 10.0, "net": 10.0,
                        "shipping": 0.0, "tax": 1.0, "total": 11.0},
             "payment_history": [{"category": "payment", "method": "credit_card",
                                  "amount": 11.0, "currency": "USD"}]}
    order.update(changes)
    return order


def _atp_hook(platform, url: str, timeout: int = 5) -> None:
    """The ATP webhook, stored past the API's https rule (a local test OMS)."""
    with platform.store.tx() as tx:
        config._store(tx, "dodici", config.AVAILABILITY_WEBHOOK, {
            "url": url, "api_key": KEY, "external_identifier": "product_id",
            "timeout": timeout})


def _order_hook(platform, url: str, timeout: int = 5) -> None:
    with platform.store.tx() as tx:
        config._store(tx, "dodici", external_oms.ORDER_WEBHOOK,
                      {"url": url.rstrip("/"), "api_key": KEY, "timeout": timeout})


def _product(platform) -> str:
    with platform.store.read() as tx:
        return tx.query("dodici", "product", ascending=True, limit=1)[0]["id"]


def _sent(httpserver, path: str) -> list[Request]:
    """Requests the test OMS got at path (a slow handler of an earlier test may log late)."""
    return [req for req, _ in httpserver.log if req.path == path]


def _journal(client) -> list[dict]:
    r = client.get("/_sim/journal", params={"system": "oms", "tenant": "dodici"})
    assert r.status_code == 200, r.text
    return r.json()["entries"]


def _not_available(client, pid: str) -> str:
    """Place an endless-aisle cart; the problem's detail of the (only) unavailable item."""
    r = client.post("/_sim/actions/place-order", params={"tenant": "dodici"},
                    json={"kind": "endless_aisle", "items": [{"product_id": pid}]})
    assert r.status_code == 409, r.text
    problem = r.json()
    assert problem["error_code"] == "products_not_available"
    [item] = problem["unavailable"]
    assert item["reason"] == "atp_webhook_failed" and item["available"] == 0
    return item["detail"]


# -- the checker alone ---------------------------------------------------------------------

def test_checker_names_each_violation_with_its_path():
    body = {"availabilities": [{"product_id": 7, "fulfillment_location": "DC01", "atp": "3"},
                               {"product_id": "p", "atp": -1}]}
    assert check("availability", 200, body) == [
        "$.availabilities[0].atp: '3' is not of type 'integer'",
        "$.availabilities[0].product_id: 7 is not of type 'string'",
        "$.availabilities[1]: 'fulfillment_location' is a required property",
        "$.availabilities[1].atp: -1 is less than the minimum of 0",
    ]
    assert check("availability", 200, "{oops") == ["$: the body is not JSON"]
    assert check("order_details", 200, _order(1, "2024-01-01T00:00:00Z")) == []
    assert check("order_details", 201, {}) == [
        "$: status 201 is not a documented answer of order_details"]
    with pytest.raises(KeyError):
        check("nope", 200, {})


def test_nullable_fields_are_allowed_where_the_model_says():
    order = _order(1, "2024-01-01T00:00:00Z", customer={"id": None, "email": None, "name": None})
    assert check("order_details", 200, order) == []
    assert check("purchase_history", 200, {"orders": [order]}) == []


# -- availability (ATP) ---------------------------------------------------------------------

@pytest.mark.parametrize("answer, wrong", [
    ({"availabilities": [{"product_id": "P", "fulfillment_location": "DC01", "atp": "5"}]},
     "$.availabilities[0].atp: '5' is not of type 'integer'"),
    ({"availabilities": [{"product_id": "P", "atp": 5}]},
     "$.availabilities[0]: 'fulfillment_location' is a required property"),
    ({"availability": []}, "$: 'availabilities' is a required property"),
    ({"availabilities": [{"fulfillment_location": "DC01", "atp": 5}]},
     "$.availabilities[0]: {'fulfillment_location': 'DC01', 'atp': 5} is not valid under any"),
])
def test_atp_contract_violation_is_reported_and_nothing_is_available(
        client, platform, httpserver, answer, wrong):
    pid = _product(platform)
    text = json.dumps(answer).replace('"P"', json.dumps(pid))
    httpserver.expect_request("/atp", method="POST").respond_with_data(
        text, content_type="application/json")
    _atp_hook(platform, httpserver.url_for("/atp"))
    detail = _not_available(client, pid)
    assert "malformed" in detail and wrong in detail
    [entry] = _journal(client)
    assert entry["operation_id"] == "availability" and entry["status"] == 200
    assert wrong in entry["error"]
    [request] = _sent(httpserver, "/atp")
    assert request.headers["Authorization"] == KEY
    assert json.loads(request.get_data())["products"][0]["product_id"] == pid


def test_atp_down_500(client, platform, httpserver):
    pid = _product(platform)
    httpserver.expect_request("/atp").respond_with_data("boom", status=500)
    _atp_hook(platform, httpserver.url_for("/atp"))
    assert "the availability webhook answered 500" in _not_available(client, pid)
    assert _journal(client)[0]["error"] == "the availability webhook answered 500"


def test_atp_refused(client, platform, httpserver):
    pid = _product(platform)
    url = httpserver.url_for("/atp")
    httpserver.stop()  # nothing listens there any more
    try:
        _atp_hook(platform, url)
        detail = _not_available(client, pid)
        assert "could not be reached (ConnectionError)" in detail
        assert _journal(client)[0]["status"] is None
    finally:
        httpserver.start()


def test_atp_slow_is_a_timeout(client, platform, httpserver):
    pid = _product(platform)

    def slow(_request: Request) -> Response:
        time.sleep(1.6)
        return Response("{}", content_type="application/json")

    httpserver.expect_request("/atp").respond_with_handler(slow)
    _atp_hook(platform, httpserver.url_for("/atp"), timeout=1)
    started = time.monotonic()
    assert "did not answer within 1 s" in _not_available(client, pid)
    assert time.monotonic() - started < 1.5
    assert "within 1 s" in _journal(client)[0]["error"]


# -- order details ---------------------------------------------------------------------------

def test_order_details_from_the_oms_for_an_unknown_order(client, auth, platform, httpserver):
    order = _order(42, "2024-03-01T10:00:00Z")
    del order["payment_history"]  # an OMS with other payment methods omits it (documented)
    httpserver.expect_request("/orders/OMS000042", method="GET").respond_with_json(order)
    _order_hook(platform, httpserver.url_for("/"))
    r = client.get("/v0/orders/OMS000042", params={"id_type": "external"}, headers=auth)
    assert r.status_code == 200, r.text
    assert r.json() == order and "payment_history" not in r.json()
    [request] = _sent(httpserver, "/orders/OMS000042")
    assert request.headers["Authorization"] == KEY
    [entry] = _journal(client)
    assert entry["operation_id"] == "order_details" and entry["error"] is None


def test_a_known_order_and_internal_ids_never_call_the_oms(client, auth, platform, httpserver,
                                                          sample_order_id):
    _order_hook(platform, httpserver.url_for("/"))
    with platform.store.read() as tx:
        number = tx.get("dodici", "order", sample_order_id)["external_id"]
    r = client.get(f"/v0/orders/{number}", params={"id_type": "external"}, headers=auth)
    assert r.status_code == 200 and r.json()["origin_id"] == sample_order_id
    r = client.get("/v0/orders/OMS000042", headers=auth)
    assert r.status_code == 404
    assert not _sent(httpserver, "/orders/GD000000042") and not _journal(client)


@pytest.mark.parametrize("order_changes, wrong", [
    ({"items": "none"}, "$.items: 'none' is not of type 'array'"),
    ({"totals": None}, "$.totals: None is not of type 'object'"),
    ({"payment_history": [{"category": "payment", "method": "paypal", "amount": 1.0,
                           "currency": "USD"}]},
     "$.payment_history[0].method: 'paypal' is not one of"),
])
def test_order_details_violation_is_a_502_saying_what_was_wrong(
        client, auth, platform, httpserver, order_changes, wrong):
    httpserver.expect_request("/orders/OMS1").respond_with_json(
        _order(1, "2024-01-01T00:00:00Z", **order_changes))
    _order_hook(platform, httpserver.url_for("/"))
    r = client.get("/v0/orders/OMS1", params={"id_type": "external"}, headers=auth)
    assert r.status_code == 502, r.text
    problem = r.json()
    assert problem["error_code"] == "external_oms_failed"
    assert wrong in problem["detail"] and any(wrong in v for v in problem["violations"])
    assert wrong in _journal(client)[0]["error"]
    if "paypal" in wrong:
        assert "omits payment_history" in problem["detail"]


def test_order_details_missing_fields(client, auth, platform, httpserver):
    order = _order(1, "2024-01-01T00:00:00Z")
    del order["currency"], order["items"][0]["price"]
    httpserver.expect_request("/orders/OMS1").respond_with_json(order)
    _order_hook(platform, httpserver.url_for("/"))
    problem = client.get("/v0/orders/OMS1", params={"id_type": "external"}, headers=auth).json()
    assert problem["violations"] == ["$: 'currency' is a required property",
                                     "$.items[0]: 'price' is a required property"]


def test_order_details_down_slow_and_404(client, auth, platform, httpserver):
    httpserver.expect_request("/orders/DOWN").respond_with_data("no", status=503)
    httpserver.expect_request("/orders/GONE").respond_with_data("", status=404)

    def slow(_request: Request) -> Response:
        time.sleep(1.6)
        return Response("{}", content_type="application/json")

    httpserver.expect_request("/orders/SLOW").respond_with_handler(slow)
    _order_hook(platform, httpserver.url_for("/"), timeout=1)
    get = lambda oid: client.get(f"/v0/orders/{oid}", params={"id_type": "external"},  # noqa: E731
                                 headers=auth)
    r = get("DOWN")
    assert r.status_code == 502 and "the order details webhook answered 503" in r.json()["detail"]
    r = get("SLOW")
    assert r.status_code == 502 and "did not answer within 1 s" in r.json()["detail"]
    r = get("GONE")
    assert r.status_code == 404 and "external OMS answered 404" in r.json()["detail"]
    assert sorted(e["status"] or 0 for e in _journal(client)) == [0, 404, 503]


def test_oms_fault_on_order_details(client, auth, platform, httpserver):
    _order_hook(platform, httpserver.url_for("/"))
    r = client.post("/_sim/faults", params={"tenant": "dodici"},
                    json={"system": "oms", "operation": "order_details", "status": 500,
                          "times": 1})
    assert r.status_code == 201, r.text
    r = client.get("/v0/orders/OMS1", params={"id_type": "external"}, headers=auth)
    assert r.status_code == 502 and "answered 500" in r.json()["detail"]
    assert not _sent(httpserver, "/orders/OMS1")
    r = client.post("/_sim/faults", params={"tenant": "dodici"},
                    json={"system": "oms", "operation": "order_detail", "status": 500})
    assert r.status_code == 422  # a typo in the operation name


# -- purchase history ------------------------------------------------------------------------

def test_purchase_history_keeps_the_100_newest_newest_first(client, auth, platform, httpserver):
    # 130 orders in no particular order, one day apart, some with an offset, one without
    days = list(range(130))
    days = days[::2] + days[1::2]
    answer = [_order(d, "") for d in days]
    for order, d in zip(answer, days, strict=True):
        order["placed_at"] = f"{2023 + d // 365}-{(d % 365) // 28 + 1:02d}-" \
                             f"{(d % 365) % 28 + 1:02d}T12:00:00" + ("Z" if d % 3 else "")
    httpserver.expect_request("/orders", query_string={"consumer_email": "ana@example.com"}
                              ).respond_with_json({"orders": answer})
    _order_hook(platform, httpserver.url_for("/"))
    r = client.get("/v0/c/customer_orders", params={"consumer_email": "ana@example.com"},
                   headers=auth)
    assert r.status_code == 200, r.text
    ids = [o["id"] for o in r.json()["orders"]]
    assert ids == [f"OMS{d:06d}" for d in range(129, 29, -1)]
    [request] = _sent(httpserver, "/orders")
    assert request.headers["Authorization"] == KEY


def test_purchase_history_by_token_and_violations(client, auth, platform, httpserver):
    httpserver.expect_request("/orders", query_string={"consumer_token": "tok-1"}
                              ).respond_with_json({"orders": [{"id": 1}]})
    _order_hook(platform, httpserver.url_for("/"))
    r = client.get("/v0/c/customer_orders", params={"consumer_token": "tok-1"}, headers=auth)
    assert r.status_code == 502
    assert "$.orders[0].id: 1 is not of type 'string'" in r.json()["violations"]
    assert _journal(client)[0]["operation_id"] == "purchase_history"


def test_purchase_history_needs_exactly_one_consumer(client, auth):
    r = client.get("/v0/c/customer_orders", headers=auth)
    assert r.status_code == 400 and "exactly one" in r.json()["detail"]
    r = client.get("/v0/c/customer_orders", headers=auth,
                   params={"consumer_email": "a@b.c", "consumer_token": "t"})
    assert r.status_code == 400
    r = client.get("/v0/c/customer_orders", headers=auth, params={"consumer_token": "t"})
    assert r.status_code == 400 and "detokenizes" in r.json()["detail"]


def test_purchase_history_without_webhook_is_the_platforms_own(client, auth, platform):
    with platform.store.read() as tx:
        mine = [o for o in tx.query("dodici", "order", limit=5000) if o.get("customer_email")]
    email = mine[0]["customer_email"]
    expected = sorted((o for o in mine if o["customer_email"] == email),
                      key=lambda o: o["placed_at"], reverse=True)
    r = client.get("/v0/c/customer_orders", params={"consumer_email": email}, headers=auth)
    assert r.status_code == 200, r.text
    assert [o["origin_id"] for o in r.json()["orders"]] == [o["id"] for o in expected]


# -- the order webhook configuration ---------------------------------------------------------

def test_order_webhook_config(client, auth):
    assert client.get("/v0/config/sales_order/order_webhook", headers=auth).status_code == 404
    r = client.put("/v0/config/sales_order/order_webhook", headers=auth,
                   json={"url": "https://oms.example.com/hooks/", "api_key": KEY})
    assert r.status_code == 200, r.text
    assert r.json()["url"] == "https://oms.example.com/hooks" and r.json()["timeout"] == 10
    got = client.get("/v0/config/sales_order/order_webhook", headers=auth).json()
    assert got["api_key"] == KEY
    for body, field in [({"url": "http://x.example.com", "api_key": KEY}, "url"),
                        ({"url": "https://x.example.com", "api_key": "short"}, "api_key"),
                        ({"url": "https://x.example.com", "api_key": KEY, "timeout": 99},
                         "timeout")]:
        r = client.put("/v0/config/sales_order/order_webhook", headers=auth, json=body)
        assert r.status_code == 400 and r.json()["field"] == field, r.text
    r = client.put("/v0/config/sales_order/order_webhook", headers=auth, json={"url": 1})
    assert r.status_code == 400
    assert client.delete("/v0/config/sales_order/order_webhook",
                         headers=auth).status_code == 204
    assert client.delete("/v0/config/sales_order/order_webhook",
                         headers=auth).status_code == 404


def test_the_oms_package_stands_below_the_platform():
    from tests.test_layers import ROOT, WEB, imports_of
    for path in sorted((ROOT / "oms").glob("*.py")):
        names = imports_of(path)
        if path.name == "handlers.py":  # the mock OMS's web layer
            continue
        assert not {n for n in names if n.split(".")[0] in WEB}, path.name
        above = {n for n in names if n.startswith("simulator.") and not n.startswith(
            ("simulator.core", "simulator.eventstream", "simulator.oms"))}
        assert not above, f"{path.name} imports {above}"


def test_order_webhook_url_that_cannot_be_parsed_is_a_400(client, auth):
    r = client.put("/v0/config/sales_order/order_webhook", headers=auth,
                   json={"url": "https://[oops", "api_key": KEY})
    assert r.status_code == 400 and r.json()["field"] == "url"


def test_order_webhook_paths_go_under_the_base_and_keep_its_query():
    from simulator.oms.client import join
    assert join("https://oms.example.com/api/", "/orders", {"consumer_email": "a@b.c"}) == \
        "https://oms.example.com/api/orders?consumer_email=a%40b.c"
    assert join("http://127.0.0.1:8082/oms?tenant=t1", "/orders/GD%2F1") == \
        "http://127.0.0.1:8082/oms/orders/GD%2F1?tenant=t1"
    assert join("https://oms.example.com/x?account=7", "/orders", {"consumer_token": "tk"}) == \
        "https://oms.example.com/x/orders?account=7&consumer_token=tk"
