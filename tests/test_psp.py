"""The payment provider: refunds (and any operation) settle when the clock reaches the
configured delay; until then the transaction is absent and no payment event is published."""

from __future__ import annotations

import json
from typing import Any

import pytest

from simulator.core.faults import Faults
from simulator.eventstream import schemas
from simulator.platform import entities as E
from simulator.psp import provider
from tests.conftest import make_settings
from tests.test_graphql import gql, order_query
from tests.test_returns import make_order

TENANT = "dodici"
REFUNDED = "payment_account.amount_refunded"
TXS = ("paymentAccount { transactions { nodes { amount transactionType correlationId } } }")


@pytest.fixture
def settings():
    return make_settings(clock_mode="manual")


def outbox(platform: Any, name: str | None = None) -> list[dict[str, Any]]:
    with platform.store.read() as tx:
        rows = tx.conn.execute("SELECT name, payload FROM outbox WHERE tenant=? ORDER BY seq",
                               (TENANT,)).fetchall()
    return [json.loads(p) for n, p in rows if name is None or n == name]


def configure(client: Any, body: dict[str, Any]) -> dict[str, Any]:
    r = client.put("/_sim/psp", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def graphql_refunds(client: Any, auth: dict[str, str], order_id: str) -> list[dict[str, Any]]:
    data = gql(client, auth, order_query(TXS, order_id))["data"]["order"]
    return [t for t in data["paymentAccount"]["transactions"]["nodes"]
            if t["transactionType"] == "refund"]


def rest_refunds(client: Any, auth: dict[str, str], order_id: str) -> list[dict[str, Any]]:
    r = client.get(f"/v0/c/payments/accounts/{order_id}", headers=auth)
    assert r.status_code == 200, r.text
    return [t for t in r.json()["transactions"]
            if t["metadata"]["transaction_type"] == "refund"]


def do_return(client: Any, auth: dict[str, str], platform: Any, order_id: str) -> dict[str, Any]:
    with platform.store.read() as tx:
        product = tx.get(TENANT, E.ORDER, order_id)["items"][0]["product_id"]
    r = client.post(f"/v0/d/orders/{order_id}/returns", headers=auth, json={
        "items": [{"product_id": product, "return_reason": "Too small"}],
        "return_location_id": "US01"})
    assert r.status_code == 201, r.text
    return r.json()


# -- configuration -----------------------------------------------------------------------

def test_default_config_is_all_zero(client):
    r = client.get("/_sim/psp")
    assert r.status_code == 200
    config = r.json()
    assert set(config) == set(provider.METHODS)
    assert all(v == 0 for method in config.values() for v in method.values())
    assert set(config["cash"]) == set(provider.SETTINGS)


def test_put_is_partial_and_methods_inherit_default(client):
    configure(client, {"default": {"refund_delay_s": 5}})
    config = configure(client, {"credit_card": {"refund_delay_s": 60, "failure_rate": 0.25}})
    assert config["credit_card"] == {"authorize_delay_s": 0, "capture_delay_s": 0,
                                     "refund_delay_s": 60, "failure_rate": 0.25}
    assert config["cash"]["refund_delay_s"] == 5 and config["default"]["refund_delay_s"] == 5
    config = configure(client, {"credit_card": {"capture_delay_s": 2}})
    assert (config["credit_card"]["refund_delay_s"], config["credit_card"]["capture_delay_s"]) \
        == (60, 2)
    assert client.get("/_sim/psp").json() == config
    other = client.get("/_sim/psp", params={"tenant": "acme"}).json()
    assert other["credit_card"]["refund_delay_s"] == 0  # per tenant


@pytest.mark.parametrize("body, field", [
    ({"bitcoin": {"refund_delay_s": 1}}, "bitcoin"),
    ({"cash": {"refund_delay": 1}}, "refund_delay"),
    ({"cash": {"refund_delay_s": -1}}, "refund_delay_s"),
    ({"cash": {"failure_rate": 1.5}}, "failure_rate"),
    ({"cash": {"failure_rate": "high"}}, "failure_rate"),
    ({"cash": 3}, "cash"),
])
def test_bad_config_is_a_4xx_naming_the_field(client, body, field):
    r = client.put("/_sim/psp", json=body)
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in r.text
    assert client.get("/_sim/psp").json()["cash"]["failure_rate"] == 0


@pytest.mark.parametrize("patch, field", [
    ({"cash": {"failure_rate": float("nan")}}, "cash.failure_rate"),
    ({"cash": {"refund_delay_s": True}}, "cash.refund_delay_s"),
    ({"nope": {}}, "nope"),
    (["cash"], None),
])
def test_domain_validation_names_the_field(patch, field):
    with pytest.raises(Exception) as caught:
        provider.validate_config(patch)
    assert getattr(caught.value, "field", None) == field


def test_operations_filter_is_validated(client):
    r = client.get("/_sim/psp/operations", params={"status": "lost"})
    assert r.status_code == 400 and "status" in r.text
    assert client.get("/_sim/psp/operations").json() == {"operations": []}


# -- zero delay: as if there were no PSP ------------------------------------------------

def test_zero_delay_refund_completes_in_the_request(client, auth, platform):
    order_id = make_order(platform, ["completed", "completed"])
    before = len(outbox(platform, REFUNDED))
    ret = do_return(client, auth, platform, order_id)
    [refund_tx] = graphql_refunds(client, auth, order_id)
    assert refund_tx["amount"] == ret["total_refund_amount_adjusted"]
    assert refund_tx["correlationId"] == ret["id"]
    assert len(outbox(platform, REFUNDED)) == before + 1
    refunds = client.get(f"/v0/d/orders/{order_id}/refunds", headers=auth).json()["refunds"]
    assert [r["status"] for r in refunds] == ["completed"]
    assert client.get("/_sim/psp/operations").json() == {"operations": []}  # no trace


# -- a delay: payment details unavailable until the clock gets there ---------------------

def test_delayed_refund_appears_only_when_the_psp_is_done(client, auth, platform):
    configure(client, {"credit_card": {"refund_delay_s": 60}})
    order_id = make_order(platform, ["completed", "completed"])
    refunded_before = len(outbox(platform, REFUNDED))
    ret = do_return(client, auth, platform, order_id)
    processed = [p for p in outbox(platform, "return.processed") if p["id"] == ret["id"]]
    assert len(processed) == 1  # the return itself is processed at once

    assert graphql_refunds(client, auth, order_id) == []
    assert rest_refunds(client, auth, order_id) == []
    assert len(outbox(platform, REFUNDED)) == refunded_before
    refunds = client.get(f"/v0/d/orders/{order_id}/refunds", headers=auth).json()["refunds"]
    assert [r["status"] for r in refunds] == ["pending"]
    [op] = client.get("/_sim/psp/operations", params={"order_id": order_id}).json()["operations"]
    assert (op["kind"], op["status"], op["amount"], op["method"], op["correlation_id"]) == (
        "refund", "pending", ret["total_refund_amount_adjusted"], "credit_card", ret["id"])

    platform.clock.advance(59)
    platform.timers.run_due()
    assert graphql_refunds(client, auth, order_id) == []

    platform.clock.advance(2)
    platform.timers.run_due()
    [refund_tx] = graphql_refunds(client, auth, order_id)
    assert (refund_tx["amount"], refund_tx["correlationId"]) == (
        ret["total_refund_amount_adjusted"], ret["id"])
    assert len(rest_refunds(client, auth, order_id)) == 1
    events = outbox(platform, REFUNDED)[refunded_before:]
    assert len(events) == 1
    assert schemas.validate(REFUNDED, events[0]) == []
    assert events[0]["order_id"] == order_id
    assert events[0]["transactions"][0]["correlation_id"] == ret["id"]
    assert events[0]["transactions"][0]["amount"] == ret["total_refund_amount_adjusted"]
    refunds = client.get(f"/v0/d/orders/{order_id}/refunds", headers=auth).json()["refunds"]
    assert [r["status"] for r in refunds] == ["completed"]
    [op] = client.get("/_sim/psp/operations", params={"status": "succeeded"}).json()[
        "operations"]
    assert op["completed_at"] is not None and op["reason"] is None
    platform.timers.run_due()
    assert len(outbox(platform, REFUNDED)) == refunded_before + 1  # exactly once


def test_pending_refunds_count_against_the_refundable_balance(client, auth, platform):
    configure(client, {"default": {"refund_delay_s": 30}})
    order_id = make_order(platform, ["completed"])
    with platform.store.read() as tx:
        captured = tx.get(TENANT, E.PAYMENT_ACCOUNT, order_id)["transactions"][-1]["amount"]
    r = client.post(f"/v0/d/orders/{order_id}/refunds", headers=auth,
                    json={"amount": captured, "currency": "USD", "reason": "Goodwill"})
    assert r.status_code == 201 and r.json()["status"] == "pending"
    again = client.post(f"/v0/d/orders/{order_id}/refunds", headers=auth,
                        json={"amount": 1, "currency": "USD", "reason": "Goodwill"})
    assert again.status_code == 400 and again.json()["error_code"] == \
        "refund_amount_exceeds_balance"


def test_delayed_appeasement_issues_its_events_when_done(client, auth, platform):
    configure(client, {"credit_card": {"refund_delay_s": 10}})
    order_id = make_order(platform, ["completed"])
    issued_before = len(outbox(platform, "refund_request.issued"))
    r = client.post(f"/v0/d/orders/{order_id}/refunds", headers=auth,
                    json={"amount": 5, "currency": "USD", "reason": "Price adjustment"})
    assert r.status_code == 201 and r.json()["status"] == "pending"
    assert len(outbox(platform, "refund_request.issued")) == issued_before
    platform.clock.advance(10)
    platform.timers.run_due()
    with platform.store.read() as tx:
        names = [n for (n,) in tx.conn.execute(
            "SELECT name FROM outbox WHERE tenant=? ORDER BY seq", (TENANT,))]
    assert names[-2:] == ["refund_request.issued", REFUNDED]
    assert graphql_refunds(client, auth, order_id)[0]["amount"] == 5


def test_failure_rate_one_fails_the_operation(client, auth, platform):
    configure(client, {"credit_card": {"refund_delay_s": 10, "failure_rate": 1}})
    order_id = make_order(platform, ["completed"])
    before = len(outbox(platform, REFUNDED))
    do_return(client, auth, platform, order_id)
    platform.clock.advance(10)
    platform.timers.run_due()
    [op] = client.get("/_sim/psp/operations", params={"account_id": order_id}).json()[
        "operations"]
    assert (op["status"], op["reason"]) == ("failed", "declined")
    assert graphql_refunds(client, auth, order_id) == []
    assert len(outbox(platform, REFUNDED)) == before
    refunds = client.get(f"/v0/d/orders/{order_id}/refunds", headers=auth).json()["refunds"]
    assert [r["status"] for r in refunds] == ["failed"]


def test_immediate_failure_is_recorded(client, auth, platform):
    configure(client, {"default": {"failure_rate": 1}})
    order_id = make_order(platform, ["completed"])
    before = len(outbox(platform, REFUNDED))
    do_return(client, auth, platform, order_id)
    [op] = client.get("/_sim/psp/operations", params={"status": "failed"}).json()["operations"]
    assert op["order_id"] == order_id and op["due_at"] is None
    assert graphql_refunds(client, auth, order_id) == [] and \
        len(outbox(platform, REFUNDED)) == before


def test_a_psp_fault_fails_the_operation(client, auth, platform):
    if not isinstance(getattr(platform, "faults", None), Faults):
        pytest.skip("no fault injection in this build")
    platform.faults.create(TENANT, {"system": "psp", "operation": "refund", "status": 502})
    order_id = make_order(platform, ["completed"])
    do_return(client, auth, platform, order_id)
    [op] = client.get("/_sim/psp/operations", params={"order_id": order_id}).json()[
        "operations"]
    assert (op["status"], op["reason"]) == ("failed", "simulated_fault")
    assert graphql_refunds(client, auth, order_id) == []


def test_a_slow_psp_fault_defers_the_operation(client, auth, platform):
    if not isinstance(getattr(platform, "faults", None), Faults):
        pytest.skip("no fault injection in this build")
    platform.faults.create(TENANT, {"system": "psp", "operation": "*", "status": None,
                                    "latency_ms": 20_000})
    order_id = make_order(platform, ["completed"])
    before = len(outbox(platform, REFUNDED))
    do_return(client, auth, platform, order_id)
    [op] = client.get("/_sim/psp/operations", params={"order_id": order_id}).json()[
        "operations"]
    assert op["status"] == "pending" and graphql_refunds(client, auth, order_id) == []
    platform.clock.advance(20)
    platform.timers.run_due()
    assert len(graphql_refunds(client, auth, order_id)) == 1
    assert len(outbox(platform, REFUNDED)) == before + 1


def test_capture_and_authorize_go_through_the_same_machinery(platform):
    order_id = make_order(platform, ["completed"], captured=False)
    with platform.store.tx() as tx:
        platform.psp.update_config(tx, TENANT, {"credit_card": {"capture_delay_s": 5}})
        op = platform.psp.capture(tx, TENANT, id="cap-1", account_id=order_id,
                                  order_id=order_id, instrument_id="instr-1",
                                  method="credit_card", amount=10.0, currency="USD",
                                  correlation_id=order_id)
        platform.psp.authorize(tx, TENANT, id="auth-1", account_id=order_id,
                               order_id=order_id, instrument_id="instr-1",
                               method="credit_card", amount=1.0, currency="USD",
                               correlation_id=order_id)
    assert op["status"] == "pending"
    with platform.store.read() as tx:
        kinds = [t["transaction_type"] for t in
                 tx.get(TENANT, E.PAYMENT_ACCOUNT, order_id)["transactions"]]
    assert kinds == ["authorize", "authorize"]  # the instant authorization is booked
    platform.clock.advance(5)
    assert platform.timers.run_due() >= 0
    with platform.store.read() as tx:
        kinds = [t["transaction_type"] for t in
                 tx.get(TENANT, E.PAYMENT_ACCOUNT, order_id)["transactions"]]
    assert kinds == ["authorize", "authorize", "capture"]
    captured = outbox(platform, "payment_account.amount_captured")[-1]
    assert captured["transactions"][0]["amount"] == 10.0
    assert schemas.validate("payment_account.amount_captured", captured) == []


def test_the_psp_imports_only_core_and_eventstream():
    from tests.test_layers import ROOT, imports_of, modules

    for path in modules("psp"):
        above = {n for n in imports_of(path) if n.startswith("simulator.")
                 and not n.startswith(("simulator.core", "simulator.eventstream"))}
        assert not above, f"{path.relative_to(ROOT)} imports {above}"
    assert modules("psp")
