"""Orders as the REST APIs show them: the sales-order model, customer orders, id lookups."""

from __future__ import annotations

from typing import Any

from simulator.core.errors import NotFound
from simulator.core.store import Tx
from simulator.core.world import IN_STORE_HANDOVER, money
from simulator.platform import entities as E
from simulator.platform.context import Platform
from simulator.platform.payments import instrument_amounts

Doc = dict[str, Any]

ORDERS_V2 = "application/x.newstore.orders+json;version=2"

# item status in the order document -> item status of the sales-order model
ITEM_STATUS = {"pending": "pending", "completed": "complete", "complete": "complete",
               "cancelled": "cancelled", "returned": "returned", "on_hold": "on_hold",
               "captured": "in_fulfillment"}  # captured: endless aisle, paid, OMS fulfils
# order status in the order document -> status of the sales-order model
ORDER_STATUS = {"open": "open", "closed": "closed", "cancelled": "closed", "on_hold": "on_hold",
                "partially_complete": "open",  # mixed cart: carry items done, the rest not
                "failed": "failed", "created_for_blind_return": "created_for_blind_return"}
PAYMENT_METHODS = {"cash", "credit_card", "gift_card"}


def find_order(tx: Tx, tenant: str, id: str, id_type: str = "internal") -> Doc:
    """An order by NewStore id (internal) or by external id, else NotFound."""
    if id_type == "external":
        found = tx.query(tenant, E.ORDER, external_id=id)
        if not found:
            raise NotFound(f"order with external id {id!r} not found")
        return found[0]
    return E.get_or_404(tx, tenant, E.ORDER, id, "order")


def wants_v2(accept: str | None) -> bool:
    """Whether the Accept header asks for version 2 of the orders media type."""
    return bool(accept) and ORDERS_V2 in accept.replace(" ", "").lower()  # type: ignore[union-attr]


def render_time(value: str | None, utc_marker: bool) -> str:
    """Stored times end in Z; version 1 drops the marker (UTC implied), version 2 keeps it."""
    if not value:
        return ""
    return value if utc_marker else value.removesuffix("Z")


def payment_history(account: Doc | None) -> list[Doc]:
    """Payments (captured, else authorized) and refunds per instrument."""
    if not account:
        return []
    history = []
    for inst in account["instruments"]:
        amounts = instrument_amounts(account, inst["id"])
        method = inst["payment_method"] if inst["payment_method"] in PAYMENT_METHODS \
            else "credit_card"
        paid = amounts["capture_amount"] or amounts["authorize_amount"]
        first = next((t for t in account["transactions"] if t["instrument_id"] == inst["id"]),
                     None)
        if paid:
            history.append({"category": "payment", "method": method, "amount": paid,
                            "currency": inst["currency"],
                            "created_at": first["created_at"] if first else "",
                            "provider": inst.get("payment_provider")})
        for t in account["transactions"]:
            if t["instrument_id"] == inst["id"] and t["transaction_type"] == "refund":
                history.append({"category": "refund", "method": method, "amount": t["amount"],
                                "currency": t["currency"], "created_at": t["created_at"],
                                "provider": inst.get("payment_provider")})
    return history


def sales_order(p: Platform, tenant: str, id: str, id_type: str = "internal",
                accept: str | None = None) -> Doc:
    """GET /v0/orders/{id}: NewStore's sales-order model of one order."""
    if id_type == "internal":  # one document: the internal view's payment history is empty
        order = E.found_or_404(p.store.get(tenant, E.ORDER, id), E.ORDER, id, "order")
        account = None
    else:
        with p.store.read() as tx:
            order = find_order(tx, tenant, id, id_type)
            account = tx.get(tenant, E.PAYMENT_ACCOUNT, order["id"])
    items = []
    for item in order["items"]:
        discount = money(item["item_discounts"] + item["order_discounts"])
        identifiers = item.get("external_identifiers") or {}
        items.append({
            "id": item["id"], "origin_id": item.get("external_item_id") or item["id"],
            "product_id": item["product_id"],
            "status": ITEM_STATUS.get(item["status"], "in_fulfillment"),
            "price": {"gross": item["pricebook_price"], "discount": discount,
                      "net": money(item["pricebook_price"] - discount), "tax": item["tax"]},
            "product_attributes": {"name": item.get("product_name"), "size": None,
                                   "color": None},
            "external_identifier": {"sku": identifiers.get("sku"), "serial_number": None},
        })
    levels = {i.get("shipping_service_level") for i in order["items"]}
    fulfillment_type = order.get("fulfillment_type") or "traditional"
    if len(levels) > 1:
        fulfillment_type = "multiple"
    return {
        "id": order["external_id"],
        "origin": "newstore",
        "origin_id": order["id"],
        "placed_at": render_time(order["placed_at"], wants_v2(accept)),
        "channel_type": "store" if order["channel_type"] == "store" else "web",
        "currency": order["currency"],
        "fulfillment_type": fulfillment_type,
        "status": ORDER_STATUS.get(order["status"], "open"),
        "customer": {"id": order.get("customer_id"), "email": order.get("customer_email"),
                     "name": order.get("customer_name")},
        "items": items,
        "totals": totals(order),
        "payment_history": [] if id_type == "internal" else payment_history(account),
    }


def totals(order: Doc) -> Doc:
    """The totals block of the sales-order model."""
    return {"discount": order["discount_total"], "gift_wrapping": 0.0,
            "gross": order["subtotal"],
            "net": money(order["subtotal"] - order["discount_total"]),
            "shipping": order.get("shipping_total", 0.0), "tax": order["tax_total"],
            "total": order["grand_total"]}


def _shipment_details(order: Doc) -> list[Doc]:
    """One entry per shipment (injected orders) or per service level and node (others)."""
    groups: dict[Any, list[Doc]] = {}
    for item in order["items"]:
        key = item.get("shipment_id") or (item.get("shipping_service_level"),
                                          item.get("fulfillment_location_id"))
        groups.setdefault(key, []).append(item)
    shipments = {s["id"]: s for s in order.get("shipments") or []}
    details = []
    for key, items in groups.items():
        level = items[0].get("shipping_service_level")
        shipment = shipments.get(key) if isinstance(key, str) else None
        price = shipment["price"] if shipment else (
            order.get("shipping_total", 0.0) if len(groups) == 1 else 0.0)
        tax = shipment["tax"] if shipment else (
            order.get("shipping_tax", 0.0) if len(groups) == 1 else 0.0)
        details.append({
            "shipping_option": {
                "service_level_identifier": level,
                "shipping_type": ("in_store_handover" if level == IN_STORE_HANDOVER
                                  else "traditional_carrier"),
                "price": price, "tax": tax},
            "fulfillment_location_id": items[0].get("fulfillment_location_id"),
            "items": [{"id": i["id"], "product_id": i["product_id"], "status": i["status"],
                       "carrier": i.get("carrier"), "tracking_code": i.get("tracking_code"),
                       "shipped_at": i.get("shipped_at")} for i in items],
        })
    return details


def customer_order(p: Platform, tenant: str, id: str) -> Doc:
    """GET /v0/c/customer_orders/{id}: the consumer view, with payment history."""
    with p.store.read() as tx:
        order = find_order(tx, tenant, id)
        account = tx.get(tenant, E.PAYMENT_ACCOUNT, order["id"])
        returns = tx.query(tenant, E.RETURN, parent_id=order["id"])
    timeline = [{"name": "order_placed", "occurred_at": order["placed_at"]}]
    for ret in sorted(returns, key=lambda r: r["returned_at"]):
        timeline.append({"name": "return_processed", "occurred_at": ret["returned_at"]})
    if order["status"] == "cancelled":
        timeline.append({"name": "order_cancelled", "occurred_at": order["updated_at"]})
    payments = []
    history = []
    for inst in (account or {}).get("instruments", []):
        payments.append({"id": inst["id"], "payment_method": inst["payment_method"],
                         "payment_provider": inst["payment_provider"],
                         "payment_wallet": inst.get("payment_wallet"),
                         "currency": inst["currency"],
                         **instrument_amounts(account or {}, inst["id"])})
    for t in (account or {}).get("transactions", []):
        history.append({"transaction_id": t["id"], "instrument_id": t["instrument_id"],
                        "type": t["transaction_type"], "amount": t["amount"],
                        "currency": t["currency"], "correlation_id": t.get("correlation_id"),
                        "created_at": t["created_at"]})
    items = [{"id": i["id"], "external_item_id": i.get("external_item_id"),
              "product_id": i["product_id"], "product_name": i.get("product_name"),
              "status": i["status"], "quantity": i["quantity"],
              "pricebook_price": i["pricebook_price"], "list_price": i["list_price"],
              "item_discounts": i["item_discounts"], "order_discounts": i["order_discounts"],
              "tax": i["tax"], "shipping_service_level": i.get("shipping_service_level"),
              "fulfillment_location_id": i.get("fulfillment_location_id")}
             for i in order["items"]]
    return {
        "customer_order": {
            "id": order["id"],
            "channel_type": order["channel_type"],
            "sales_order_external_id": order["external_id"],
            "status": order["status"],
            "is_historical": bool(order.get("is_historical")),
            "placed_at": order["placed_at"],
            "placement_location": {"id": order.get("demand_location_id")},
            "shipment_details": _shipment_details(order),
            "extended_attributes": list(order.get("extended_attributes") or []),
            "currency_code": order["currency"],
            "order_timeline": timeline,
            "consumer": {"id": order.get("customer_id"), "email": order.get("customer_email"),
                         "name": order.get("customer_name")},
            "totals": {"sub_total": order["subtotal"], "discount_total": order["discount_total"],
                       "shipping_total": order.get("shipping_total", 0.0),
                       "tax_total": order["tax_total"], "grand_total": order["grand_total"]},
            "payments": payments,
            "items": items,
        },
        "payment_history": history,
        "pagination_info": {"total": len(history), "count": len(history), "offset": 0},
    }


def external_order(p: Platform, tenant: str, external_id: str) -> Doc:
    """GET /v0/d/external_orders/{external_id}: the NewStore id of an order number."""
    with p.store.read() as tx:
        order = find_order(tx, tenant, external_id, "external")
    return {"order_uuid": order["id"], "external_id": order["external_id"],
            "status": order["status"], "channel_type": order["channel_type"],
            "placed_at": order["placed_at"]}
