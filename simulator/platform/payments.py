"""Payment accounts (id == order id) as NewStore's payment account API shows them."""

from __future__ import annotations

from typing import Any

from simulator.core.world import money, payment_status
from simulator.platform import entities as E
from simulator.platform.context import Platform

Doc = dict[str, Any]

# transaction_type in the account document -> reason in original_transactions
REASONS = {"authorize": "authorization", "capture": "capture", "refund": "refund",
           "void": "void"}


def ledger(tx_doc: Doc) -> tuple[float, float]:
    """(debit, credit) of one transaction: authorizations credit, voids and refunds debit."""
    kind, amount = tx_doc["transaction_type"], tx_doc["amount"]
    if kind == "authorize":
        return 0.0, amount
    if kind in ("void", "refund"):
        return amount, 0.0
    return 0.0, 0.0


def instrument_amounts(account: Doc, instrument_id: str) -> dict[str, float]:
    """Authorized (net of voids), captured and refunded amounts of one instrument."""
    sums = {"authorize": 0.0, "capture": 0.0, "refund": 0.0, "void": 0.0}
    for t in account["transactions"]:
        if t["instrument_id"] == instrument_id and t["transaction_type"] in sums:
            sums[t["transaction_type"]] += t["amount"]
    return {"authorize_amount": money(sums["authorize"] - sums["void"]),
            "capture_amount": money(sums["capture"]),
            "refund_amount": money(sums["refund"])}


def account_view(account: Doc) -> Doc:
    """The GET /v0/c/payments/accounts/{id} body of an account document."""
    transactions = []
    balance = 0.0
    for t in account["transactions"]:
        debit, credit = ledger(t)
        balance += credit - debit
        transactions.append({
            "transaction_id": t["id"], "correlation_id": t.get("correlation_id"),
            "instrument_id": t["instrument_id"], "debit": money(debit), "credit": money(credit),
            "currency": t["currency"], "inserted_at": t["created_at"],
            "metadata": dict(t.get("metadata") or {}, transaction_type=t["transaction_type"])})
    instruments = []
    for inst in account["instruments"]:
        originals = [{
            "transaction_id": t["id"], "correlation_id": t.get("correlation_id"),
            "instrument_id": inst["id"], "reason": REASONS.get(t["transaction_type"], "capture"),
            "amount": t["amount"],
            "capture_amount": t["amount"] if t["transaction_type"] == "capture" else 0.0,
            "refund_amount": t["amount"] if t["transaction_type"] == "refund" else 0.0,
            "currency": t["currency"], "created_at": t["created_at"]}
            for t in account["transactions"] if t["instrument_id"] == inst["id"]]
        instruments.append({
            "id": inst["id"], "payment_method": inst["payment_method"],
            "payment_provider": inst["payment_provider"],
            "payment_wallet": inst.get("payment_wallet"), "currency": inst["currency"],
            **instrument_amounts(account, inst["id"]),
            "metadata": dict(inst.get("metadata") or {}), "original_transactions": originals})
    return {"id": account["id"], "order_id": account["order_id"],
            "currency": account["currency"], "balance": money(balance),
            "payment_status": payment_status(account),
            "transactions": transactions, "instruments": instruments}


def get_account(p: Platform, tenant: str, account_id: str) -> Doc:
    """One payment account, or NotFound."""
    with p.store.read() as tx:
        account = E.get_or_404(tx, tenant, E.PAYMENT_ACCOUNT, account_id, "payment account")
    return account_view(account)
