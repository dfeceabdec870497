"""Returns: listing, reading and processing returns of order items, refunded on the account."""

from __future__ import annotations

import copy
import random
from datetime import timedelta
from typing import Any

import pytest

from simulator.core.clock import iso
from simulator.core.world import SAMPLE_ORDER_ID, add_transaction, money, recompute_totals
from simulator.platform import entities as E
from tests.conftest import get_token

TENANT = "dodici"


def make_order(platform: Any, statuses: list[str], products: list[str] | None = None, *,
               captured: bool = True, account: bool = True, tenant: str = TENANT) -> str:
    """Store a fresh order (one unit per line) with items in the given statuses."""
    rng = random.Random(len(statuses))
    now = platform.clock.now()
    with platform.store.tx() as tx:
        template = tx.get(tenant, E.ORDER, SAMPLE_ORDER_ID) or tx.query(tenant, E.ORDER,
                                                                        limit=1)[0]
        catalog = tx.query(tenant, E.PRODUCT, ascending=True)
        by_id = {p["id"]: p for p in catalog}
        pids = products or [catalog[n]["id"] for n in range(len(statuses))]
        order = copy.deepcopy(template)
        order.update(id=platform.ids.uuid(), external_id=f"T-{rng.randrange(10**9)}",
                     status="open", placed_at=iso(now - timedelta(days=1)),
                     created_at=iso(now - timedelta(days=1)), updated_at=iso(now),
                     discounts=[], shipping_service_level="GROUND", shipping_total=9.95,
                     shipping_tax=0.8)
        order["items"] = []
        for n, (pid, status) in enumerate(zip(pids, statuses, strict=True)):
            product = by_id[pid]
            price = product["price"]
            tax = money(price * 0.08)
            order["items"].append({
                "id": platform.ids.uuid(), "external_item_id": f"EXT{pid}-{n + 1}",
                "item_type": "product", "product_id": pid, "product_name": product["title"],
                "pricebook_id": "default", "pricebook_price": price,
                "list_price": product["list_price"], "item_discounts": 0.0,
                "order_discounts": 0.0, "tax": tax,
                "tax_provider_details": [{"name": "STATE TAX", "amount": tax, "rate": 0.08}],
                "quantity": 1, "status": status, "extended_attributes": [],
                "external_identifiers": dict(product["external_identifiers"]),
                "shipping_service_level": "GROUND", "fulfillment_location_id": "DC01",
                "is_preorder": False, "carrier": None, "tracking_code": None,
                "shipped_at": None, "rejection_reason": None,
                "cancellation_reason": "insufficient_stock" if status == "cancelled" else None,
            })
        recompute_totals(order)
        E.save(tx, tenant, E.ORDER, order)
        if account:
            acc = {"id": order["id"], "order_id": order["id"], "currency": "USD",
                   "instruments": [{"id": "instr-1", "payment_method": "credit_card",
                                    "payment_provider": "adyen", "payment_wallet": None,
                                    "payment_origin": "newstore", "currency": "USD",
                                    "metadata": {}}],
                   "transactions": []}
            add_transaction(acc, rng, "instr-1", "authorize", order["grand_total"], now,
                            correlation_id=order["id"])
            if captured:
                add_transaction(acc, rng, "instr-1", "capture", order["grand_total"], now,
                                correlation_id=order["id"])
            E.save(tx, tenant, E.PAYMENT_ACCOUNT, acc)
    return order["id"]


def read(platform: Any, kind: str, id: str, tenant: str = TENANT) -> dict[str, Any]:
    with platform.store.read() as tx:
        return tx.get(tenant, kind, id)


def is_problem(r: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    if code:
        assert body["error_code"] == code, body
    return body


def url(order_id: str) -> str:
    return f"/v0/d/orders/{order_id}/returns"


def body(*items: dict[str, Any], location: str = "US01", **extra: Any) -> dict[str, Any]:
    return {"items": list(items), "return_location_id": location, **extra}


# -- reads ------------------------------------------------------------------------------

def test_list_returns_of_sample_order(client, auth, sample_order_id):
    r = client.get(url(sample_order_id), headers=auth)
    assert r.status_code == 200
    returns = r.json()["returns"]
    assert len(returns) == 1
    ret = returns[0]
    assert ret["order_id"] == sample_order_id and ret["status"] == "processed"
    assert [i["product_id"] for i in ret["items"]] == ["1000061"]
    assert ret["total_refund_amount"] == money(ret["total_refund_excl_tax"]
                                               + ret["total_refund_tax"])


def test_get_return_and_its_404s(client, auth, platform, sample_order_id):
    ret = client.get(url(sample_order_id), headers=auth).json()["returns"][0]
    r = client.get(f"{url(sample_order_id)}/{ret['id']}", headers=auth)
    assert r.status_code == 200 and r.json() == ret
    is_problem(client.get(f"{url(sample_order_id)}/nope", headers=auth), 404, "not_found")
    other = make_order(platform, ["completed"])
    is_problem(client.get(f"{url(other)}/{ret['id']}", headers=auth), 404, "not_found")


def test_unknown_order_is_404(client, auth):
    is_problem(client.get(url("no-such-order"), headers=auth), 404, "not_found")
    r = client.post(url("no-such-order"), headers=auth,
                    json=body({"product_id": "1000061", "return_reason": "Too small"}))
    is_problem(r, 404, "not_found")


def test_returns_are_tenant_isolated(client, sample_order_id):
    headers = {"Authorization": f"Bearer {get_token(client, 'acme')}", "tenant": "acme"}
    is_problem(client.get(url(sample_order_id), headers=headers), 404)


def test_missing_token_is_401(client, sample_order_id):
    is_problem(client.get(url(sample_order_id)), 401)


# -- create -----------------------------------------------------------------------------

def test_return_refunds_item_and_records_everything(client, auth, platform, sample_order_id):
    before = read(platform, E.PAYMENT_ACCOUNT, sample_order_id)
    item = next(i for i in read(platform, E.ORDER, sample_order_id)["items"]
                if i["product_id"] == "1000068")
    r = client.post(url(sample_order_id), headers=auth, json=body(
        {"product_id": "1000068", "return_reason": "Damaged", "condition_code": 3,
         "item_condition": "Damaged"}, associate_id="assoc-1",
        associate_email="a@example.com"))
    assert r.status_code == 201, r.text
    ret = r.json()
    expected = money(item["pricebook_price"] - item["item_discounts"] - item["order_discounts"]
                     + item["tax"])
    assert ret["total_refund_amount"] == expected == ret["total_refund_amount_adjusted"]
    assert ret["return_location_id"] == "US01" and ret["return_fee"] == 0.0
    assert ret["associate_id"] == "assoc-1"
    [ri] = ret["items"]
    assert ri["order_item_id"] == item["id"] and ri["quantity"] == 1
    assert (ri["return_reason"], ri["condition_code"], ri["item_condition"]) == (
        "Damaged", 3, "Damaged")

    order = read(platform, E.ORDER, sample_order_id)
    assert {i["product_id"]: i["status"] for i in order["items"]} == {
        "1000061": "returned", "1000068": "returned"}
    account = read(platform, E.PAYMENT_ACCOUNT, sample_order_id)
    assert len(account["transactions"]) == len(before["transactions"]) + 1
    tx = account["transactions"][-1]
    assert (tx["transaction_type"], tx["amount"], tx["correlation_id"]) == (
        "refund", expected, ret["id"])

    refunds = client.get(f"/v0/d/orders/{sample_order_id}/refunds", headers=auth).json()
    mine = [f for f in refunds["refunds"] if f["return_id"] == ret["id"]]
    assert len(mine) == 1 and mine[0]["type"] == "return" and mine[0]["amount"] == expected
    listed = client.get(url(sample_order_id), headers=auth).json()["returns"]
    assert [x["id"] for x in listed][-1] == ret["id"] and len(listed) == 2


def test_product_not_in_order_is_400(client, auth, sample_order_id):
    r = client.post(url(sample_order_id), headers=auth,
                    json=body({"product_id": "9999999", "return_reason": "Too small"}))
    problem = is_problem(r, 400, "invalid_return_items")
    assert problem["product_id"] == "9999999"


def test_already_returned_unit_cannot_be_returned_again(client, auth, platform,
                                                         sample_order_id):
    r = client.post(url(sample_order_id), headers=auth,
                    json=body({"product_id": "1000061", "return_reason": "Too small"}))
    problem = is_problem(r, 400, "invalid_return_items")
    assert problem["returnable_quantity"] == 0 and "returned" in problem["detail"]
    assert len(read(platform, E.PAYMENT_ACCOUNT, sample_order_id)["transactions"]) == 3


def test_cancelled_and_unfulfilled_items_cannot_be_returned(client, auth, platform):
    order_id = make_order(platform, ["cancelled", "pending"])
    items = read(platform, E.ORDER, order_id)["items"]
    for item in items:
        r = client.post(url(order_id), headers=auth, json=body(
            {"product_id": item["product_id"], "return_reason": "Too small"}))
        problem = is_problem(r, 400, "invalid_return_items")
        assert item["status"] in problem["detail"]


def test_quantity_takes_several_lines_of_one_product(client, auth, platform):
    order_id = make_order(platform, ["completed", "completed", "completed"],
                          ["1000061", "1000061", "1000068"])
    too_many = client.post(url(order_id), headers=auth, json=body(
        {"product_id": "1000061", "quantity": 3, "return_reason": "Too small"}))
    assert is_problem(too_many, 400, "invalid_return_items")["returnable_quantity"] == 2
    r = client.post(url(order_id), headers=auth, json=body(
        {"product_id": "1000061", "quantity": 2, "return_reason": "Too small"}))
    assert r.status_code == 201
    assert len(r.json()["items"]) == 2
    statuses = [i["status"] for i in read(platform, E.ORDER, order_id)["items"]]
    assert statuses == ["returned", "returned", "completed"]
    # the same product twice in one body counts twice
    order2 = make_order(platform, ["completed"], ["1000061"])
    twice = client.post(url(order2), headers=auth, json=body(
        {"product_id": "1000061", "return_reason": "a"},
        {"product_id": "1000061", "return_reason": "b"}))
    is_problem(twice, 400, "invalid_return_items")


def test_unknown_location_is_400(client, auth, sample_order_id):
    r = client.post(url(sample_order_id), headers=auth,
                    json=body({"product_id": "1000068", "return_reason": "x"},
                              location="NOWHERE"))
    is_problem(r, 400, "unknown_location")


def test_returned_at_fee_and_adjusted_refund(client, auth, platform):
    order_id = make_order(platform, ["completed", "completed"])
    r = client.post(url(order_id), headers=auth, json=body(
        {"product_id": read(platform, E.ORDER, order_id)["items"][0]["product_id"],
         "return_reason": "Too large"}, returned_at="2025-12-30T10:00:00Z", return_fee=5))
    assert r.status_code == 201
    ret = r.json()
    assert ret["returned_at"] == "2025-12-30T10:00:00.000Z"
    assert ret["return_fee"] == 5.0
    assert ret["total_refund_amount_adjusted"] == money(ret["total_refund_amount"] - 5)
    assert read(platform, E.PAYMENT_ACCOUNT, order_id)["transactions"][-1]["amount"] == \
        ret["total_refund_amount_adjusted"]

    pid = read(platform, E.ORDER, order_id)["items"][1]["product_id"]
    over = client.post(url(order_id), headers=auth, json=body(
        {"product_id": pid, "return_reason": "x"}, refund_amount=100000))
    is_problem(over, 400, "invalid_refund_amount")
    adjusted = client.post(url(order_id), headers=auth, json=body(
        {"product_id": pid, "return_reason": "x"}, refund_amount=1.5))
    assert adjusted.status_code == 201
    assert adjusted.json()["items"][0]["refund_amount_adjusted"] == 1.5


def test_bad_returned_at_is_400(client, auth, sample_order_id):
    r = client.post(url(sample_order_id), headers=auth, json=body(
        {"product_id": "1000068", "return_reason": "x"}, returned_at="yesterday"))
    is_problem(r, 400, "invalid_returned_at")


def test_refund_beyond_balance_rolls_everything_back(client, auth, platform):
    order_id = make_order(platform, ["completed"])
    balance = read(platform, E.ORDER, order_id)["grand_total"]
    r = client.post(f"/v0/d/orders/{order_id}/refunds", headers=auth,
                    json={"amount": balance, "currency": "USD", "reason": "Goodwill"})
    assert r.status_code == 201
    pid = read(platform, E.ORDER, order_id)["items"][0]["product_id"]
    r = client.post(url(order_id), headers=auth,
                    json=body({"product_id": pid, "return_reason": "x"}))
    is_problem(r, 400, "refund_amount_exceeds_balance")
    assert read(platform, E.ORDER, order_id)["items"][0]["status"] == "completed"
    assert client.get(url(order_id), headers=auth).json()["returns"] == []


def test_order_without_payment_account_is_409(client, auth, platform):
    order_id = make_order(platform, ["completed"], account=False)
    pid = read(platform, E.ORDER, order_id)["items"][0]["product_id"]
    r = client.post(url(order_id), headers=auth,
                    json=body({"product_id": pid, "return_reason": "x"}))
    is_problem(r, 409, "payment_account_not_found")


@pytest.mark.parametrize("payload", [
    {},
    {"return_location_id": "US01"},
    {"items": [], "return_location_id": "US01"},
    {"items": [{"product_id": "1000068"}], "return_location_id": "US01"},
    {"items": [{"product_id": "1000068", "return_reason": "x", "quantity": 0}],
     "return_location_id": "US01"},
    {"items": [{"product_id": 5, "return_reason": "x"}], "return_location_id": "US01"},
    {"items": "1000068", "return_location_id": "US01"},
    {"items": [{"product_id": "1000068", "return_reason": "x"}]},
    {"items": [{"product_id": "1000068", "return_reason": "x"}], "return_location_id": "US01",
     "return_fee": -1},
    [],
])
def test_malformed_bodies_are_400(client, auth, sample_order_id, payload):
    is_problem(client.post(url(sample_order_id), headers=auth, json=payload), 400)


def test_non_json_body_is_4xx_problem(client, auth, sample_order_id):
    r = client.post(url(sample_order_id), headers={**auth, "content-type": "application/json"},
                    content=b"{not json")
    assert 400 <= r.status_code < 500
    assert r.headers["content-type"].startswith("application/problem+json")
