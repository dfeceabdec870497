"""Event Stream payloads built from the world's documents, and their emission through the
outbox in the transaction of the change that caused them.

Shapes follow reference/newstore-api.md section 1e; the guesses are in docs/behaviour.md
("Event payloads").
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from simulator.core.clock import iso
from simulator.core.errors import Conflict, ValidationFailed
from simulator.core.store import Tx
from simulator.eventstream import outbox, schemas
from simulator.platform import entities as E
from simulator.platform.context import Platform

Doc = dict[str, Any]

ORDER_ITEM_KEYS = ("id", "item_type", "product_id", "pricebook_id", "pricebook_price",
                   "list_price", "item_discounts", "order_discounts", "tax",
                   "tax_provider_details", "quantity", "status", "extended_attributes",
                   "external_identifiers", "shipping_service_level", "is_preorder",
                   "fulfillment_location_id", "external_item_id")
ORDER_KEYS = ("id", "external_id", "created_at", "placed_at", "associate_id", "associate_email",
              "channel_type", "channel", "demand_location_id", "is_exchange", "exchanges",
              "customer_email", "customer_id", "is_historical", "price_method", "subtotal",
              "discount_total", "shipping_total", "shipping_tax", "tax_total", "grand_total",
              "currency", "tax_strategy", "tax_exempt", "extended_attributes")
RETURN_KEYS = ("id", "order_id", "returned_at", "total_refund_amount",
               "total_refund_amount_adjusted", "total_refund_excl_tax", "total_refund_tax",
               "return_fee", "currency", "return_location_id", "customer_id", "customer_email",
               "associate_id", "associate_email")
RETURN_ITEM_KEYS = ("id", "order_item_id", "product_id", "quantity", "refund_amount",
                    "refund_amount_adjusted", "refund_excl_tax", "refund_tax", "item_condition",
                    "condition_code", "return_reason", "return_code")
REFUND_KEYS = ("id", "order_id", "payment_account_id", "amount", "currency", "requested_at",
               "reason_code", "return_reason", "note", "associate_id", "associate_email")
PAYMENT_EVENTS = {"authorize": "payment_account.amount_authorized",
                  "capture": "payment_account.amount_captured",
                  "refund": "payment_account.amount_refunded"}


# -- orders ------------------------------------------------------------------------------

def _address(order: Doc, address_type: str) -> Doc | None:
    """An order address as events carry it: both address_line1 and address_line_1 spellings."""
    for address in order.get("addresses") or []:
        if address.get("address_type") == address_type:
            out = {k: v for k, v in address.items() if k != "address_type"}
            out["address_line1"] = address.get("address_line_1")
            out["address_line2"] = address.get("address_line_2") or ""
            return out
    return None


def _order_item(item: Doc) -> Doc:
    return {k: copy.deepcopy(item.get(k)) for k in ORDER_ITEM_KEYS}


def _order(order: Doc) -> Doc:
    payload = {k: copy.deepcopy(order.get(k)) for k in ORDER_KEYS}
    payload["is_exchange"] = bool(order.get("is_exchange"))
    payload["is_historical"] = bool(order.get("is_historical"))
    payload["exchanges"] = payload["exchanges"] or []
    payload["extended_attributes"] = payload["extended_attributes"] or []
    payload["billing_address"] = _address(order, "billing")
    payload["shipping_address"] = _address(order, "shipping")
    payload["items"] = [_order_item(i) for i in order["items"]]
    return payload


def order_created(order: Doc) -> Doc:
    """order.created: the whole order, as placed."""
    return _order(order)


def order_opened(order: Doc) -> Doc:
    """order.opened: the same shape as order.created, once the order is accepted."""
    return _order(order)


def order_completed(order: Doc) -> Doc:
    """order.completed: every item of the order with where and how it was fulfilled."""
    return {"id": order["id"], "external_id": order.get("external_id"),
            "items": [{"id": i["id"], "product_id": i["product_id"],
                       "quantity": i.get("quantity", 1), "status": i["status"],
                       "fulfillment_location_id": i.get("fulfillment_location_id"),
                       "shipping_service_level": i.get("shipping_service_level")}
                      for i in order["items"]]}


def order_cancelled(order: Doc, items: Iterable[Doc] | None = None) -> Doc:
    """order.cancelled: the cancelled items (all of them unless given)."""
    chosen = list(items) if items is not None else [
        i for i in order["items"] if i["status"] == "cancelled"]
    return {"id": order["id"], "external_id": order.get("external_id"),
            "cancellation_reason": order.get("cancellation_reason"),
            "items": [{"id": i["id"], "product_id": i["product_id"],
                       "quantity": i.get("quantity", 1), "status": "cancelled",
                       "cancellation_reason": i.get("cancellation_reason")} for i in chosen]}


def order_items_cancelled(order: Doc, items: Iterable[Doc], reason: str | None = None) -> Doc:
    """order.items_cancelled: the units cancelled by one operation, with the reason."""
    return {"id": order["id"], "external_id": order.get("external_id"),
            "items": [{"id": i["id"], "product_id": i["product_id"],
                       "quantity": i.get("quantity", 1),
                       "cancellation_reason": reason or i.get("cancellation_reason")
                       or "cancelled"} for i in items]}


# -- returns, refunds, payments -------------------------------------------------------------

def return_processed(ret: Doc, order: Doc | None = None) -> Doc:
    """return.processed: the return with its refund figures per item."""
    payload = {k: copy.deepcopy(ret.get(k)) for k in RETURN_KEYS}
    if order is not None:
        for key in ("customer_id", "customer_email"):
            payload[key] = payload[key] or order.get(key)
    if payload["order_id"] is None:
        del payload["order_id"]  # blind returns carry no order
    payload["items"] = [{k: item.get(k) for k in RETURN_ITEM_KEYS} for item in ret["items"]]
    return payload


def refund_request_issued(refund: Doc) -> Doc:
    """refund_request.issued: an appeasement refund, once completed."""
    payload = {k: refund.get(k) for k in REFUND_KEYS}
    payload["payment_account_id"] = payload["payment_account_id"] or refund["order_id"]
    return payload


def _attributes(metadata: Any) -> list[Doc]:
    if isinstance(metadata, dict):
        return [{"name": str(k), "value": v if isinstance(v, str) else str(v)}
                for k, v in metadata.items()]
    return list(metadata or [])


def payment_account_event(account: Doc, transactions: Iterable[Doc]) -> Doc:
    """payment_account.amount_*: the new transactions and the instruments they touch."""
    txs = list(transactions)
    used = {t["instrument_id"] for t in txs}
    return {
        "id": account["id"], "order_id": account["order_id"],
        "currency": account.get("currency"),
        "transactions": [{"id": t["id"], "instrument_id": t["instrument_id"],
                          "amount": t["amount"], "currency": t["currency"],
                          "correlation_id": t.get("correlation_id"),
                          "transaction_type": t["transaction_type"],
                          "created_at": t.get("created_at"),
                          "extended_attributes": _attributes(t.get("metadata"))} for t in txs],
        "instruments": [{"id": i["id"], "payment_method": i["payment_method"],
                         "payment_wallet": i.get("payment_wallet"),
                         "payment_provider": i["payment_provider"]}
                        for i in account["instruments"] if i["id"] in used],
    }


# -- fulfillment ---------------------------------------------------------------------------

def fulfillment_request_event(fr: Doc, items: Iterable[Doc] | None = None) -> Doc:
    """fulfillment_request.*: the request and the items the event is about (all unless given)."""
    chosen = list(items) if items is not None else fr["items"]
    out_items = []
    for item in chosen:
        entry = {"id": item["id"], "product_id": item["product_id"],
                 "status": item.get("status")}
        for key in ("shipped_at", "carrier", "tracking_code", "rejection_reason"):
            if item.get(key) is not None:
                entry[key] = item[key]
        out_items.append(entry)
    return {"id": fr["id"], "order_id": fr["order_id"],
            "logical_timestamp": int(fr.get("logical_timestamp") or 0),
            "fulfillment_location_id": fr.get("fulfillment_location_id") or fr.get("node_id"),
            "associate_id": fr.get("associate_id"), "service_level": fr.get("service_level"),
            "items": out_items}


# -- inventory -------------------------------------------------------------------------------

def _inventory_items(products: Iterable[tuple[Doc, int]]) -> list[Doc]:
    return [{"product_id": product["id"], "quantity": quantity,
             "external_identifiers": {k: v for k, v in
                                      (product.get("external_identifiers") or {}).items()
                                      if k in ("sku", "upc", "ean13")}}
            for product, quantity in products]


def inventory_adjustment_created(id: str, location_id: str, products: Iterable[tuple[Doc, int]],
                                 processed_at: datetime, *, reason: str = "damaged",
                                 adjustment_type: str = "decrease",
                                 associate_id: str | None = None) -> Doc:
    """inventory_transaction.adjustment_created: a stock correction at a location."""
    return {"id": id, "fulfillment_node_id": location_id, "adjustment_type": adjustment_type,
            "adjustment_reason": reason, "origin_stock_location_name": "main",
            "associate_id": associate_id, "processed_at": iso(processed_at),
            "chunk_number": 1, "total_chunks": 1, "items": _inventory_items(products)}


def inventory_items_received(id: str, location_id: str, products: Iterable[tuple[Doc, int]],
                             processed_at: datetime, *, asn_id: str, shipment_ref: str,
                             order_ref: str, associate_id: str | None = None) -> Doc:
    """inventory_transaction.items_received: units of an ASN received at a location."""
    return {"id": id, "fulfillment_location_id": location_id, "associate_id": associate_id,
            "processed_at": iso(processed_at), "shipment_ref": shipment_ref,
            "order_ref": order_ref, "asn_id": asn_id, "chunk_number": 1, "total_chunks": 1,
            "items": _inventory_items(products)}


def inventory_asn_created(id: str, location_id: str, products: Iterable[tuple[Doc, int]],
                          created_at: datetime, *, shipment_ref: str, order_ref: str) -> Doc:
    """inventory_transaction.asn_created: an advance shipping notice towards a location."""
    return {"id": id, "asn_id": id, "fulfillment_location_id": location_id,
            "shipment_ref": shipment_ref, "order_ref": order_ref, "created_at": iso(created_at),
            "chunk_number": 1, "total_chunks": 1, "items": _inventory_items(products)}


# -- emission --------------------------------------------------------------------------------

def emit(p: Platform, tx: Tx, tenant: str, name: str, payload: Doc) -> outbox.Event:
    """Publish one event in the caller's transaction."""
    return outbox.publish(tx, tenant, name, payload, event_id=p.ids.uuid(),
                          published_at=p.clock.now())


def order_injected(p: Platform, tx: Tx, tenant: str, order: Doc) -> None:
    """order.created and order.opened (not while on hold), then what injection settled."""
    emit(p, tx, tenant, "order.created", order_created(order))
    if order["status"] == "on_hold":
        return
    emit(p, tx, tenant, "order.opened", order_opened(order))
    if order["status"] == "cancelled":
        emit(p, tx, tenant, "order.cancelled", order_cancelled(order))
    elif order["status"] == "closed":
        emit(p, tx, tenant, "order.completed", order_completed(order))


def refund_booked(p: Platform, tx: Tx, tenant: str, account: Doc, transaction: Doc) -> None:
    """payment_account.amount_refunded for a refund transaction booked on the account."""
    emit(p, tx, tenant, "payment_account.amount_refunded",
         payment_account_event(account, [transaction]))


def fulfillment_changed(p: Platform, tx: Tx, tenant: str, fr: Doc, order: Doc | None,
                        order_status_before: str | None, changes: dict[str, Doc]) -> None:
    """What a location's answer publishes: request item events, then order events."""
    changed = [i for i in fr["items"] if i["id"] in changes]
    completed = [i for i in changed if i["status"] == "completed"]
    rejected = [i for i in changed if i["status"] == "rejected"]
    cancelled = [i for i in changed if i["status"] == "cancelled"]
    if completed:
        emit(p, tx, tenant, "fulfillment_request.items_completed",
             fulfillment_request_event(fr, completed))
    if rejected:
        emit(p, tx, tenant, "fulfillment_request.items_failed",
             fulfillment_request_event(fr, rejected))
    if order is None:
        return
    if cancelled:
        ids = {i["id"] for i in cancelled}
        emit(p, tx, tenant, "order.items_cancelled",
             order_items_cancelled(order, [i for i in order["items"] if i["id"] in ids]))
    if order["status"] != order_status_before:
        if order["status"] == "closed":
            emit(p, tx, tenant, "order.completed", order_completed(order))
        elif order["status"] == "cancelled":
            emit(p, tx, tenant, "order.cancelled", order_cancelled(order))


# -- samples for POST /_sim/events and `newstore-sim emit` -----------------------------------

def _newest(tx: Tx, tenant: str, kind: str, test: Any = None, scan: int = 200) -> Doc | None:
    for doc in tx.query(tenant, kind, limit=scan):
        if test is None or test(doc):
            return doc
    return None


def _need(doc: Doc | None, tenant: str, what: str) -> Doc:
    if doc is None:
        raise Conflict(f"tenant {tenant!r} has no {what} to build this event from",
                       error_code="no_entity_for_event")
    return doc


def _sample_id(tenant: str, name: str, part: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"newstore-sim:{tenant}:{name}:{part}"))


def _sample(p: Platform, tx: Tx, tenant: str, name: str) -> Doc:
    newest_order = _newest(tx, tenant, E.ORDER)
    if name in ("order.created", "order.opened"):
        return _order(_need(newest_order, tenant, "order"))
    if name == "order.completed":
        order = _newest(tx, tenant, E.ORDER, lambda o: o["status"] == "closed") or newest_order
        return order_completed(_need(order, tenant, "order"))
    if name in ("order.cancelled", "order.items_cancelled"):
        order = _newest(tx, tenant, E.ORDER,
                        lambda o: any(i["status"] == "cancelled" for i in o["items"]))
        if order is None:  # none in the world: the newest order, as if cancelled
            order = copy.deepcopy(_need(newest_order, tenant, "order"))
            for item in order["items"]:
                item.update(status="cancelled", cancellation_reason="insufficient_stock")
        items = [i for i in order["items"] if i["status"] == "cancelled"]
        if name == "order.cancelled":
            return order_cancelled(order, items)
        return order_items_cancelled(order, items)
    if name == "return.processed":
        ret = _need(_newest(tx, tenant, E.RETURN), tenant, "return")
        order = tx.get(tenant, E.ORDER, ret["order_id"]) if ret.get("order_id") else None
        return return_processed(ret, order)
    if name == "refund_request.issued":
        refund = _newest(tx, tenant, E.REFUND, lambda r: r.get("type") == "appeasement") \
            or _newest(tx, tenant, E.REFUND)
        return refund_request_issued(_need(refund, tenant, "refund"))
    if name in PAYMENT_EVENTS.values():
        kind = next(k for k, v in PAYMENT_EVENTS.items() if v == name)
        for order in tx.query(tenant, E.ORDER, limit=200):
            account = tx.get(tenant, E.PAYMENT_ACCOUNT, order["id"])
            txs = [t for t in (account or {}).get("transactions", [])
                   if t["transaction_type"] == kind]
            if account and txs:
                return payment_account_event(account, txs[-1:])
        _need(None, tenant, f"payment account with a {kind} transaction")
    if name.startswith("fulfillment_request."):
        fr = copy.deepcopy(_need(_newest(tx, tenant, E.FULFILLMENT_REQUEST), tenant,
                                 "fulfillment request"))
        if name == "fulfillment_request.items_completed":
            items = [i for i in fr["items"] if i["status"] == "completed"] or fr["items"]
            return fulfillment_request_event(fr, items)
        open_item = {"status": "pending", "carrier": None, "tracking_code": None,
                     "shipped_at": None, "rejection_reason": None}
        if name == "fulfillment_request.items_failed":
            items = [i for i in fr["items"] if i["status"] == "rejected"]
            if not items:  # none in the world: the first unit, as if rejected
                items = fr["items"][:1]
                items[0].update(open_item, status="rejected", rejection_reason="no_inventory")
            return fulfillment_request_event(fr, items)
        for item in fr["items"]:  # assigned / ready for handover: units not yet shipped
            item.update(open_item, status="pending" if name.endswith("assigned")
                        else "acknowledged")
        return fulfillment_request_event(fr)
    if name.startswith("inventory_transaction."):
        locations = tx.query(tenant, E.LOCATION, ascending=True, limit=1)
        products = tx.query(tenant, E.PRODUCT, ascending=True, limit=2)
        location = _need(locations[0] if locations else None, tenant, "location")
        if not products:
            _need(None, tenant, "product")
        lines = [(product, n + 1) for n, product in enumerate(products)]
        now = p.clock.now()
        asn_id = _sample_id(tenant, "asn", location["id"])
        refs = {"shipment_ref": f"SHP-{asn_id[:8].upper()}", "order_ref": f"TO-{asn_id[9:13]}"}
        if name == "inventory_transaction.asn_created":
            return inventory_asn_created(asn_id, location["id"], lines, now, **refs)
        if name == "inventory_transaction.items_received":
            return inventory_items_received(_sample_id(tenant, name, location["id"]),
                                            location["id"], lines, now, asn_id=asn_id, **refs)
        return inventory_adjustment_created(_sample_id(tenant, name, location["id"]),
                                            location["id"], lines, now)
    raise AssertionError(f"no sample builder for {name}")  # names() and this file disagree


def sample_payload(p: Platform, tenant: str, name: str) -> Doc:
    """A realistic payload for any known event, built from the tenant's newest fitting entity."""
    known = schemas.names()
    if name not in known:
        raise ValidationFailed(f"unknown event name {name!r}; known events: {', '.join(known)}",
                               error_code="unknown_event", field="name")
    with p.store.read() as tx:
        return _sample(p, tx, tenant, name)


def set_path(payload: Doc, path: str, value: Any) -> Doc:
    """Set a dotted path (list indexes as numbers), creating missing object keys."""
    parts = path.split(".") if path else []
    if not parts or any(part == "" for part in parts):
        raise ValidationFailed(f"invalid path {path!r}", error_code="invalid_path", field=path)
    node: Any = payload
    for n, part in enumerate(parts):
        last = n == len(parts) - 1
        where = ".".join(parts[:n + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ValidationFailed(
                    f"cannot set {path!r}: {where!r} is not an index of a list of "
                    f"{len(node)}", error_code="invalid_path", field=path)
            key: Any = int(part)
        elif isinstance(node, dict):
            key = part
            if not last and not isinstance(node.get(key), dict | list):
                if node.get(key) is not None:
                    raise ValidationFailed(
                        f"cannot set {path!r}: {where!r} holds a {type(node[key]).__name__}, "
                        "not an object or list", error_code="invalid_path", field=path)
                node[key] = {}
        else:
            raise ValidationFailed(
                f"cannot set {path!r}: {'.'.join(parts[:n])!r} is not an object or list",
                error_code="invalid_path", field=path)
        if last:
            node[key] = value
        else:
            node = node[key]
    return payload
