"""The mock ERP (openapi/erp.yaml): records, duplicates, lookups, auth, faults, journal."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from simulator.app import create_app
from simulator.core.clock import iso
from tests.conftest import make_settings

KEY = {"Authorization": "Bearer erp-key"}
TYPES = [("cash_sales", "cash_sale", "CS"), ("sales_orders", "sales_order", "SO"),
         ("cash_refunds", "cash_refund", "CR"), ("credit_memos", "credit_memo", "CM")]


def _body(external_id: str = "NS-1", **changes):
    body = {"external_id": external_id, "newstore_order_id": "order-1", "currency": "USD",
            "customer": "C-1", "location": "101",
            "items": [{"product_id": "P1", "quantity": 2, "amount": 40.0, "tax": 3.2}],
            "payments": [{"method": "credit_card", "amount": 43.2}], "total": 43.2,
            "memo": "from the test"}
    body.update(changes)
    return body


def _problem(r, status, code=None):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    if code:
        assert r.json()["error_code"] == code
    assert r.json()["detail"]
    return r.json()


# --- records ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("plural", "single", "prefix"), TYPES)
def test_create_list_get_each_record_type(client, plural, single, prefix):
    r = client.post(f"/erp/{plural}", json=_body(), headers=KEY)
    assert r.status_code == 201, r.text
    rec = r.json()
    assert rec["id"] == f"{prefix}-000001" and rec["type"] == single
    assert rec["external_id"] == "NS-1" and rec["total"] == 43.2
    assert rec["items"] == [{"product_id": "P1", "quantity": 2, "amount": 40.0, "tax": 3.2}]
    assert rec["payments"] == [{"method": "credit_card", "amount": 43.2}]
    second = client.post(f"/erp/{plural}", json=_body("NS-2", newstore_order_id="order-2",
                                                        newstore_return_id="ret-2"),
                         headers=KEY).json()
    assert second["id"] == f"{prefix}-000002"
    listed = client.get(f"/erp/{plural}", headers=KEY).json()
    assert [x["id"] for x in listed["records"]] == [second["id"], rec["id"]]  # newest first
    assert listed["total"] == 2
    assert client.get(f"/erp/{plural}/{rec['id']}", headers=KEY).json() == rec
    _problem(client.get(f"/erp/{plural}/{prefix}-999999", headers=KEY), 404,
             "record_not_found")


def test_filters_and_limit(client):
    for n in range(3):
        client.post("/erp/cash_refunds", json=_body(f"R-{n}", newstore_order_id=f"o{n % 2}",
                                                    newstore_return_id=f"r{n}"), headers=KEY)
    q = client.get("/erp/cash_refunds?external_id=R-1", headers=KEY).json()
    assert [x["external_id"] for x in q["records"]] == ["R-1"]
    q = client.get("/erp/cash_refunds?newstore_order_id=o0", headers=KEY).json()
    assert [x["external_id"] for x in q["records"]] == ["R-2", "R-0"]
    q = client.get("/erp/cash_refunds?newstore_return_id=r2", headers=KEY).json()
    assert [x["external_id"] for x in q["records"]] == ["R-2"]
    q = client.get("/erp/cash_refunds?limit=1", headers=KEY).json()
    assert len(q["records"]) == 1 and q["total"] == 3
    assert client.get("/erp/cash_sales", headers=KEY).json() == {"records": [], "total": 0}


def test_records_are_per_tenant(client):
    assert client.post("/erp/cash_sales", json=_body(), headers=KEY).status_code == 201
    other = {**KEY, "tenant": "other"}
    assert client.get("/erp/cash_sales", headers=other).json()["total"] == 0
    r = client.post("/erp/cash_sales", json=_body(), headers=other)  # same id, other tenant
    assert r.status_code == 201 and r.json()["id"] == "CS-000001"


def test_duplicate_external_id_is_rejected_and_counted(client):
    first = client.post("/erp/sales_orders", json=_body(), headers=KEY).json()
    for _ in range(2):
        p = _problem(client.post("/erp/sales_orders", json=_body(total=1.0), headers=KEY), 409,
                     "duplicate_external_id")
        assert p["field"] == "external_id" and p["existing_id"] == first["id"]
    # the same external id is fine for another record type
    assert client.post("/erp/credit_memos", json=_body(), headers=KEY).status_code == 201
    stats = client.get("/erp/stats", headers=KEY).json()
    assert stats["sales_orders"] == {"created": 1, "duplicates_rejected": 2}
    assert stats["credit_memos"] == {"created": 1, "duplicates_rejected": 0}
    assert stats["cash_sales"] == {"created": 0, "duplicates_rejected": 0}
    assert client.get("/erp/sales_orders", headers=KEY).json()["total"] == 1


@pytest.mark.parametrize("bad", [
    {},
    {"external_id": "", "currency": "USD", "items": [], "total": 1},
    {"external_id": "x", "currency": "usd", "items": [], "total": 1},
    {"external_id": "x", "currency": "USD", "items": [{"product_id": "p"}], "total": 1},
    {"external_id": "x", "currency": "USD", "items": [], "total": "1"},
    {"external_id": "x", "currency": "USD", "items": [], "total": 1, "surprise": True},
    {"external_id": "x", "currency": "USD", "items": [{"product_id": "p", "quantity": 0,
                                                       "amount": 1}], "total": 1},
    [1, 2],
])
def test_bad_input_is_a_400_problem(client, bad):
    _problem(client.post("/erp/cash_sales", json=bad, headers=KEY), 400)


def test_bad_query_and_body_are_4xx(client):
    _problem(client.get("/erp/cash_sales?limit=0", headers=KEY), 400)
    _problem(client.get("/erp/cash_sales?unknown=1", headers=KEY), 400)
    r = client.post("/erp/cash_sales", content=b"{not json", headers={
        **KEY, "Content-Type": "application/json"})
    _problem(r, 400)
    r = client.post("/erp/cash_sales", content=b"\xff\xfe", headers={
        **KEY, "Content-Type": "application/json"})
    _problem(r, 400)
    _problem(client.get("/erp/nothing_here", headers=KEY), 404)


# --- lookups --------------------------------------------------------------------------------

def test_lookups_come_from_the_world_and_are_deterministic(client):
    names = ("channels", "locations", "payment_items", "shipping_methods")
    first = {n: client.get(f"/erp/lookups/{n}", headers=KEY).json() for n in names}
    channels = {e["newstore_id"]: e["erp_id"] for e in first["channels"]["entries"]}
    assert channels == {"web": "1", "store": "2"}
    locations = first["locations"]["entries"]
    assert [e["newstore_id"] for e in locations] == ["DC01", "DC02", "US01", "US02", "US03",
                                                     "US04"]  # the small test world
    assert {e["type"] for e in locations} == {"store", "distribution_center"}
    assert all(e["subsidiary_id"] and e["placeholder_customer_id"] for e in locations)
    methods = {e["newstore_id"] for e in first["payment_items"]["entries"]}
    assert {"credit_card", "cash", "gift_card", "store_credit"} <= methods
    ship = {e["newstore_id"]: e.get("carrier") for e in first["shipping_methods"]["entries"]}
    assert ship["GROUND"] == "UPS" and "IN_STORE_HANDOVER" in ship
    # a fresh simulator with the same seed gives the same maps
    with create_app(make_settings()).test_client() as again:
        assert {n: again.get(f"/erp/lookups/{n}", headers=KEY).json() for n in names} == first


# --- auth -----------------------------------------------------------------------------------

def test_any_key_is_accepted_by_default_and_none_is_a_401(client):
    assert client.get("/erp/stats", headers={"Authorization": "Bearer x"}).status_code == 200
    _problem(client.get("/erp/stats"), 401)
    _problem(client.get("/erp/stats", headers={"Authorization": "Bearer "}), 401)
    _problem(client.post("/erp/cash_sales", json=_body()), 401)


def test_a_configured_key_must_match():
    with create_app(make_settings(erp_api_key="s3cret")).test_client() as c:
        assert c.get("/erp/stats", headers={"Authorization": "Bearer s3cret"}).status_code \
            == 200
        _problem(c.get("/erp/stats", headers={"Authorization": "Bearer other"}), 403,
                 "invalid_api_key")
        _problem(c.get("/erp/stats"), 401)


def test_the_key_comes_from_the_environment():
    from simulator.settings import Settings
    assert Settings.from_env({"SIM_ERP_API_KEY": "k1"}).erp_api_key == "k1"
    assert Settings.from_env({}).erp_api_key == ""


# --- faults and journal ---------------------------------------------------------------------

def _fault(client, **body):
    body = {"system": "erp", "operation": "*", **body}
    r = client.post("/_sim/faults", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_unavailable_erp_answers_503_and_records_nothing(client):
    f = _fault(client)
    p = _problem(client.post("/erp/cash_sales", json=_body(), headers=KEY), 503,
                 "simulated_fault")
    assert p["fault_id"] == f["id"]
    _problem(client.get("/erp/stats", headers=KEY), 503)
    client.delete(f"/_sim/faults/{f['id']}")
    assert client.get("/erp/stats", headers=KEY).json()["cash_sales"]["created"] == 0
    assert client.get(f"/_sim/faults/{f['id']}").status_code == 404


def test_a_fault_on_one_operation_and_a_500(client):
    _fault(client, operation="records.create_cash_sale", status=500)
    _problem(client.post("/erp/cash_sales", json=_body(), headers=KEY), 500, "simulated_fault")
    assert client.post("/erp/sales_orders", json=_body(), headers=KEY).status_code == 201
    r = client.post("/_sim/faults", json={"system": "erp", "operation": "records.nope"})
    _problem(r, 422)


def test_rate_one_fails_every_call_and_times_disarms(client):
    f = _fault(client, rate=1, times=2)
    codes = [client.post("/erp/credit_memos", json=_body(f"M{n}"), headers=KEY).status_code
             for n in range(3)]
    assert codes == [503, 503, 201]
    assert client.get(f"/_sim/faults/{f['id']}").json()["fired"] == 2


def test_rate_zero_never_fires(client):
    _fault(client, rate=0)
    assert client.get("/erp/stats", headers=KEY).status_code == 200


def test_latency_slows_then_succeeds(client):
    client.get("/erp/stats", headers=KEY)
    _fault(client, status=None, latency_ms=300)
    start = time.perf_counter()
    assert client.get("/erp/stats", headers=KEY).status_code == 200
    assert time.perf_counter() - start >= 0.3


def test_down_window_by_the_manual_clock():
    app = create_app(make_settings(clock_mode="manual"))
    clock = app.platform.clock
    with app.test_client() as client:
        now = clock.now()
        _fault(client, window={"starts_at": iso(now + timedelta(hours=1)),
                               "ends_at": iso(now + timedelta(hours=2))})
        first = client.post("/erp/cash_sales", json=_body("a"), headers=KEY)
        assert first.status_code == 201 and first.json()["created_at"] == iso(now)  # sim clock
        clock.advance(3600)
        _problem(client.post("/erp/cash_sales", json=_body("b"), headers=KEY), 503)
        clock.advance(3600)
        assert client.post("/erp/cash_sales", json=_body("b"), headers=KEY).status_code == 201
        ids = [r["external_id"] for r in client.get("/erp/cash_sales",
                                                    headers=KEY).json()["records"]]
        assert ids == ["b", "a"]


def test_erp_calls_are_journaled_as_system_erp(client):
    client.delete("/_sim/journal")
    _fault(client, operation="records.get_sales_order")
    client.post("/erp/sales_orders", json=_body(), headers=KEY)
    client.get("/erp/sales_orders/SO-000001", headers=KEY)
    entries = client.get("/_sim/journal?system=erp&with_bodies=true").json()["entries"]
    got = [(e["method"], e["operation_id"], e["status"]) for e in entries]
    assert got == [("GET", "records.get_sales_order", 503),
                   ("POST", "records.create_sales_order", 201)]
    assert entries[0]["request_headers"]["authorization"] == "[redacted]"
    assert all(e["system"] == "erp" and e["tenant"] == "dodici" for e in entries)
