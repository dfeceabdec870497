"""After-sales actions an associate performs in the store: returns (referenced to a NewStore
order, or unreferenced with the payment details supplied), appeasements and exchanges. Each
runs in one transaction through the platform's own return and refund logic and reports the
events it published, in order."""

from __future__ import annotations

import copy
import random
from datetime import datetime
from typing import Any

from simulator.core.clock import iso
from simulator.core.errors import Conflict, ValidationFailed
from simulator.core.ids import seeded_uuid
from simulator.core.store import Tx
from simulator.core.world import (
    IN_STORE_HANDOVER,
    TAX_RATE,
    add_transaction,
    build_return,
    money,
    recompute_totals,
)
from simulator.platform import entities as E
from simulator.platform import events
from simulator.platform.config import REFUND_OPTIONS, refund_options_for
from simulator.platform.context import Platform
from simulator.platform.refunds import issue_appeasement
from simulator.platform.returns import RETURNABLE, _pick_items, process_return

Doc = dict[str, Any]

DEFAULT_REASON = "Changed my mind"
APPEASEMENT_REASON = "Price adjustment"
PROVIDERS = {"credit_card": "adyen", "gift_card": "newstore_gift_card",
             "e_gift_card": "newstore_gift_card", "external": "external", "cash": "cash",
             "store_credit": "newstore"}
EXCHANGE_METHOD = "store_credit"  # what pays the new order of an exchange up to the return


def _published_since(tx: Tx, seq: int) -> list[str]:
    """Names of the events this transaction published after outbox sequence `seq`."""
    rows = tx.conn.execute("SELECT name FROM outbox WHERE seq > ? ORDER BY seq", (seq,))
    return [row[0] for row in rows]


def _last_seq(tx: Tx) -> int:
    return int(tx.conn.execute("SELECT COALESCE(MAX(seq), 0) FROM outbox").fetchone()[0])


def _order(tx: Tx, tenant: str, order_id: str) -> Doc:
    return E.get_or_404(tx, tenant, E.ORDER, order_id, "order")


def _store_of(tx: Tx, tenant: str, order: Doc | None, store_id: str | None) -> str:
    """The store the associate acts in: given, else the order's, else the first store."""
    if store_id is not None:
        location = tx.get(tenant, E.LOCATION, store_id)
        if location is None:
            raise ValidationFailed(f"store {store_id!r} does not exist",
                                   error_code="unknown_location", field="store_id")
        return store_id
    for candidate in ((order or {}).get("demand_location_id"),
                      (order or {}).get("channel")):
        if candidate and tx.get(tenant, E.LOCATION, candidate) is not None:
            return str(candidate)
    stores = [loc for loc in tx.query(tenant, E.LOCATION, ascending=True)
              if loc.get("type") == "store"]
    if not stores:
        raise Conflict(f"tenant {tenant!r} has no store to act in",
                       error_code="no_store")
    return str(stores[0]["id"])


def _items(entries: list[Doc], reason: str | None) -> list[Doc]:
    """Action items as the return logic takes them (one reason each)."""
    out = []
    for n, entry in enumerate(entries):
        if not entry.get("item_id") and not entry.get("product_id"):
            raise ValidationFailed(f"items[{n}] needs item_id or product_id",
                                   error_code="invalid_return_items", field=f"items[{n}]")
        item = {k: v for k, v in entry.items() if v is not None}
        item.setdefault("return_reason", reason or DEFAULT_REASON)
        out.append(item)
    return out


def _check_refund_option(tx: Tx, tenant: str, store_id: str, method: str) -> None:
    allowed = refund_options_for(tx, tenant, store_id)
    if method not in allowed:
        raise ValidationFailed(
            f"refund method {method!r} is not a refund option of store {store_id!r} "
            f"(allowed: {', '.join(allowed) or 'none'}; see /v1/p/config/payment_options)",
            error_code="refund_option_not_allowed", field="refund_method",
            extra={"refund_options": allowed})


def _instrument(p: Platform, account: Doc, method: str, rng: random.Random,
                origin: str = "newstore") -> Doc | None:
    """Where a refund by `method` goes: None for the original instrument, an existing one of
    that method, else a new instrument (booked on the account when the PSP settles)."""
    if method == "original":
        return None
    for instrument in account["instruments"]:
        if instrument["payment_method"] == method:
            return instrument
    return {"id": seeded_uuid(rng), "payment_method": method,
            "payment_provider": PROVIDERS.get(method, method), "payment_wallet": None,
            "payment_origin": "external" if method == "external" else origin,
            "currency": account["currency"], "metadata": {}}


# -- returns -----------------------------------------------------------------------------

def return_items(p: Platform, tenant: str, body: Doc) -> Doc:
    """A referenced return (order_id) refunded through the PSP by the chosen refund method, or
    an unreferenced one (no order_id) refunded to the supplied payment details."""
    now = p.clock.now()
    rng = random.Random(p.ids.uuid())
    method = body.get("refund_method") or "original"
    if method not in REFUND_OPTIONS:
        raise ValidationFailed(f"unknown refund method {method!r}; known: "
                               f"{', '.join(REFUND_OPTIONS)}", error_code="unknown_refund_option",
                               field="refund_method")
    items = _items(body["items"], body.get("reason"))
    with p.store.tx() as tx:
        seq = _last_seq(tx)
        if body.get("order_id"):
            order = _order(tx, tenant, body["order_id"])
            if body.get("payment_details"):
                raise ValidationFailed(
                    "payment_details are for unreferenced returns only: a referenced return "
                    "refunds the order's own payment", error_code="unexpected_payment_details",
                    field="payment_details")
            check_balance = True
        else:
            if not body.get("payment_details"):
                raise ValidationFailed(
                    "an unreferenced return (no order_id) needs payment_details "
                    "{payment_method, ...}: NewStore does not own the payment",
                    error_code="missing_payment_details", field="payment_details")
            order = _blind_order(p, tx, tenant, body, items, now, rng)
            check_balance = False
        store_id = _store_of(tx, tenant, order, body.get("store_id"))
        _check_refund_option(tx, tenant, store_id, method)
        account = tx.get(tenant, E.PAYMENT_ACCOUNT, order["id"])
        instrument = _instrument(p, account, method, rng) if account else None
        request = {"items": items, "return_location_id": store_id,
                   "associate_id": body.get("associate_id"),
                   "associate_email": body.get("associate_email")}
        if not check_balance and (body["payment_details"].get("amount") is not None):
            request["refund_amount"] = body["payment_details"]["amount"]
        ret, refund = process_return(p, tx, tenant, order, request, now=now, returned_at=now,
                                     rng=rng, instrument=instrument,
                                     check_balance=check_balance)
        names = _published_since(tx, seq)
    return {"order_id": order["id"], "return_id": ret["id"], "refund_id": refund["id"],
            "refund_status": refund["status"], "refund_amount": refund["amount"],
            "origin": ret.get("origin", "newstore"), "events": names}


def _product(tx: Tx, tenant: str, product_id: str, field: str) -> Doc:
    product = tx.get(tenant, E.PRODUCT, product_id)
    if product is None:
        raise ValidationFailed(f"product {product_id!r} is not in the catalog",
                               error_code="unknown_product", field=field)
    return product


def _line(p: Platform, product: Doc, store_id: str, status: str, n: int) -> Doc:
    """One order line (one unit) of a catalog product sold in a store."""
    price = product["price"]
    tax = money(price * TAX_RATE)
    return {
        "id": p.ids.uuid(), "external_item_id": f"EXT{product['id']}-{n + 1}",
        "item_type": "product", "product_id": product["id"], "product_name": product["title"],
        "pricebook_id": product.get("pricebook_id", "default"), "pricebook_price": price,
        "list_price": product["list_price"], "item_discounts": 0.0, "order_discounts": 0.0,
        "tax": tax, "tax_provider_details": [{"name": "STATE TAX", "amount": tax,
                                              "rate": TAX_RATE}],
        "quantity": 1, "status": status, "extended_attributes": [],
        "external_identifiers": dict(product.get("external_identifiers") or {}),
        "shipping_service_level": IN_STORE_HANDOVER, "fulfillment_location_id": store_id,
        "is_preorder": False, "carrier": None, "tracking_code": None, "shipped_at": None,
        "rejection_reason": None, "cancellation_reason": None,
    }


def _order_doc(p: Platform, tx: Tx, tenant: str, store_id: str, lines: list[Doc], now: datetime,
               *, external_id: str, base: Doc | None = None, **fields: Any) -> Doc:
    """A store order over the given lines, customer and associate taken from `base`."""
    location = tx.get(tenant, E.LOCATION, store_id) or {}
    base = base or {}
    order = {
        "id": p.ids.uuid(), "tenant": tenant, "external_id": external_id,
        "created_at": iso(now), "placed_at": iso(now), "updated_at": iso(now),
        "channel_type": "store", "channel": store_id, "channel_name": location.get("name"),
        "demand_location_id": store_id, "associate_id": base.get("associate_id"),
        "associate_email": base.get("associate_email"),
        "customer_id": base.get("customer_id"), "customer_email": base.get("customer_email"),
        "customer_name": base.get("customer_name"), "is_exchange": False, "exchanges": [],
        "is_historical": False, "price_method": "tax_excluded",
        "currency": base.get("currency") or location.get("currency") or "USD",
        "shop": "storefront", "shop_locale": "en-US", "tax_strategy": "avalara",
        "tax_exempt": False, "status": "open", "fulfillment_type": "in_store_purchase",
        "extended_attributes": [], "addresses": [dict(location.get("address") or {},
                                                      address_type="billing")],
        "discounts": [], "items": lines, "shipping_service_level": IN_STORE_HANDOVER,
        "shipping_total": 0.0, "shipping_tax": 0.0, "origin": "associate_app",
    }
    order.update(fields)
    recompute_totals(order)
    return order


def _blind_order(p: Platform, tx: Tx, tenant: str, body: Doc, items: list[Doc], now: datetime,
                 rng: random.Random) -> Doc:
    """The order NewStore creates for an unreferenced return (status created_for_blind_return,
    origin external): the returned units as completed lines, and a payment account holding
    the supplied payment details as an external instrument."""
    details = body["payment_details"]
    method = details.get("payment_method")
    if not isinstance(method, str) or not method:
        raise ValidationFailed("payment_details.payment_method is required for an "
                               "unreferenced return", error_code="missing_payment_details",
                               field="payment_details.payment_method")
    store_id = _store_of(tx, tenant, None, body.get("store_id"))
    lines = []
    for n, entry in enumerate(items):
        if entry.get("item_id") is not None:
            raise ValidationFailed(
                f"items[{n}].item_id: an unreferenced return has no order lines to name; "
                "give product_id", error_code="invalid_return_items", field=f"items[{n}].item_id")
        product = _product(tx, tenant, entry["product_id"], f"items[{n}].product_id")
        for _ in range(entry.get("quantity", 1)):
            lines.append(_line(p, product, store_id, RETURNABLE, len(lines)))
    external_id = body.get("external_order_id") or f"BR-{p.ids.uuid()[:8].upper()}"
    order = _order_doc(p, tx, tenant, store_id, lines, now, external_id=external_id,
                       status="created_for_blind_return", origin="external",
                       origin_id=external_id, associate_id=body.get("associate_id"),
                       associate_email=body.get("associate_email"))
    amount = details.get("amount")
    if amount is not None and (amount < 0 or amount > order["grand_total"]):
        raise ValidationFailed(
            f"payment_details.amount {amount} must be between 0 and the returned items' value "
            f"{order['grand_total']:.2f}", error_code="invalid_refund_amount",
            field="payment_details.amount")
    metadata = {k: v for k, v in details.items() if k not in ("payment_method", "amount")}
    account = {"id": order["id"], "order_id": order["id"], "currency": order["currency"],
               "instruments": [{
                   "id": seeded_uuid(rng), "payment_method": method,
                   "payment_provider": str(details.get("payment_provider")
                                           or PROVIDERS.get(method, "external")),
                   "payment_wallet": details.get("payment_wallet"),
                   "payment_origin": "external", "currency": order["currency"],
                   "metadata": metadata}],
               "transactions": []}
    E.save(tx, tenant, E.ORDER, order)
    E.save(tx, tenant, E.PAYMENT_ACCOUNT, account)
    return order


# -- appeasements ------------------------------------------------------------------------

def appease(p: Platform, tenant: str, body: Doc) -> Doc:
    """An appeasement refund on an order through the refunds path."""
    now = p.clock.now()
    rng = random.Random(p.ids.uuid())
    with p.store.tx() as tx:
        seq = _last_seq(tx)
        order = _order(tx, tenant, body["order_id"])
        request = {"amount": body["amount"], "currency": order["currency"],
                   "reason": body.get("reason") or APPEASEMENT_REASON,
                   "reason_code": body.get("reason_code"), "note": body.get("note"),
                   "associate_id": body.get("associate_id"),
                   "associate_email": body.get("associate_email")}
        refund = issue_appeasement(p, tx, tenant, order, request, now=now, rng=rng)
        names = _published_since(tx, seq)
    return {"order_id": order["id"], "refund_id": refund["id"], "refund_status": refund["status"],
            "refund_amount": refund["amount"], "events": names}


# -- exchanges ---------------------------------------------------------------------------

def exchange(p: Platform, tenant: str, body: Doc) -> Doc:
    """Return items and take others in one go: the return (return.processed), then a new order
    (is_exchange, exchanges[{order_id, return_id}]) paid by the returned value; only the
    difference moves money (charged to a card, or refunded to the original payment)."""
    now = p.clock.now()
    rng = random.Random(p.ids.uuid())
    items = _items(body["return_items"], body.get("reason"))
    method = body.get("payment_method") or "credit_card"
    with p.store.tx() as tx:
        seq = _last_seq(tx)
        order = _order(tx, tenant, body["order_id"])
        store_id = _store_of(tx, tenant, order, body.get("store_id"))
        lines = []
        for n, entry in enumerate(body["new_items"]):
            product = _product(tx, tenant, entry["product_id"], f"new_items[{n}].product_id")
            for _ in range(entry.get("quantity", 1)):
                lines.append(_line(p, product, store_id, "pending", len(lines)))
        new_order = _order_doc(p, tx, tenant, store_id, lines, now,
                               external_id=f"EX-{p.ids.uuid()[:8].upper()}", base=order,
                               is_exchange=True)
        if new_order["currency"] != order["currency"]:
            raise ValidationFailed("the new items must be sold in the order's currency",
                                   error_code="currency_mismatch", field="new_items")
        # the return's value is known before anything is written: price it on a copy
        request = {"items": items, "return_location_id": store_id,
                   "associate_id": body.get("associate_id"),
                   "associate_email": body.get("associate_email")}
        value = _return_value(p, tx, tenant, order, request, now)
        difference = money(new_order["grand_total"] - value)
        ret, refund = process_return(p, tx, tenant, order, request, now=now, returned_at=now,
                                     rng=rng, payout=max(-difference, 0.0))
        new_order["exchanges"] = [{"order_id": order["id"], "return_id": ret["id"]}]
        account = _exchange_account(p, new_order, rng, min(value, new_order["grand_total"]),
                                    ret["id"], now)
        charge = None
        if difference > 0:  # the customer pays the rest with a card, authorized first
            charge = {"id": seeded_uuid(rng), "payment_method": method,
                      "payment_provider": PROVIDERS.get(method, method), "payment_wallet": None,
                      "payment_origin": "newstore", "currency": new_order["currency"],
                      "metadata": {}}
            account["instruments"].append(charge)
        E.save(tx, tenant, E.ORDER, new_order)
        E.save(tx, tenant, E.PAYMENT_ACCOUNT, account)
        if charge is not None:
            _psp(p, tx, tenant, "authorize", account, charge, difference, rng)
        events.emit(p, tx, tenant, "order.created", events.order_created(new_order))
        events.emit(p, tx, tenant, "order.opened", events.order_opened(new_order))
        if charge is not None:
            _psp(p, tx, tenant, "capture", account, charge, difference, rng)
        names = _published_since(tx, seq)
    return {"order_id": order["id"], "return_id": ret["id"], "refund_id": refund["id"],
            "new_order_id": new_order["id"], "difference": difference, "events": names}


def _return_value(p: Platform, tx: Tx, tenant: str, order: Doc, request: Doc,
                  now: datetime) -> float:
    """What the return would refund, without writing anything."""
    if tx.get(tenant, E.LOCATION, request["return_location_id"]) is None:
        raise ValidationFailed("unknown return location", error_code="unknown_location",
                               field="store_id")
    picked = _pick_items(copy.deepcopy(order), request["items"])
    priced = build_return(random.Random(0), order, [i for i, _ in picked], now, None, reason="")
    return float(priced["total_refund_amount"])


def _exchange_account(p: Platform, order: Doc, rng: random.Random, credit: float,
                      return_id: str, now: datetime) -> Doc:
    """The new order's payment account: the returned value as exchange credit, authorized and
    captured at once inside the platform (no PSP, no payment event)."""
    instrument = {"id": seeded_uuid(rng), "payment_method": EXCHANGE_METHOD,
                  "payment_provider": PROVIDERS[EXCHANGE_METHOD], "payment_wallet": None,
                  "payment_origin": "newstore", "currency": order["currency"],
                  "metadata": {"return_id": return_id}}
    account = {"id": order["id"], "order_id": order["id"], "currency": order["currency"],
               "instruments": [instrument], "transactions": []}
    if credit > 0:
        for kind in ("authorize", "capture"):
            add_transaction(account, rng, instrument["id"], kind, credit, now,
                            correlation_id=return_id)
    return account


def _psp(p: Platform, tx: Tx, tenant: str, kind: str, account: Doc, instrument: Doc,
         amount: float, rng: random.Random) -> None:
    """Ask the PSP to authorize or capture the exchange difference on the card."""
    request = getattr(p.psp, kind)
    request(tx, tenant, id=seeded_uuid(rng), account_id=account["id"],
            order_id=account["order_id"], instrument_id=instrument["id"],
            method=instrument["payment_method"], amount=money(amount),
            currency=account["currency"], correlation_id=account["order_id"],
            context={"transaction_id": seeded_uuid(rng)})

