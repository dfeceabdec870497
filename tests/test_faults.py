"""Fault injection: /_sim/faults CRUD, and faults firing on the platform API and in decide()."""

from __future__ import annotations

import random
import time
from datetime import timedelta

import pytest

from simulator.app import create_app
from simulator.core import faults as faults_mod
from simulator.core.clock import iso
from tests.conftest import get_token, make_settings

ORDER = "/v0/orders/{}"


def _fault(client, **body):
    body.setdefault("system", "platform")
    body.setdefault("operation", "orders.get_order")
    r = client.post("/_sim/faults", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def _problem(r, status, field=None):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    if field:
        assert r.json()["field"] == field
    return r.json()


# --- CRUD -----------------------------------------------------------------------------------

def test_create_fault_has_defaults_and_an_id(client):
    f = _fault(client)
    assert f["status"] == 503 and f["rate"] == 1.0 and f["latency_ms"] == 0
    assert f["window"] is None and f["times"] is None and f["fired"] == 0 and f["armed"]
    assert f["tenant"] == "dodici" and f["system"] == "platform" and f["id"]
    assert client.get(f"/_sim/faults/{f['id']}").json() == f
    assert client.get("/_sim/faults").json() == {"faults": [f]}


def test_list_is_oldest_first_and_delete_one(client):
    a = _fault(client, operation="orders.get_order")
    b = _fault(client, system="psp", operation="capture", status=502)
    assert [f["id"] for f in client.get("/_sim/faults").json()["faults"]] == [a["id"], b["id"]]
    assert client.delete(f"/_sim/faults/{a['id']}").status_code == 204
    assert [f["id"] for f in client.get("/_sim/faults").json()["faults"]] == [b["id"]]
    _problem(client.delete(f"/_sim/faults/{a['id']}"), 404)
    _problem(client.get(f"/_sim/faults/{a['id']}"), 404)


def test_delete_all_of_a_tenant_only(client):
    _fault(client)
    _fault(client, operation="*")
    other = client.post("/_sim/faults?tenant=other", json={"system": "erp", "operation": "*"})
    assert other.status_code == 201
    assert client.delete("/_sim/faults").status_code == 204
    assert client.get("/_sim/faults").json() == {"faults": []}
    assert len(client.get("/_sim/faults?tenant=other").json()["faults"]) == 1


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"system": "platform", "operation": "orders.get_ordr"}, 422, "operation"),
    ({"system": "platform", "operation": "system.health"}, 422, "operation"),
    ({"system": "platform", "operation": "*", "status": None}, 422, "latency_ms"),
    ({"system": "platform", "operation": "*", "window": {"starts_at": "2030-01-02T00:00:00Z",
                                                          "ends_at": "2030-01-01T00:00:00Z"}},
     422, "window.ends_at"),
    ({"system": "platform", "operation": "*", "window": {"starts_at": "yesterday"}},
     422, "window.starts_at"),
    ({"system": "mainframe", "operation": "*"}, 400, None),
    ({"system": "platform", "operation": "*", "status": 200}, 400, None),
    ({"system": "platform", "operation": "*", "status": 600}, 400, None),
    ({"system": "platform", "operation": "*", "rate": 1.5}, 400, None),
    ({"system": "platform", "operation": "*", "rate": "half"}, 400, None),
    ({"system": "platform", "operation": "*", "latency_ms": -1}, 400, None),
    ({"system": "platform", "operation": "*", "times": 0}, 400, None),
    ({"system": "platform", "operation": ""}, 400, None),
    ({"system": "platform"}, 400, None),
    ({"system": "platform", "operation": "*", "colour": "red"}, 400, None),
])
def test_bad_input_is_a_problem_naming_the_field(client, body, status, field):
    p = _problem(client.post("/_sim/faults", json=body), status, field)
    named = field or next(k for k in ("operation", "window", "system", "status", "rate",
                                      "latency_ms", "times", "colour") if k in body)
    assert named.split(".")[0] in p["detail"] or p.get("field") == field


def test_unknown_tenant_name_is_a_problem(client):
    _problem(client.get("/_sim/faults?tenant=no%20such"), 400)


# --- on the platform API --------------------------------------------------------------------

def test_503_on_one_operation_leaves_others_working(client, auth, sample_order_id):
    f = _fault(client)
    r = client.get(ORDER.format(sample_order_id), headers=auth)
    p = _problem(r, 503)
    assert p["error_code"] == "simulated_fault" and p["fault_id"] == f["id"]
    assert p["detail"] == f"simulated fault {f['id']} on orders.get_order"
    assert r.headers["x-sim-fault"] == f["id"]
    other = client.get(f"/v0/c/payments/accounts/{sample_order_id}", headers=auth)
    assert other.status_code != 503
    assert client.get("/health").status_code == 200
    assert client.get(f"/_sim/faults/{f['id']}").json()["fired"] == 1


def test_fault_fires_before_auth(client, sample_order_id):
    _fault(client, status=500)
    _problem(client.get(ORDER.format(sample_order_id)), 500)


def test_wildcard_never_touches_health_or_the_control_plane(client):
    _fault(client, operation="*")
    assert client.get("/health").status_code == 200
    assert client.get("/_sim/faults").status_code == 200


def test_deleting_restores_normal_answers(client, auth, sample_order_id):
    f = _fault(client)
    assert client.get(ORDER.format(sample_order_id), headers=auth).status_code == 503
    client.delete(f"/_sim/faults/{f['id']}")
    assert client.get(ORDER.format(sample_order_id), headers=auth).status_code == 200


def test_rate_zero_never_fires_rate_one_always(client, auth, sample_order_id):
    f = _fault(client, rate=0)
    for _ in range(20):
        assert client.get(ORDER.format(sample_order_id), headers=auth).status_code == 200
    assert client.get(f"/_sim/faults/{f['id']}").json()["fired"] == 0
    client.delete("/_sim/faults")
    g = _fault(client, rate=1, status=429)
    for _ in range(20):
        assert client.get(ORDER.format(sample_order_id), headers=auth).status_code == 429
    assert client.get(f"/_sim/faults/{g['id']}").json()["fired"] == 20


def test_times_disarms_after_n(client, auth, sample_order_id):
    f = _fault(client, times=2)
    codes = [client.get(ORDER.format(sample_order_id), headers=auth).status_code
             for _ in range(4)]
    assert codes == [503, 503, 200, 200]
    got = client.get(f"/_sim/faults/{f['id']}").json()
    assert got["fired"] == 2 and got["armed"] is False


def test_window_by_the_manual_clock():
    app = create_app(make_settings(clock_mode="manual"))
    platform = app.platform
    with app.test_client() as client:
        auth = {"Authorization": f"Bearer {get_token(client)}"}
        now = platform.clock.now()
        window = {"starts_at": iso(now + timedelta(hours=1)),
                  "ends_at": iso(now + timedelta(hours=2))}
        _fault(client, window=window)
        url = ORDER.format("012345Ab-CdEf-GhIj-KlMn-OpQrStUvWxYz")
        assert client.get(url, headers=auth).status_code == 200  # before
        platform.clock.advance(3600)
        auth = {"Authorization": f"Bearer {get_token(client)}"}  # the old token may expire
        assert client.get(url, headers=auth).status_code == 503  # inside (start inclusive)
        platform.clock.advance(3600)
        auth = {"Authorization": f"Bearer {get_token(client)}"}
        assert client.get(url, headers=auth).status_code == 200  # after (end exclusive)


def test_latency_only_is_slow_but_succeeds(client, auth, sample_order_id):
    url = ORDER.format(sample_order_id)
    client.get(url, headers=auth)
    start = time.perf_counter()
    assert client.get(url, headers=auth).status_code == 200
    baseline = time.perf_counter() - start
    f = _fault(client, status=None, latency_ms=150)
    start = time.perf_counter()
    assert client.get(url, headers=auth).status_code == 200
    slowed = time.perf_counter() - start
    assert slowed >= 0.15 and slowed > baseline
    assert client.get(f"/_sim/faults/{f['id']}").json()["fired"] == 1


def test_latency_then_status(client, auth, sample_order_id):
    _fault(client, latency_ms=100, status=504)
    start = time.perf_counter()
    _problem(client.get(ORDER.format(sample_order_id), headers=auth), 504)
    assert time.perf_counter() - start >= 0.1


def test_tenant_isolation(client, auth, sample_order_id):
    _fault(client, operation="*", tenant="other")
    assert client.get(ORDER.format(sample_order_id), headers=auth).status_code == 200
    token = get_token(client, "other")
    r = client.get(ORDER.format(sample_order_id),
                   headers={"Authorization": f"Bearer {token}", "tenant": "other"})
    _problem(r, 503)


# --- decide() for the other systems ---------------------------------------------------------

def test_decide_for_other_systems(platform):
    f = platform.faults.create("dodici", {"system": "psp", "operation": "capture",
                                          "status": 502, "times": 1})
    assert platform.faults.decide("dodici", "psp", "authorize") is None
    assert platform.faults.decide("dodici", "erp", "capture") is None
    d = platform.faults.decide("dodici", "psp", "capture")
    assert d == faults_mod.Decision(status=502, latency_s=0.0, fault_id=f["id"])
    assert platform.faults.decide("dodici", "psp", "capture") is None  # spent


def test_decide_inside_a_write_transaction(platform):
    f = platform.faults.create("dodici", {"system": "erp", "operation": "*", "times": 1})
    with platform.store.tx() as tx:
        d = platform.faults.decide("dodici", "erp", "cash_sales", tx=tx)
        assert d is not None and d.fault_id == f["id"]
    assert platform.faults.get("dodici", f["id"])["fired"] == 1
    assert platform.faults.decide("dodici", "erp", "cash_sales") is None


def test_module_decide_with_a_seeded_rate(platform):
    platform.faults.create("dodici", {"system": "oms", "operation": "*", "rate": 0.5})
    now = platform.clock.now()

    def draws(seed):
        rng = random.Random(seed)
        return [faults_mod.decide(platform.store, "dodici", "oms", "atp", now, rng) is not None
                for _ in range(40)]

    first = draws(7)
    assert 5 < sum(first) < 35  # about half
    assert sum(draws(7)) == sum(first)  # same seed, same outcome


def test_registered_operations_are_checked(platform):
    platform.faults.register_operations("psp", {"authorize", "capture", "refund"})
    with pytest.raises(faults_mod.ValidationFailed) as err:
        platform.faults.create("dodici", {"system": "psp", "operation": "captur"})
    assert err.value.field == "operation" and err.value.status == 422


def test_invalidate_after_a_direct_rewrite(platform):
    f = platform.faults.create("dodici", {"system": "erp", "operation": "*"})
    assert platform.faults.decide("dodici", "erp", "x") is not None
    with platform.store.tx() as tx:  # a reset wiping entities without this module
        tx.delete("dodici", faults_mod.FAULT, f["id"])
    platform.faults.invalidate()
    assert platform.faults.decide("dodici", "erp", "x") is None
