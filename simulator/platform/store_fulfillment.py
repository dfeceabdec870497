"""Store fulfillment as associates do it in the app (pick, hand over) and item cancellations.

A store fulfillment order arrives by injection with routing_strategy external (see
fulfillment.route_external): it is assigned to the store (`fulfillment_request.assigned`).
The associate picks: `ok` marks the units picked (a BOPIS request gets its in-store pickup
labels and `fulfillment_request.items_ready_for_handover`); `mispick` / `mispack` mean the
store cannot fulfil the order, so the request is rejected and the platform cancels the order,
which the external OMS re-routes under a new order number. Hand-over ships the picked units
(shipping label booked) or gives them to the customer (BOPIS): items_completed, then
order.completed. Cancellations take open items off the order with a reason and refund what
was captured for them through the PSP.
"""

from __future__ import annotations

import random
from typing import Any

from simulator.core.clock import iso
from simulator.core.errors import Conflict, ValidationFailed
from simulator.core.ids import seeded_uuid
from simulator.core.store import Tx
from simulator.core.world import CARRIERS, money
from simulator.platform import entities as E
from simulator.platform import events, psp_bridge, refunds
from simulator.platform.context import Platform
from simulator.platform.fulfillment import (
    FINAL_REQUEST,
    IN_STORE_PICKUP,
    OPEN,
    _derive_status,
    _load_open,
    _mirror_and_save,
)

Doc = dict[str, Any]

PICK_OUTCOMES = ("ok", "mispick", "mispack")
# what a failed pick means: (rejection reason on the request, cancellation reason on the order)
PICK_FAILURES = {"mispick": ("no_inventory", "insufficient_stock"),
                 "mispack": ("damaged", "damaged")}
OTHER_UNITS_REJECTION = "cannot_fulfill"  # the request's other units, rejected with the order
CANCELLATION_REASONS = ("insufficient_stock", "damaged", "customer_request", "fraud",
                        "payment_declined", "duplicate_order", "price_error", "other")
# order item statuses that can still be cancelled (rejected: waiting for the OMS to re-route)
CANCELLABLE = ("pending", "acknowledged", "on_hold", "rejected")
LABEL_HOST = "https://labels.newstore-sim.invalid"
DEFAULT_CARRIER = "UPS"


def _published_since(tx: Tx, tenant: str, seq: int) -> list[str]:
    """Names of the events this transaction published after `seq`, in publication order."""
    rows = tx.conn.execute("SELECT name FROM outbox WHERE tenant = ? AND seq > ? ORDER BY seq",
                           (tenant, seq)).fetchall()
    return [row[0] for row in rows]


def _last_seq(tx: Tx) -> int:
    return int(tx.conn.execute("SELECT COALESCE(MAX(seq), 0) FROM outbox").fetchone()[0])


def _is_bopis(fr: Doc) -> bool:
    return fr.get("service_level") == IN_STORE_PICKUP


def _chosen(fr: Doc, item_ids: list[str] | None) -> list[Doc]:
    """The request's open units named (default all), in request order."""
    open_items = [i for i in fr["items"] if i["status"] in OPEN]
    if item_ids is None:
        return open_items
    known = {i["id"] for i in fr["items"]}
    unknown = sorted(set(item_ids) - known)
    if unknown:
        raise ValidationFailed(
            f"item ids not in fulfillment request {fr['id']!r}: {', '.join(unknown)}",
            error_code="unknown_item_ids", field="items", extra={"item_ids": unknown})
    closed = sorted(set(item_ids) - {i["id"] for i in open_items})
    if closed:
        raise Conflict(f"items {', '.join(closed)} of fulfillment request {fr['id']!r} are no "
                       "longer open", error_code="invalid_item_state",
                       extra={"item_ids": closed})
    wanted = set(item_ids)
    return [i for i in open_items if i["id"] in wanted]


def _result(order: Doc | None, fr: Doc | None, names: list[str], item_ids: list[str],
            labels: list[Doc] | None = None, refund_amount: float | None = None) -> Doc:
    out: Doc = {"order_id": order["id"] if order else (fr or {}).get("order_id"),
                "fulfillment_request_id": fr["id"] if fr else None,
                "status": order["status"] if order else "unknown",
                "fulfillment_request_status": fr["status"] if fr else None,
                "item_ids": item_ids, "events": names}
    if labels is not None:
        out["labels"] = labels
    if refund_amount is not None:
        out["refund_amount"] = refund_amount
    return out


# -- pick ----------------------------------------------------------------------------------

def pick(p: Platform, tenant: str, fr_id: str, outcome: str,
         item_ids: list[str] | None = None) -> Doc:
    """The associate picks the request's units: picked, or the order cannot be fulfilled."""
    if outcome not in PICK_OUTCOMES:
        raise ValidationFailed(f"outcome must be one of {', '.join(PICK_OUTCOMES)}",
                               error_code="invalid_outcome", field="outcome")
    with p.store.tx() as tx:
        start = _last_seq(tx)
        fr = _load_open(tx, tenant, fr_id, f"pick it ({outcome})")
        units = _chosen(fr, item_ids)
        if outcome == "ok":
            return _pick_ok(p, tx, tenant, fr, units, start)
        return _pick_failed(p, tx, tenant, fr, units, outcome, start)


def _pick_ok(p: Platform, tx: Tx, tenant: str, fr: Doc, units: list[Doc], start: int) -> Doc:
    now = iso(p.clock.now())
    fresh = [i for i in units if not i.get("picked_at")]
    if not fresh:
        raise Conflict(f"the items of fulfillment request {fr['id']!r} are already picked; "
                       "hand them over next (POST /_sim/actions/hand-over)",
                       error_code="already_picked")
    changes: dict[str, Doc] = {}
    for item in fresh:
        item["picked_at"] = now
        if item["status"] == "pending":
            item["status"] = "acknowledged"
            changes[item["id"]] = {"status": "acknowledged"}
    fr["status"] = "acknowledged"
    fr["picked_at"] = now
    labels: list[Doc] = []
    if _is_bopis(fr):  # in-store pickup labels once picked and packed
        labels = [_label(fr, "in_store_pickup_label", fresh, now)]
        fr.setdefault("labels", []).extend(labels)
    fr = _mirror_and_save(p, tx, tenant, fr, changes)
    if _is_bopis(fr):
        events.emit(p, tx, tenant, "fulfillment_request.items_ready_for_handover",
                    events.fulfillment_request_event(fr, fresh))
    order = tx.get(tenant, E.ORDER, fr["order_id"])
    return _result(order, fr, _published_since(tx, tenant, start), [i["id"] for i in fresh],
                   labels)


def _pick_failed(p: Platform, tx: Tx, tenant: str, fr: Doc, units: list[Doc], outcome: str,
                 start: int) -> Doc:
    """A mispick or mispack: the request is rejected and the platform cancels the order."""
    now = iso(p.clock.now())
    rejection, cancellation = PICK_FAILURES[outcome]
    named = {i["id"] for i in units}
    rejected = []
    for item in fr["items"]:
        if item["status"] in OPEN:
            item.update(status="rejected",
                        rejection_reason=rejection if item["id"] in named
                        else OTHER_UNITS_REJECTION)
            rejected.append(item)
    fr["status"] = _derive_status(fr)
    fr["logical_timestamp"] = int(fr.get("logical_timestamp") or 0) + 1
    fr["updated_at"] = now
    E.save(tx, tenant, E.FULFILLMENT_REQUEST, fr)
    events.emit(p, tx, tenant, "fulfillment_request.items_failed",
                events.fulfillment_request_event(fr, rejected))
    order = tx.get(tenant, E.ORDER, fr["order_id"])
    if order is not None:
        reasons = {i["id"]: i["rejection_reason"] for i in rejected}
        for item in order["items"]:
            if item["status"] in CANCELLABLE:
                item.update(status="cancelled", cancellation_reason=cancellation,
                            rejection_reason=reasons.get(item["id"], item.get(
                                "rejection_reason")))
        _cancel_other_requests(p, tx, tenant, order, exclude=fr["id"])
        _settle_order_status(order)
        order["cancellation_reason"] = cancellation
        order["updated_at"] = now
        _void_authorizations(p, tx, tenant, order)
        E.save(tx, tenant, E.ORDER, order)
        if order["status"] == "cancelled":
            events.emit(p, tx, tenant, "order.cancelled", events.order_cancelled(order))
    return _result(order, fr, _published_since(tx, tenant, start), sorted(named))


# -- hand-over -------------------------------------------------------------------------------

def _label(fr: Doc, kind: str, items: list[Doc], now: str, carrier: str | None = None,
           tracking: str | None = None) -> Doc:
    ref = tracking or f"PICKUP-{fr['id'][:8].upper()}"
    return {"type": kind, "url": f"{LABEL_HOST}/{fr['fulfillment_location_id']}/{ref}.pdf",
            "carrier": carrier, "tracking_code": tracking,
            "item_ids": [i["id"] for i in items], "created_at": now}


def _tracking_code(p: Platform, carrier: str) -> str:
    """A carrier-looking tracking number from the seeded id source."""
    rng = random.Random(p.ids.uuid())
    digits = "".join(rng.choice("0123456789") for _ in range(16))
    if carrier == "UPS":
        return "1Z" + "".join(rng.choice("0123456789ABCDEFGHJKLMNPRSTUVWXYZ")
                              for _ in range(6)) + digits[:10]
    if carrier == "USPS":
        return "9400" + digits + "00"
    return digits[:12]


def hand_over(p: Platform, tenant: str, fr_id: str) -> Doc:
    """Picked units leave the store: shipped with a booked label, or collected (BOPIS)."""
    with p.store.tx() as tx:
        start = _last_seq(tx)
        fr = _load_open(tx, tenant, fr_id, "hand it over")
        picked = [i for i in fr["items"] if i["status"] in OPEN and i.get("picked_at")]
        if not picked:
            raise Conflict(f"nothing of fulfillment request {fr_id!r} is picked yet: pick the "
                           "items first (POST /_sim/actions/pick with outcome ok)",
                           error_code="not_picked")
        now = iso(p.clock.now())
        labels: list[Doc] = []
        if _is_bopis(fr):
            update: Doc = {"status": "completed", "shipped_at": now}
        else:  # the platform books the shipment and gets the label from the carrier
            carrier = CARRIERS.get(fr.get("service_level") or "", DEFAULT_CARRIER)
            tracking = _tracking_code(p, carrier)
            labels = [_label(fr, "shipping_label", picked, now, carrier, tracking)]
            fr.setdefault("labels", []).extend(labels)
            update = {"status": "completed", "carrier": carrier, "tracking_code": tracking,
                      "shipped_at": now}
        changes = {}
        for item in picked:
            item.update(update)
            changes[item["id"]] = dict(update)
        fr = _mirror_and_save(p, tx, tenant, fr, changes)
        order = tx.get(tenant, E.ORDER, fr["order_id"])
        return _result(order, fr, _published_since(tx, tenant, start),
                       [i["id"] for i in picked], labels)


# -- cancellations ----------------------------------------------------------------------------

def _item_amount(item: Doc) -> float:
    """What the customer paid for an order item (tax excluded pricing plus its tax)."""
    return money(item["pricebook_price"] * item.get("quantity", 1) - item["item_discounts"]
                 - item["order_discounts"] + item["tax"])


def _settle_order_status(order: Doc) -> None:
    statuses = {i["status"] for i in order["items"]}
    if statuses and statuses <= {"cancelled"}:
        order["status"] = "cancelled"
    elif "completed" in statuses and statuses <= {"completed", "returned", "cancelled"}:
        order["status"] = "closed"


def _cancel_other_requests(p: Platform, tx: Tx, tenant: str, order: Doc,
                           exclude: str | None = None) -> None:
    """Take cancelled order items off the order's open fulfillment requests."""
    cancelled = {i["id"] for i in order["items"] if i["status"] == "cancelled"}
    now = iso(p.clock.now())
    for fr in tx.query(tenant, E.FULFILLMENT_REQUEST, parent_id=order["id"]):
        if fr["id"] == exclude or fr["status"] in FINAL_REQUEST:
            continue
        touched = False
        for item in fr["items"]:
            if item["id"] in cancelled and item["status"] in OPEN:
                item["status"] = "cancelled"
                touched = True
        if touched:
            fr["status"] = _derive_status(fr)
            fr["logical_timestamp"] = int(fr.get("logical_timestamp") or 0) + 1
            fr["updated_at"] = now
            E.save(tx, tenant, E.FULFILLMENT_REQUEST, fr)


def _void_authorizations(p: Platform, tx: Tx, tenant: str, order: Doc) -> None:
    """A cancelled order releases what was authorized but never captured (no event)."""
    if order["status"] != "cancelled":
        return
    account = tx.get(tenant, E.PAYMENT_ACCOUNT, order["id"])
    if account is None:
        return
    rng = random.Random(p.ids.uuid())
    booked = False
    for instrument in account["instruments"]:
        mine = [t for t in account["transactions"] if t["instrument_id"] == instrument["id"]]
        if any(t["transaction_type"] in ("capture", "void") for t in mine):
            continue
        authorized = money(sum(t["amount"] for t in mine
                               if t["transaction_type"] == "authorize"))
        if authorized > 0:
            account["transactions"].append({
                "id": seeded_uuid(rng), "instrument_id": instrument["id"],
                "transaction_type": "void", "amount": authorized,
                "currency": account["currency"], "correlation_id": order["id"],
                "created_at": iso(p.clock.now()), "metadata": {}})
            booked = True
    if booked:
        E.save(tx, tenant, E.PAYMENT_ACCOUNT, account)


def cancel_items(p: Platform, tenant: str, order_id: str, reason: str,
                 items: list[Doc] | None = None) -> Doc:
    """Cancel open items with a reason; refund what was captured for them through the PSP."""
    if reason not in CANCELLATION_REASONS:
        raise ValidationFailed(
            f"unknown cancellation reason {reason!r}; use one of "
            f"{', '.join(CANCELLATION_REASONS)}", error_code="invalid_cancellation_reason",
            field="reason", extra={"allowed": list(CANCELLATION_REASONS)})
    with p.store.tx() as tx:
        start = _last_seq(tx)
        order = E.get_or_404(tx, tenant, E.ORDER, order_id, "order")
        chosen = _cancellable(order, items)
        now = iso(p.clock.now())
        for item in chosen:
            item.update(status="cancelled", cancellation_reason=reason)
        _cancel_other_requests(p, tx, tenant, order)
        status_before = order["status"]
        _settle_order_status(order)
        if order["status"] == "cancelled":
            order["cancellation_reason"] = reason
        order["updated_at"] = now
        E.save(tx, tenant, E.ORDER, order)
        events.emit(p, tx, tenant, "order.items_cancelled",
                    events.order_items_cancelled(order, chosen, reason))
        if order["status"] != status_before:
            if order["status"] == "cancelled":
                events.emit(p, tx, tenant, "order.cancelled", events.order_cancelled(order))
            elif order["status"] == "closed":
                events.emit(p, tx, tenant, "order.completed", events.order_completed(order))
        refund = _refund(p, tx, tenant, order, chosen)
        _void_authorizations(p, tx, tenant, order)
        order = tx.get(tenant, E.ORDER, order_id) or order
        return _result(order, None, _published_since(tx, tenant, start),
                       [i["id"] for i in chosen], refund_amount=refund)


def _cancellable(order: Doc, wanted: list[Doc] | None) -> list[Doc]:
    """The order items to cancel, checked: known, open, whole quantity."""
    open_items = [i for i in order["items"] if i["status"] in CANCELLABLE]
    if wanted is None:
        if not open_items:
            raise Conflict(f"order {order['id']!r} has no open items to cancel "
                           f"(it is {order['status']})", error_code="nothing_to_cancel")
        return open_items
    by_id = {i["id"]: i for i in order["items"]}
    unknown = sorted({w["item_id"] for w in wanted} - set(by_id))
    if unknown:
        raise ValidationFailed(f"items not in order {order['id']!r}: {', '.join(unknown)}",
                               error_code="unknown_item_ids", field="items",
                               extra={"item_ids": unknown})
    chosen: list[Doc] = []
    for n, entry in enumerate(wanted):
        item = by_id[entry["item_id"]]
        if item["status"] not in CANCELLABLE:
            raise Conflict(f"item {item['id']!r} is {item['status']}; only open items can be "
                           "cancelled", error_code="item_not_open",
                           extra={"item_id": item["id"], "item_status": item["status"]})
        quantity = entry.get("quantity")
        if quantity is not None and quantity != item.get("quantity", 1):
            raise ValidationFailed(
                f"items[{n}].quantity is {quantity} but item {item['id']!r} has quantity "
                f"{item.get('quantity', 1)}; a line is cancelled whole (one line per unit)",
                error_code="invalid_quantity", field=f"items[{n}].quantity")
        if item not in chosen:
            chosen.append(item)
    return chosen


def _refund(p: Platform, tx: Tx, tenant: str, order: Doc, cancelled: list[Doc]) -> float:
    """Ask the PSP to refund the captured value of the cancelled items (the whole captured
    balance once the order is cancelled); amount_refunded follows when it settles."""
    account = tx.get(tenant, E.PAYMENT_ACCOUNT, order["id"])
    if account is None or not account.get("instruments"):
        return 0.0
    available = money(refunds.refundable_balance(account)
                      - psp_bridge.pending_refunds(p, tx, tenant, account["id"]))
    wanted = available if order["status"] == "cancelled" else \
        money(sum(_item_amount(i) for i in cancelled))
    amount = money(min(wanted, available))
    if amount <= 0:
        return 0.0
    rng = random.Random(p.ids.uuid())
    cancellation_id = p.ids.uuid()
    psp_bridge.request_refund(p, tx, tenant, account, rng, amount, cancellation_id, "")
    return amount
