"""Fulfillment requests: what a location is asked to fulfil, and its answers item by item.

A request's items move pending -> acknowledged -> completed | rejected | cancelled; every
change is mirrored on the order's items. The request's status follows from its items:
assigned or acknowledged while any item is open, then completed (something shipped),
rejected (nothing shipped, something rejected) or cancelled.
"""

from __future__ import annotations

from typing import Any

from simulator.core.clock import iso
from simulator.core.errors import Conflict, ValidationFailed
from simulator.core.store import Tx
from simulator.platform import entities as E
from simulator.platform import events
from simulator.platform.context import Platform

Doc = dict[str, Any]

OPEN = ("pending", "acknowledged")
FINAL_REQUEST = ("completed", "rejected", "cancelled")
DEFAULT_CANCELLATION_REASON = "canceled_by_fulfillment_node"
IN_STORE_PICKUP = "IN_STORE_PICKUP"  # the service level of BOPIS (buy online, pick up in store)


def route_external(p: Platform, tx: Tx, tenant: str, order: Doc) -> list[Doc]:
    """Assign each externally routed shipment of a new order to its (known) location."""
    requests = []
    by_id = {i["id"]: i for i in order["items"]}
    for shipment in order.get("shipments") or []:
        routing = shipment.get("routing_strategy") or {}
        node = shipment.get("fulfillment_location_id")
        if routing.get("strategy") != "external" or not node \
                or tx.get(tenant, E.LOCATION, node) is None:
            continue
        items = [by_id[i] for i in shipment["item_ids"] if by_id[i]["status"] == "pending"]
        if items:
            requests.append(assign(p, tx, tenant, order, node,
                                   shipment.get("service_level_identifier"), items))
    return requests


def create_fulfillment_request(
    p: Platform,
    tenant: str,
    order_id: str,
    location_id: str,
    service_level: str | None = None,
    item_ids: list[str] | None = None,
) -> Doc:
    """Assign the order's pending items (or the given ones) to a location, as routing does."""
    with p.store.tx() as tx:
        order = E.get_or_404(tx, tenant, E.ORDER, order_id, "order")
        if tx.get(tenant, E.LOCATION, location_id) is None:
            raise ValidationFailed(f"location {location_id!r} does not exist",
                                   error_code="unknown_location", field="location_id")
        assigned = {i["id"] for fr in tx.query(tenant, E.FULFILLMENT_REQUEST, parent_id=order_id)
                    if fr["status"] not in FINAL_REQUEST for i in fr["items"]
                    if i["status"] in OPEN}
        wanted = set(item_ids) if item_ids is not None else None
        items = [i for i in order["items"] if i["status"] == "pending"
                 and i["id"] not in assigned and (wanted is None or i["id"] in wanted)]
        if not items or (wanted is not None and len(items) != len(wanted)):
            raise Conflict(f"order {order_id!r} has no pending, unassigned items to fulfil"
                           + (" among the given ids" if wanted is not None else ""),
                           error_code="no_items_to_fulfill")
        return assign(p, tx, tenant, order, location_id, service_level, items)


def assign(p: Platform, tx: Tx, tenant: str, order: Doc, location_id: str,
           service_level: str | None, items: list[Doc]) -> Doc:
    """Create the request for these order items in the caller's transaction (routing)."""
    now = p.clock.now()
    level = service_level or items[0].get("shipping_service_level") or \
        order.get("shipping_service_level")
    fr = {
        "id": p.ids.uuid(), "order_id": order["id"], "node_id": location_id,
        "fulfillment_location_id": location_id, "associate_id": None,
        "service_level": level, "status": "assigned", "logical_timestamp": 1,
        "created_at": iso(now), "updated_at": iso(now), "picked_at": None, "labels": [],
        "items": [{"id": i["id"], "product_id": i["product_id"], "status": "pending",
                   "carrier": None, "tracking_code": None, "shipped_at": None,
                   "rejection_reason": None, "picked_at": None} for i in items],
    }
    for item in items:
        item["fulfillment_location_id"] = location_id
    order["updated_at"] = iso(now)
    E.save(tx, tenant, E.ORDER, order)
    E.save(tx, tenant, E.FULFILLMENT_REQUEST, fr)
    events.emit(p, tx, tenant, "fulfillment_request.assigned",
                events.fulfillment_request_event(fr))
    return fr


def get_fulfillment_request(p: Platform, tenant: str, fr_id: str) -> Doc:
    """One fulfillment request of the tenant."""
    with p.store.read() as tx:
        return E.get_or_404(tx, tenant, E.FULFILLMENT_REQUEST, fr_id, "fulfillment request")


def _load_open(tx: Tx, tenant: str, fr_id: str, action: str) -> Doc:
    fr = E.get_or_404(tx, tenant, E.FULFILLMENT_REQUEST, fr_id, "fulfillment request")
    if fr["status"] in FINAL_REQUEST:
        raise Conflict(f"fulfillment request {fr_id!r} is {fr['status']}; cannot {action}",
                       error_code="invalid_state_transition",
                       extra={"fulfillment_request_status": fr["status"]})
    return fr


def _pick(fr: Doc, product_ids: list[str], action: str) -> list[Doc]:
    """One open request item per product id occurrence, in request order."""
    unknown = sorted(set(product_ids) - {i["product_id"] for i in fr["items"]})
    if unknown:
        raise ValidationFailed(
            f"product ids not in fulfillment request {fr['id']!r}: {', '.join(unknown)}",
            error_code="unknown_product_ids", field="product_ids",
            extra={"product_ids": unknown})
    taken: set[str] = set()
    picked = []
    for pid in product_ids:
        item = next((i for i in fr["items"] if i["product_id"] == pid
                     and i["status"] in OPEN and i["id"] not in taken), None)
        if item is None:
            states = sorted({i["status"] for i in fr["items"] if i["product_id"] == pid})
            raise Conflict(
                f"cannot {action} product {pid!r}: no open unit of it left in fulfillment "
                f"request {fr['id']!r} (items are {', '.join(states)})",
                error_code="invalid_item_state", extra={"product_id": pid})
        taken.add(item["id"])
        picked.append(item)
    return picked


def _derive_status(fr: Doc) -> str:
    statuses = {i["status"] for i in fr["items"]}
    if statuses & set(OPEN):
        started = fr["status"] == "acknowledged" or bool(
            statuses & {"acknowledged", "completed", "rejected"})
        return "acknowledged" if started else "assigned"
    if "completed" in statuses:
        return "completed"
    if "rejected" in statuses:
        return "rejected"
    return "cancelled"


def _mirror_and_save(p: Platform, tx: Tx, tenant: str, fr: Doc, changes: dict[str, Doc]) -> Doc:
    """Copy item changes onto the order, settle both statuses, and save."""
    now = iso(p.clock.now())
    order = tx.get(tenant, E.ORDER, fr["order_id"])
    status_before = order["status"] if order is not None else None
    if order is not None:
        for item in order["items"]:
            if item["id"] in changes:
                item.update(changes[item["id"]])
        statuses = {i["status"] for i in order["items"]}
        if statuses and statuses <= {"cancelled"}:
            order["status"] = "cancelled"
        elif "completed" in statuses and statuses <= {"completed", "returned", "cancelled"}:
            order["status"] = "closed"
        order["updated_at"] = now
        E.save(tx, tenant, E.ORDER, order)
    fr["status"] = _derive_status(fr)
    fr["logical_timestamp"] = fr.get("logical_timestamp", 0) + 1
    fr["updated_at"] = now
    E.save(tx, tenant, E.FULFILLMENT_REQUEST, fr)
    events.fulfillment_changed(p, tx, tenant, fr, order, status_before, changes)
    return fr


def acknowledge(p: Platform, tenant: str, fr_id: str) -> Doc:
    """The location accepts the request; repeating it changes nothing."""
    with p.store.tx() as tx:
        fr = _load_open(tx, tenant, fr_id, "acknowledge it")
        if fr["status"] == "acknowledged":
            return fr
        changes = {}
        for item in fr["items"]:
            if item["status"] == "pending":
                item["status"] = "acknowledged"
                changes[item["id"]] = {"status": "acknowledged"}
        fr["status"] = "acknowledged"
        return _mirror_and_save(p, tx, tenant, fr, changes)


def _reject(fr: Doc, items: list[Doc], reason: str) -> dict[str, Doc]:
    changes = {}
    for item in items:
        item.update(status="rejected", rejection_reason=reason)
        changes[item["id"]] = {"status": "rejected", "rejection_reason": reason}
    return changes


def reject(p: Platform, tenant: str, fr_id: str, rejection_reason: str,
           missing_product_ids: list[str]) -> Doc:
    """The location rejects the whole request: every open item is rejected."""
    with p.store.tx() as tx:
        fr = _load_open(tx, tenant, fr_id, "reject it")
        if missing_product_ids:
            _pick(fr, missing_product_ids, "reject")
        changes = _reject(fr, [i for i in fr["items"] if i["status"] in OPEN],
                          rejection_reason)
        return _mirror_and_save(p, tx, tenant, fr, changes)


def reject_items(p: Platform, tenant: str, fr_id: str, missing_items: list[Doc]) -> Doc:
    """The location rejects some units, each group with its reason."""
    with p.store.tx() as tx:
        fr = _load_open(tx, tenant, fr_id, "reject items")
        changes: dict[str, Doc] = {}
        for group in missing_items:
            changes.update(_reject(fr, _pick(fr, group["product_ids"], "reject"),
                                   group["reason"]))
        return _mirror_and_save(p, tx, tenant, fr, changes)


def cancel_items(p: Platform, tenant: str, fr_id: str, product_ids: list[str],
                 reason: str | None = None) -> Doc:
    """Cancel units of the request; the order items carry the cancellation reason."""
    with p.store.tx() as tx:
        fr = _load_open(tx, tenant, fr_id, "cancel items")
        changes = {}
        for item in _pick(fr, product_ids, "cancel"):
            item["status"] = "cancelled"
            changes[item["id"]] = {"status": "cancelled",
                                   "cancellation_reason": reason or DEFAULT_CANCELLATION_REASON}
        return _mirror_and_save(p, tx, tenant, fr, changes)


def ship(p: Platform, tenant: str, fr_id: str, line_items: list[Doc]) -> Doc:
    """Units leave the location with a carrier and tracking code; they are completed."""
    shipped_at = iso(p.clock.now())
    with p.store.tx() as tx:
        fr = _load_open(tx, tenant, fr_id, "ship it")
        changes = {}
        for line in line_items:
            shipment = line["shipment"]
            for item in _pick(fr, line["product_ids"], "ship"):
                update = {"status": "completed", "carrier": shipment["carrier"],
                          "tracking_code": shipment["tracking_code"], "shipped_at": shipped_at}
                item.update(update)
                changes[item["id"]] = update
        return _mirror_and_save(p, tx, tenant, fr, changes)

