"""Refunds: the order's refund records, and appeasement refunds on the payment account."""

from __future__ import annotations

import pytest

from simulator.platform import entities as E
from tests.conftest import get_token
from tests.test_returns import is_problem, make_order, read


def url(order_id: str) -> str:
    return f"/v0/d/orders/{order_id}/refunds"


def test_list_refunds_of_sample_order(client, auth, sample_order_id):
    r = client.get(url(sample_order_id), headers=auth)
    assert r.status_code == 200
    [refund] = r.json()["refunds"]
    ret = client.get(f"/v0/d/orders/{sample_order_id}/returns", headers=auth).json()
    assert refund["type"] == "return" and refund["return_id"] == ret["returns"][0]["id"]
    assert refund["amount"] == ret["returns"][0]["total_refund_amount"]
    assert refund["payment_account_id"] == sample_order_id


def test_appeasement_is_recorded_and_refunded(client, auth, platform, sample_order_id):
    r = client.post(url(sample_order_id), headers=auth, json={
        "amount": 12.5, "currency": "USD", "reason": "Price adjustment", "reason_code": 2,
        "note": "Late delivery"})
    assert r.status_code == 201, r.text
    refund = r.json()
    assert (refund["type"], refund["amount"], refund["currency"], refund["status"]) == (
        "appeasement", 12.5, "USD", "completed")
    assert (refund["return_reason"], refund["reason_code"], refund["note"]) == (
        "Price adjustment", 2, "Late delivery")
    assert refund["return_id"] is None and refund["order_id"] == sample_order_id
    tx = read(platform, E.PAYMENT_ACCOUNT, sample_order_id)["transactions"][-1]
    assert (tx["transaction_type"], tx["amount"], tx["correlation_id"]) == (
        "refund", 12.5, refund["id"])
    listed = client.get(url(sample_order_id), headers=auth).json()["refunds"]
    assert [f["id"] for f in listed][-1] == refund["id"] and len(listed) == 2


def test_amount_beyond_captured_minus_refunded_is_400(client, auth, platform,
                                                       sample_order_id):
    account = read(platform, E.PAYMENT_ACCOUNT, sample_order_id)
    captured = sum(t["amount"] for t in account["transactions"]
                   if t["transaction_type"] == "capture")
    refunded = sum(t["amount"] for t in account["transactions"]
                   if t["transaction_type"] == "refund")
    balance = round(captured - refunded, 2)
    r = client.post(url(sample_order_id), headers=auth,
                    json={"amount": balance + 0.01, "currency": "USD", "reason": "x"})
    problem = is_problem(r, 400, "refund_amount_exceeds_balance")
    assert problem["refundable_balance"] == balance
    assert len(read(platform, E.PAYMENT_ACCOUNT, sample_order_id)["transactions"]) == 3
    exact = client.post(url(sample_order_id), headers=auth,
                        json={"amount": balance, "currency": "USD", "reason": "x"})
    assert exact.status_code == 201
    again = client.post(url(sample_order_id), headers=auth,
                        json={"amount": 0.01, "currency": "USD", "reason": "x"})
    is_problem(again, 400, "refund_amount_exceeds_balance")


def test_uncaptured_order_has_nothing_to_refund(client, auth, platform):
    order_id = make_order(platform, ["pending"], captured=False)
    r = client.post(url(order_id), headers=auth,
                    json={"amount": 1, "currency": "USD", "reason": "x"})
    assert is_problem(r, 400, "refund_amount_exceeds_balance")["refundable_balance"] == 0


def test_currency_must_match_the_order(client, auth, sample_order_id):
    r = client.post(url(sample_order_id), headers=auth,
                    json={"amount": 1, "currency": "EUR", "reason": "x"})
    is_problem(r, 400, "currency_mismatch")


def test_more_than_two_decimals_is_400(client, auth, sample_order_id):
    r = client.post(url(sample_order_id), headers=auth,
                    json={"amount": 1.005, "currency": "USD", "reason": "x"})
    is_problem(r, 400, "invalid_amount")


def test_unknown_order_is_404(client, auth):
    is_problem(client.get(url("nope"), headers=auth), 404, "not_found")
    r = client.post(url("nope"), headers=auth, json={"amount": 1, "currency": "USD",
                                                     "reason": "x"})
    is_problem(r, 404, "not_found")


def test_order_without_payment_account_is_409(client, auth, platform):
    order_id = make_order(platform, ["completed"], account=False)
    r = client.post(url(order_id), headers=auth,
                    json={"amount": 1, "currency": "USD", "reason": "x"})
    is_problem(r, 409, "payment_account_not_found")


def test_refunds_are_tenant_isolated(client, sample_order_id):
    headers = {"Authorization": f"Bearer {get_token(client, 'acme')}", "tenant": "acme"}
    is_problem(client.get(url(sample_order_id), headers=headers), 404)


@pytest.mark.parametrize("payload", [
    {},
    {"amount": 0, "currency": "USD", "reason": "x"},
    {"amount": -5, "currency": "USD", "reason": "x"},
    {"amount": "5", "currency": "USD", "reason": "x"},
    {"amount": 5, "currency": "usd", "reason": "x"},
    {"amount": 5, "currency": "USD"},
    {"amount": 5, "currency": "USD", "reason": ""},
    {"amount": 5, "currency": "USD", "reason": "x", "reason_code": "two"},
    "refund",
])
def test_malformed_bodies_are_400(client, auth, sample_order_id, payload):
    is_problem(client.post(url(sample_order_id), headers=auth, json=payload), 400)
