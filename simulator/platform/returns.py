"""Returns of order items: validation against what was bought, refund on the payment account."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from simulator.core.clock import iso, parse_iso
from simulator.core.errors import NotFound, ValidationFailed
from simulator.core.store import Tx
from simulator.core.world import build_return, money
from simulator.platform import entities as E
from simulator.platform import events
from simulator.platform.context import Platform
from simulator.platform.psp_bridge import pending_refunds, request_refund
from simulator.platform.refunds import check_refundable, payment_account

Doc = dict[str, Any]

# Only items that were handed over or shipped can come back.
RETURNABLE = "completed"


def list_returns(p: Platform, tenant: str, order_id: str) -> list[Doc]:
    """Every return of an order, oldest first."""
    with p.store.read() as tx:
        E.get_or_404(tx, tenant, E.ORDER, order_id, "order")
        return tx.query(tenant, E.RETURN, parent_id=order_id, ascending=True)


def get_return(p: Platform, tenant: str, order_id: str, return_id: str) -> Doc:
    """One return, which must belong to the order."""
    with p.store.read() as tx:
        E.get_or_404(tx, tenant, E.ORDER, order_id, "order")
        ret = tx.get(tenant, E.RETURN, return_id)
        if ret is None or ret.get("order_id") != order_id:
            raise NotFound(f"return {return_id!r} not found for order {order_id!r}")
        return ret


def _pick_items(order: Doc, requested: list[Doc]) -> list[tuple[Doc, Doc]]:
    """Pair each requested unit with a returnable order line of that product."""
    taken: set[str] = set()
    picked: list[tuple[Doc, Doc]] = []
    for index, entry in enumerate(requested):
        if entry.get("item_id") is not None:  # one exact order line
            picked.append((_pick_line(order, entry, index, taken), entry))
            continue
        pid = entry["product_id"]
        lines = [i for i in order["items"] if i["product_id"] == pid]
        if not lines:
            raise ValidationFailed(
                f"product {pid!r} is not in order {order['id']!r}",
                error_code="invalid_return_items", field=f"items[{index}].product_id",
                extra={"product_id": pid, "returnable_quantity": 0})
        free = [i for i in lines if i["status"] == RETURNABLE and i["id"] not in taken]
        quantity = entry.get("quantity", 1)
        if quantity > len(free):
            counts = {s: sum(1 for i in lines if i["status"] == s) for s in
                      sorted({i["status"] for i in lines})}
            summary = ", ".join(f"{n} {s}" for s, n in counts.items())
            raise ValidationFailed(
                f"cannot return {quantity} unit(s) of product {pid!r}: the order has "
                f"{len(lines)} ({summary}); only {len(free)} more can be returned "
                f"(cancelled, returned and unfulfilled items cannot)",
                error_code="invalid_return_items", field=f"items[{index}].quantity",
                extra={"product_id": pid, "returnable_quantity": len(free)})
        for item in free[:quantity]:
            taken.add(item["id"])
            picked.append((item, entry))
    return picked


def _pick_line(order: Doc, entry: Doc, index: int, taken: set[str]) -> Doc:
    """The order line named by entry["item_id"], if it can still be returned."""
    item_id = entry["item_id"]
    line = next((i for i in order["items"] if i["id"] == item_id), None)
    if line is None:
        raise ValidationFailed(f"item {item_id!r} is not in order {order['id']!r}",
                               error_code="invalid_return_items", field=f"items[{index}].item_id",
                               extra={"item_id": item_id, "returnable_quantity": 0})
    if line["status"] != RETURNABLE or line["id"] in taken or entry.get("quantity", 1) != 1:
        raise ValidationFailed(
            f"item {item_id!r} of order {order['id']!r} cannot be returned: it is "
            f"{'named twice' if line['id'] in taken else line['status']} (an order line holds "
            "one unit; only completed lines can be returned, once)",
            error_code="invalid_return_items", field=f"items[{index}].item_id",
            extra={"item_id": item_id, "returnable_quantity": 0})
    taken.add(line["id"])
    return line


def _adjust(ret: Doc, adjusted_total: float) -> None:
    """Spread an adjusted refund total over the items, the rounding rest on the last one."""
    total = ret["total_refund_amount"]
    ret["total_refund_amount_adjusted"] = money(adjusted_total)
    items = ret["items"]
    if not items or total == adjusted_total:
        return
    running = 0.0
    for item in items[:-1]:
        share = money(item["refund_amount"] * adjusted_total / total) if total else 0.0
        item["refund_amount_adjusted"] = share
        running += share
    items[-1]["refund_amount_adjusted"] = money(adjusted_total - running)


def create_return(p: Platform, tenant: str, order_id: str, body: Doc) -> Doc:
    """Process a return: mark items returned, refund them, record return and refund at once."""
    now = p.clock.now()
    returned_at = returned_at_of(body, now)
    rng = random.Random(p.ids.uuid())
    with p.store.tx() as tx:
        order = E.get_or_404(tx, tenant, E.ORDER, order_id, "order")
        ret, _ = process_return(p, tx, tenant, order, body, now=now, returned_at=returned_at,
                                rng=rng)
    return ret


def returned_at_of(body: Doc, now: datetime) -> datetime:
    """The body's returned_at (ISO 8601), else now."""
    if body.get("returned_at") is None:
        return now
    try:
        return parse_iso(body["returned_at"])
    except ValueError as exc:
        raise ValidationFailed(f"returned_at is not an ISO 8601 date-time: {exc}",
                               error_code="invalid_returned_at", field="returned_at") from None


def process_return(p: Platform, tx: Tx, tenant: str, order: Doc, body: Doc, *,
                   now: datetime, returned_at: datetime, rng: random.Random,
                   instrument: Doc | None = None, payout: float | None = None,
                   check_balance: bool = True) -> tuple[Doc, Doc]:
    """Return items of an order in the caller's transaction: return.processed, then the
    refund through the PSP. `instrument` overrides where the refund goes (default the
    captured one); `payout` what is paid out (default the adjusted total; an exchange keeps
    the rest); check_balance=False for orders whose payment NewStore does not own."""
    order_id = order["id"]
    location_id = body["return_location_id"]
    if tx.get(tenant, E.LOCATION, location_id) is None:
        raise ValidationFailed(f"return location {location_id!r} does not exist",
                               error_code="unknown_location", field="return_location_id")
    picked = _pick_items(order, body["items"])
    ret = build_return(rng, order, [item for item, _ in picked], returned_at, location_id,
                       reason=picked[0][1]["return_reason"])
    ret["created_at"] = iso(now)
    if order.get("origin") == "external":
        ret["origin"] = "external"
    for ret_item, (_, entry) in zip(ret["items"], picked, strict=True):
        ret_item["return_reason"] = entry["return_reason"]
        ret_item["return_code"] = entry.get("return_code", 1)
        ret_item["condition_code"] = entry.get("condition_code", 1)
        ret_item["item_condition"] = entry.get("item_condition", "Sellable")
    if body.get("associate_id") is not None:
        ret["associate_id"] = body["associate_id"]
        ret["associate_email"] = body.get("associate_email")
    fee = money(body.get("return_fee", 0.0))
    total = ret["total_refund_amount"]
    adjusted = money(body["refund_amount"]) if body.get("refund_amount") is not None \
        else money(max(total - fee, 0.0))
    if adjusted > total:
        raise ValidationFailed(
            f"refund_amount {adjusted:.2f} exceeds the returned items' value {total:.2f}",
            error_code="invalid_refund_amount", field="refund_amount")
    ret["return_fee"] = fee
    _adjust(ret, adjusted)
    paid = adjusted if payout is None else money(payout)

    account = payment_account(tx, tenant, order_id)
    if paid > 0 and check_balance:
        check_refundable(account, paid, pending_refunds(p, tx, tenant, account["id"]))
    for item, _ in picked:
        item["status"] = "returned"
    order["updated_at"] = iso(now)
    refund = {
        "id": p.ids.uuid(), "order_id": order_id, "payment_account_id": account["id"],
        "return_id": ret["id"], "type": "return", "amount": paid,
        "currency": order["currency"], "requested_at": iso(now),
        "status": "pending" if paid > 0 else "completed",  # the PSP completes it
        "reason_code": None, "return_reason": None, "note": None,
    }
    E.save(tx, tenant, E.ORDER, order)
    E.save(tx, tenant, E.RETURN, ret)
    E.save(tx, tenant, E.REFUND, refund)
    events.emit(p, tx, tenant, "return.processed", events.return_processed(ret, order))
    if paid > 0:  # the transaction and amount_refunded come when the PSP is done
        request_refund(p, tx, tenant, account, rng, paid, ret["id"], refund["id"],
                       instrument=instrument)
        refund = tx.get(tenant, E.REFUND, refund["id"]) or refund
    return ret, refund
