"""Refunds of an order: the refund records, and appeasements issued on the payment account."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from simulator.core.clock import iso
from simulator.core.errors import Conflict, ValidationFailed
from simulator.core.store import Tx
from simulator.core.world import money
from simulator.platform import entities as E
from simulator.platform import psp_bridge
from simulator.platform.context import Platform

Doc = dict[str, Any]


def refundable_balance(account: Doc) -> float:
    """What can still be refunded: captured minus already refunded."""
    captured = sum(t["amount"] for t in account["transactions"]
                   if t["transaction_type"] == "capture")
    refunded = sum(t["amount"] for t in account["transactions"]
                   if t["transaction_type"] == "refund")
    return money(captured - refunded)


def payment_account(tx: Tx, tenant: str, order_id: str) -> Doc:
    """The order's payment account (its id is the order id); 409 when it has none."""
    account = tx.get(tenant, E.PAYMENT_ACCOUNT, order_id)
    if account is None:
        raise Conflict(f"order {order_id!r} has no payment account to refund",
                       error_code="payment_account_not_found")
    return account


def check_refundable(account: Doc, amount: float, pending: float = 0.0) -> None:
    """Refuse a refund larger than what is left of the captured amount (less refunds the
    PSP has not settled yet)."""
    balance = money(refundable_balance(account) - pending)
    if money(amount) > balance:
        raise ValidationFailed(
            f"refund of {money(amount):.2f} {account['currency']} exceeds the refundable "
            f"balance of {balance:.2f} (captured minus already refunded)",
            error_code="refund_amount_exceeds_balance", field="amount",
            extra={"refundable_balance": balance})


def list_refunds(p: Platform, tenant: str, order_id: str) -> list[Doc]:
    """Every refund of an order, oldest first."""
    with p.store.read() as tx:
        E.get_or_404(tx, tenant, E.ORDER, order_id, "order")
        return tx.query(tenant, E.REFUND, parent_id=order_id, ascending=True)


def create_appeasement(p: Platform, tenant: str, order_id: str, body: Doc) -> Doc:
    """Refund an amount of goodwill on an order, without any item coming back."""
    _check_amount(body["amount"])
    now = p.clock.now()
    rng = random.Random(p.ids.uuid())
    with p.store.tx() as tx:
        order = E.get_or_404(tx, tenant, E.ORDER, order_id, "order")
        return issue_appeasement(p, tx, tenant, order, body, now=now, rng=rng)


def _check_amount(amount: float) -> None:
    if amount <= 0 or money(amount) != round(amount, 6):
        raise ValidationFailed("amount must be positive with at most two decimals",
                               error_code="invalid_amount", field="amount")


def issue_appeasement(p: Platform, tx: Tx, tenant: str, order: Doc, body: Doc, *,
                      now: datetime, rng: random.Random) -> Doc:
    """An appeasement in the caller's transaction; refund_request.issued and
    payment_account.amount_refunded come when the PSP settles (at once without a delay)."""
    amount = body["amount"]
    _check_amount(amount)
    order_id = order["id"]
    if body["currency"] != order["currency"]:
        raise ValidationFailed(
            f"currency {body['currency']} does not match the order's {order['currency']}",
            error_code="currency_mismatch", field="currency")
    account = payment_account(tx, tenant, order_id)
    check_refundable(account, amount, psp_bridge.pending_refunds(p, tx, tenant, account["id"]))
    refund_id = p.ids.uuid()
    refund = {
        "id": refund_id, "order_id": order_id, "payment_account_id": account["id"],
        "return_id": None, "type": "appeasement", "amount": money(amount),
        "currency": order["currency"], "requested_at": iso(now), "status": "pending",
        "reason_code": body.get("reason_code"), "return_reason": body["reason"],
        "note": body.get("note"), "associate_id": body.get("associate_id"),
        "associate_email": body.get("associate_email"),
    }
    E.save(tx, tenant, E.REFUND, refund)
    # refund_request.issued, the transaction and amount_refunded come when the PSP is done
    psp_bridge.request_refund(p, tx, tenant, account, rng, amount, refund_id, refund_id)
    return tx.get(tenant, E.REFUND, refund_id) or refund
