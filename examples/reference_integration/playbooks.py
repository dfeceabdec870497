"""NewStore's ERP playbooks, one function each: an event (plus GraphQL) becomes one ERP record."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from newstore import NewStoreClient

IN_STORE_HANDOVER = "IN_STORE_HANDOVER"

# The playbooks' sample query, plus the ids and correlation ids this integration needs.
ORDER_QUERY = """
query Order($id: String!, $tenant: String!) {
  order(id: $id, tenant: $tenant) {
    id externalId placedAt demandLocationId currency isExchange isHistorical channel
    channelType customerEmail shippingTax shippingTotal taxExempt taxStrategy taxTotal
    subtotal discountTotal grandTotal status
    discounts { edges { node { couponCode } } }
    paymentAccount { instruments { edges { node {
      paymentMethod paymentOrigin paymentProvider
      paymentAccountTransactions { edges { node {
        amount currency transactionType correlationId } } }
    } } } }
    items { edges { node {
      id productId quantity pricebookPrice itemDiscounts orderDiscounts tax status
      shippingServiceLevel fulfillmentLocationId
    } } }
    refunds { edges { node { id returnId type amount status } } }
  }
}
"""


class NotReady(Exception):
    """Payment details (or the order) are not in NewStore yet: park the event, retry later."""


class Ignored(Exception):
    """The event needs no ERP record (e.g. a historical order)."""


@dataclass(frozen=True)
class Record:
    """An ERP record to write: its type and the ErpRecordInput body."""

    record_type: str
    body: dict[str, Any]


@dataclass(frozen=True)
class Playbook:
    """How one event name is turned into an ERP record, and the business key it is deduped on."""

    name: str
    key: Callable[[dict[str, Any]], tuple[str, str]]  # (business key, ERP external_id)
    build: Callable[[NewStoreClient, str, dict[str, Any], str, bool], Record]


def cents(value: float | int | None) -> float:
    """An amount rounded to cents (None counts as 0)."""
    return round(float(value or 0) + 0.0, 2)


def _nodes(connection: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not connection:
        return []
    if "edges" in connection:
        return [edge["node"] for edge in connection["edges"]]
    return list(connection.get("nodes") or [])


def _transactions(order: dict[str, Any]) -> list[dict[str, Any]]:
    """Every payment transaction of the order, each with its instrument's paymentMethod."""
    out = []
    for instrument in _nodes((order.get("paymentAccount") or {}).get("instruments")):
        for tx in _nodes(instrument.get("paymentAccountTransactions")):
            out.append({**tx, "method": instrument.get("paymentMethod") or "unknown"})
    return out


def _by_method(transactions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """[{method, amount}] summed per payment method, in order of first appearance."""
    sums: dict[str, float] = {}
    for tx in transactions:
        sums[tx["method"]] = sums.get(tx["method"], 0.0) + float(tx.get("amount") or 0)
    return [{"method": method, "amount": cents(amount)} for method, amount in sums.items()]


def _line_amount(item: dict[str, Any]) -> float:
    """Price x quantity after item and order discounts (tax apart, as the ERP item wants)."""
    quantity = int(item.get("quantity") or 1)
    return cents(float(item.get("pricebookPrice") or 0) * quantity
                 - float(item.get("itemDiscounts") or 0) - float(item.get("orderDiscounts") or 0))


def _erp_item(item: dict[str, Any]) -> dict[str, Any]:
    return {"product_id": str(item["productId"]), "quantity": int(item.get("quantity") or 1),
            "amount": _line_amount(item), "tax": cents(item.get("tax"))}


def _location(order: dict[str, Any]) -> str | None:
    """The order's store: its demand location, else the channel of a store order."""
    if order.get("demandLocationId"):
        return str(order["demandLocationId"])
    if order.get("channelType") == "store" and order.get("channel"):
        return str(order["channel"])
    return None


def _with_optional(body: dict[str, Any], **optional: Any) -> dict[str, Any]:
    """The body plus the optional fields that have a value (the ERP refuses nulls)."""
    body.update({k: v for k, v in optional.items() if v not in (None, "")})
    return body


def read_order(ns: NewStoreClient, tenant: str, order_id: str) -> dict[str, Any]:
    """The order as GraphQL has it; NotReady while GraphQL does not know it (it may lag)."""
    order = ns.graphql(tenant, ORDER_QUERY, {"id": order_id, "tenant": tenant}).get("order")
    if not order:
        raise NotReady(f"order {order_id} not found in GraphQL yet")
    return order


# -- order.opened: cash sale (in-store purchase) or sales order (endless aisle, mixed cart) ---

def sale_key(payload: dict[str, Any]) -> tuple[str, str]:
    return f"sale:{payload['id']}", str(payload["id"])


def sale_for_opened_order(ns: NewStoreClient, tenant: str, payload: dict[str, Any],
                          external_id: str, allow_missing_payment: bool) -> Record:
    """order.opened -> cash sale, or sales order when anything ships (NetSuite client's rule)."""
    if payload.get("is_historical"):
        raise Ignored("historical order")
    order = read_order(ns, tenant, str(payload["id"]))
    if order.get("isHistorical"):
        raise Ignored("historical order")
    items = _nodes(order.get("items"))
    ships = any(i.get("shippingServiceLevel") != IN_STORE_HANDOVER for i in items)
    record_type = "sales_order" if order.get("channelType") == "web" or ships else "cash_sale"
    transactions = _transactions(order)
    paid = [t for t in transactions if t.get("transactionType") == "capture"]
    if not paid:
        paid = [t for t in transactions if t.get("transactionType") == "authorize"]
    if not paid and not allow_missing_payment:
        raise NotReady("payment details unavailable (no authorization or capture yet)")
    body = {"external_id": external_id, "newstore_order_id": str(order["id"]),
            "currency": order.get("currency") or payload.get("currency"),
            "items": [_erp_item(i) for i in items], "payments": _by_method(paid),
            "total": cents(order.get("grandTotal"))}
    memo = f"NewStore order {order.get('externalId')}" if order.get("externalId") else None
    return Record(record_type, _with_optional(body, location=_location(order),
                                              customer=order.get("customerEmail"), memo=memo))


# -- return.processed: cash refund -------------------------------------------------------------

def return_key(payload: dict[str, Any]) -> tuple[str, str]:
    return f"return:{payload['id']}", str(payload["id"])


def cash_refund_for_return(ns: NewStoreClient, tenant: str, payload: dict[str, Any],
                           external_id: str, allow_missing_payment: bool) -> Record:
    """return.processed -> cash refund of the returned items, paid as the PSP refunded them."""
    return_id = str(payload["id"])
    order_id = payload.get("order_id")
    payments: list[dict[str, Any]] = []
    order: dict[str, Any] = {}
    if order_id:
        order = read_order(ns, tenant, str(order_id))
        refunds = [r for r in _nodes(order.get("refunds")) if r.get("returnId") == return_id]
        refunded = [t for t in _transactions(order) if t.get("transactionType") == "refund"
                    and t.get("correlationId") == return_id]
        expected = cents(sum(float(r.get("amount") or 0) for r in refunds))
        settled = all(r.get("status") == "completed" for r in refunds)
        got = cents(sum(float(t.get("amount") or 0) for t in refunded))
        if not allow_missing_payment and (not settled or got < expected):
            raise NotReady(f"refund of return {return_id} not settled at the PSP yet "
                           f"({got} of {expected})")
        payments = _by_method(refunded)
    body = {"external_id": external_id, "newstore_return_id": return_id,
            "currency": payload.get("currency") or order.get("currency"),
            "items": [{"product_id": str(i["product_id"]), "quantity": int(i.get("quantity") or 1),
                       "amount": cents(i.get("refund_amount")),
                       "tax": cents(i.get("refund_tax"))} for i in payload.get("items") or []],
            "payments": payments, "total": cents(payload.get("total_refund_amount"))}
    location = payload.get("return_location_id") or (_location(order) if order else None)
    blind = not order_id or order.get("status") == "created_for_blind_return"
    return Record("cash_refund", _with_optional(
        body, newstore_order_id=None if blind else str(order_id), location=location,
        customer=payload.get("customer_email"), memo=f"Return {return_id}"))


# -- order.items_cancelled: credit memo --------------------------------------------------------

def cancellation_key(payload: dict[str, Any]) -> tuple[str, str]:
    item_ids = sorted(str(i["id"]) for i in payload.get("items") or [])
    digest = hashlib.sha256(",".join(item_ids).encode()).hexdigest()[:12]
    external_id = f"{payload['id']}-{digest}"  # 49 characters, far below the ERP's 255
    return f"cancellation:{external_id}", external_id


def credit_memo_for_cancelled_items(ns: NewStoreClient, tenant: str, payload: dict[str, Any],
                                    external_id: str, allow_missing_payment: bool) -> Record:
    """order.items_cancelled -> credit memo of the cancelled items, priced as on the order."""
    order = read_order(ns, tenant, str(payload["id"]))
    by_id = {str(i["id"]): i for i in _nodes(order.get("items"))}
    items = []
    for cancelled in payload.get("items") or []:
        line = by_id.get(str(cancelled["id"]))
        if line is None:
            raise NotReady(f"cancelled item {cancelled['id']} not on order {payload['id']} yet")
        items.append(_erp_item(line))
    total = cents(sum(i["amount"] + i["tax"] for i in items))
    reasons = sorted({str(i.get("cancellation_reason")) for i in payload.get("items") or []
                      if i.get("cancellation_reason")})
    body = {"external_id": external_id, "newstore_order_id": str(order["id"]),
            "currency": order.get("currency"), "items": items, "payments": [], "total": total}
    memo = "Cancelled: " + ", ".join(reasons) if reasons else "Cancelled items"
    return Record("credit_memo", _with_optional(body, location=_location(order),
                                                customer=order.get("customerEmail"), memo=memo))


# -- refund_request.issued: cash refund (appeasement) ------------------------------------------

def appeasement_key(payload: dict[str, Any]) -> tuple[str, str]:
    return f"appeasement:{payload['id']}", str(payload["id"])


def cash_refund_for_appeasement(ns: NewStoreClient, tenant: str, payload: dict[str, Any],
                                external_id: str, allow_missing_payment: bool) -> Record:
    """refund_request.issued -> cash refund of the amount, memo = reason and note."""
    order = read_order(ns, tenant, str(payload["order_id"]))
    refund_id = str(payload["id"])
    refunded = [t for t in _transactions(order) if t.get("transactionType") == "refund"
                and t.get("correlationId") == refund_id]
    if not refunded and not allow_missing_payment:
        raise NotReady(f"refund {refund_id} not settled at the PSP yet")
    amount = cents(payload.get("amount"))
    memo = ": ".join(str(p) for p in (payload.get("return_reason"), payload.get("note")) if p)
    body = {"external_id": external_id, "newstore_order_id": str(order["id"]),
            "currency": payload.get("currency") or order.get("currency"),
            "items": [], "payments": _by_method(refunded), "total": amount}
    return Record("cash_refund", _with_optional(body, location=_location(order),
                                                customer=order.get("customerEmail"),
                                                memo=memo or "Appeasement"))


PLAYBOOKS: dict[str, Playbook] = {
    "order.opened": Playbook("order.opened", sale_key, sale_for_opened_order),
    "return.processed": Playbook("return.processed", return_key, cash_refund_for_return),
    "order.items_cancelled": Playbook("order.items_cancelled", cancellation_key,
                                      credit_memo_for_cancelled_items),
    "refund_request.issued": Playbook("refund_request.issued", appeasement_key,
                                      cash_refund_for_appeasement),
}
