"""Checkout in the Associate App with an external OMS: cash & carry, endless aisle and mixed
cart, as NewStore's external-OMS integration playbook describes them.

A checkout is a chain of PSP operations; each continues in the transaction that settles the
previous one (psp_bridge's continuation "checkout"), so PSP delays hold the flow exactly where
the platform would wait. The cart rides along in the PSP operation's context until the order
is created. Choices NewStore does not document are in docs/behaviour.md ("Checkout flows").
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from simulator.core.clock import iso
from simulator.core.errors import Conflict, NotFound, ValidationFailed
from simulator.core.store import Tx
from simulator.core.world import (
    IN_STORE_HANDOVER,
    TAX_RATE,
    add_transaction,
    money,
    recompute_totals,
)
from simulator.oms import client as oms
from simulator.platform import config, events, psp_bridge
from simulator.platform import entities as E
from simulator.platform.catalog import stock_quantity
from simulator.platform.context import Platform
from simulator.platform.payments import payment_status

Doc = dict[str, Any]

KINDS = ("cash_and_carry", "endless_aisle", "mixed_cart")
CARRY, SHIP = "carry", "ship"
CONTINUATION = "checkout"  # psp_bridge continuation name
PROVIDERS = {"credit_card": "adyen", "cash": "cash", "gift_card": "newstore_gift_card"}
ATP_TIMEOUT_DEFAULT = 10  # seconds, when a stored webhook config carries none

# -- the cart ---------------------------------------------------------------------------

def _bad(detail: str, field: str, code: str = "invalid_checkout") -> ValidationFailed:
    return ValidationFailed(detail, field=field, error_code=code, status=422)


def _store_location(tx: Tx, tenant: str, store_id: str | None) -> Doc:
    if store_id is None:
        stores = [loc for loc in tx.query(tenant, E.LOCATION, ascending=True)
                  if loc["type"] == "store"]
        if not stores:
            raise Conflict(f"tenant {tenant!r} has no store to check out in",
                           error_code="no_store")
        return stores[0]
    loc = tx.get(tenant, E.LOCATION, store_id)
    if loc is None or loc["type"] != "store":
        raise NotFound(f"store {store_id!r} not found", error_code="store_not_found")
    return loc


def _customer(tx: Tx, tenant: str, email: str | None, rng: random.Random) -> Doc | None:
    if email is None:
        customers = tx.query(tenant, E.CUSTOMER, ascending=True, limit=200)
        return rng.choice(customers) if customers else None
    if "@" not in email:
        raise _bad(f"customer_email {email!r} is not an email address", "customer_email")
    found = tx.query(tenant, E.CUSTOMER, email=email)
    return found[0] if found else {"id": None, "email": email, "first_name": None,
                                   "last_name": None, "address": None}


def _lines(tx: Tx, tenant: str, kind: str, given: list[Doc] | None,
           rng: random.Random) -> list[Doc]:
    """[{product, quantity, fulfillment}] checked against the kind."""
    default = {"cash_and_carry": CARRY, "endless_aisle": SHIP, "mixed_cart": None}[kind]
    if not given:
        products = tx.query(tenant, E.PRODUCT, ascending=True, limit=500)
        if not products:
            raise Conflict(f"tenant {tenant!r} has no products", error_code="no_products")
        if kind == "mixed_cart":
            picked = rng.sample(products, k=min(2, len(products)))
            return [{"product": picked[0], "quantity": 1, "fulfillment": CARRY},
                    {"product": picked[-1], "quantity": 1, "fulfillment": SHIP}]
        return [{"product": product, "quantity": 1, "fulfillment": default}
                for product in rng.sample(products, k=min(rng.randint(1, 2), len(products)))]
    lines = []
    for n, item in enumerate(given):
        product = tx.get(tenant, E.PRODUCT, item["product_id"])
        if product is None:
            raise _bad(f"product {item['product_id']!r} is not in the tenant's catalog",
                       f"items[{n}].product_id", "unknown_product")
        fulfillment = item.get("fulfillment") or default
        if fulfillment is None:
            raise _bad("mixed_cart items need fulfillment carry or ship",
                       f"items[{n}].fulfillment")
        if default is not None and fulfillment != default:
            other = "endless_aisle" if default == CARRY else "cash_and_carry"
            raise _bad(f"a {kind} cart holds only {default} items; {fulfillment} is "
                       f"{other} (use kind mixed_cart for both)", f"items[{n}].fulfillment")
        lines.append({"product": product, "quantity": int(item.get("quantity", 1)),
                      "fulfillment": fulfillment})
    if kind == "mixed_cart" and {line["fulfillment"] for line in lines} != {CARRY, SHIP}:
        raise _bad("a mixed_cart needs at least one carry and one ship item", "items")
    return lines


def _service_level(fc: Doc, wanted: str | None) -> str:
    levels = fc.get("service_levels") or {}
    if wanted is not None:
        if wanted == IN_STORE_HANDOVER or wanted not in levels:
            raise _bad(f"service_level {wanted!r} is not a shipping service level of the "
                       "fulfillment config", "service_level", "unknown_service_level")
        return wanted
    for level in fc.get("sl_levels_priority") or list(levels):
        if level != IN_STORE_HANDOVER:
            return level
    raise Conflict("the fulfillment config has no shipping service level",
                   error_code="no_service_level")


def _route_nodes(fc: Doc, level: str) -> list[str]:
    """The fulfillment locations NewStore's routing rules name for a service level."""
    nodes: list[str] = []
    for route in fc.get("routes") or []:
        for entry in (route.get("fulfilled_by") or {}).get(level) or []:
            node = entry.get("fulfillment_node_id")
            if node and node not in nodes:
                nodes.append(node)
    return nodes


# -- ATP ----------------------------------------------------------------------------------

class Atp:
    """Available-to-promise per (product, location), with why it is missing if it is."""

    def __init__(self, source: str, levels: dict[tuple[str, str], int],
                 failure: str | None = None, ignored: dict[str, list[str]] | None = None) -> None:
        self.source = source
        self.levels = levels
        self.failure = failure  # the webhook failed: nothing is available
        self.ignored = ignored or {}  # product -> locations answered that are not configured


def _availabilities(answer: Doc, asked: set[str]) -> list[tuple[str, str, int]]:
    """The webhook's (contract-checked) answer as (product, location, atp) for asked products."""
    out = []
    for entry in answer["availabilities"]:
        pid = entry.get("product_id", entry.get("external_identifier"))
        if pid in asked:
            out.append((pid, entry["fulfillment_location"], int(entry["atp"])))
    return out


def ask_webhook(p: Platform, tenant: str, hook: Doc, product_ids: list[str],
                locations: list[str], known: set[str], fetch: oms.Fetch | None = None) -> Atp:
    """POST the Request availabilities webhook; any failure means nothing is available."""
    body = {"products": [{"product_id": pid, "external_identifier": pid} for pid in product_ids],
            "fulfillment_locations": locations}
    timeout = float(hook.get("timeout") or ATP_TIMEOUT_DEFAULT)
    result = oms.call(p, tenant, "availability", "POST", hook["url"], hook["api_key"], timeout,
                      body=body, fetch=fetch, label="the availability webhook")
    if not result.ok:
        return Atp("webhook", {}, failure=result.failure)
    levels: dict[tuple[str, str], int] = {}
    ignored: dict[str, list[str]] = {}
    for pid, loc, atp in _availabilities(result.body, set(product_ids)):
        if loc in known:
            levels[(pid, loc)] = levels.get((pid, loc), 0) + atp
        elif atp > 0:
            ignored.setdefault(pid, []).append(loc)
    return Atp("webhook", levels, ignored=ignored)


def stock_atp(tx: Tx, tenant: str, product_ids: list[str], locations: list[str],
              known: set[str]) -> Atp:
    """ATP from the platform's stock (availability imports) at the routed locations."""
    levels = {(pid, loc): stock_quantity(tx, tenant, loc, pid)
              for pid in product_ids for loc in locations if loc in known}
    return Atp("stock", {k: v for k, v in levels.items() if v > 0})


def allocate(lines: list[Doc], atp: Atp, locations: list[str]) -> list[Doc]:
    """Give every ship unit a location (a split shipment when needed), or list what is short."""
    left = dict(atp.levels)
    wanted: dict[str, int] = {}
    for line in lines:
        wanted[line["product"]["id"]] = wanted.get(line["product"]["id"], 0) + line["quantity"]
    short = []
    for pid, quantity in wanted.items():
        available = sum(v for (p_, _), v in left.items() if p_ == pid)
        if available >= quantity:
            continue
        if atp.failure:
            reason = "atp_webhook_failed"
            detail = atp.failure
        elif atp.ignored.get(pid) and available == 0:
            reason = "location_not_configured"
            detail = ("ATP only at fulfillment locations not configured in NewStore: "
                      + ", ".join(sorted(atp.ignored[pid])))
        elif available == 0:
            reason = "not_available"
            detail = "no ATP at any fulfillment location"
        else:
            reason = "partially_available"
            detail = f"{available} of {quantity} available (across every location)"
        short.append({"product_id": pid, "requested": quantity, "available": available,
                      "reason": reason, "detail": detail})
    if short:
        return short
    for line in lines:
        line["locations"] = []
        for _ in range(line["quantity"]):
            pid = line["product"]["id"]
            loc = max((loc for loc in locations if left.get((pid, loc), 0) > 0),
                      key=lambda loc: left[(pid, loc)])
            left[(pid, loc)] -= 1
            line["locations"].append(loc)
    return []


# -- documents ----------------------------------------------------------------------------

def _order_number(p: Platform, tx: Tx, tenant: str) -> str:
    while True:
        number = f"AA{int(p.ids.uuid().replace('-', '')[:12], 16) % 10**9:09d}"
        if not tx.query(tenant, E.ORDER, external_id=number, limit=1):
            return number


def _address(raw: Doc | None, address_type: str) -> Doc | None:
    if not raw:
        return None
    out = {k: raw.get(k) or "" for k in ("first_name", "last_name", "address_line_1",
                                          "address_line_2", "city", "state", "zip_code",
                                          "country", "phone")}
    out["address_type"] = address_type
    return out


def build_order(p: Platform, tx: Tx, tenant: str, kind: str, store: Doc, customer: Doc | None,
                lines: list[Doc], level: str, ship_to: Doc | None, now: datetime) -> Doc:
    """The order document of a cart (unit lines of quantity 1, as NewStore keeps them)."""
    items = []
    for line in lines:
        product = line["product"]
        carry = line["fulfillment"] == CARRY
        for n in range(line["quantity"]):
            tax = money(product["price"] * TAX_RATE)
            items.append({
                "id": p.ids.uuid(), "external_item_id": f"{product['id']}-{len(items) + 1}",
                "item_type": "product", "product_id": product["id"],
                "product_name": product.get("title"), "pricebook_id": product["pricebook_id"],
                "pricebook_price": product["price"], "list_price": product["list_price"],
                "item_discounts": 0.0, "order_discounts": 0.0, "tax": tax,
                "tax_provider_details": [{"name": "STATE TAX", "amount": tax, "rate": TAX_RATE}],
                "quantity": 1, "status": "pending", "extended_attributes": [],
                "external_identifiers": dict(product.get("external_identifiers") or {}),
                "shipping_service_level": IN_STORE_HANDOVER if carry else level,
                "fulfillment_location_id": store["id"] if carry else line["locations"][n],
                "fulfillment": line["fulfillment"], "is_preorder": False, "carrier": None,
                "tracking_code": None, "shipped_at": None, "rejection_reason": None,
                "cancellation_reason": None})
    fc = config.fulfillment_config(tx, tenant)["fulfillment_config"]
    ships = any(line["fulfillment"] == SHIP for line in lines)
    shipping = money(float((fc.get("service_levels") or {}).get(level, {}).get("price") or 0)
                     ) if ships else 0.0
    billing = (customer or {}).get("address") or store.get("address")
    addresses = [a for a in (_address(billing, "billing"),
                             _address(ship_to, "shipping") if ships else None) if a]
    associate = p.ids.uuid()
    order = {
        "id": p.ids.uuid(), "tenant": tenant, "external_id": _order_number(p, tx, tenant),
        "created_at": iso(now), "placed_at": iso(now), "updated_at": iso(now),
        "channel_type": "store", "channel": store["id"], "channel_name": store["name"],
        "demand_location_id": store["id"], "associate_id": associate,
        "associate_email": f"associate.{associate[:6]}@{tenant}.example.com",
        "customer_id": (customer or {}).get("id"),
        "customer_email": (customer or {}).get("email"),
        "customer_name": " ".join(filter(None, ((customer or {}).get("first_name"),
                                                (customer or {}).get("last_name")))) or None,
        "is_exchange": False, "exchanges": [], "is_historical": False,
        "origin": "associate_app", "checkout_kind": kind, "price_method": "tax_excluded",
        "currency": store.get("currency") or "USD", "shop": "storefront", "shop_locale": "en-US",
        "tax_strategy": "avalara", "tax_exempt": False, "status": "open",
        "fulfillment_type": {"cash_and_carry": "in_store_purchase",
                             "endless_aisle": "traditional", "mixed_cart": "multiple"}[kind],
        "extended_attributes": [], "addresses": addresses, "discounts": [], "items": items,
        "shipping_service_level": level if kind == "endless_aisle" else IN_STORE_HANDOVER,
        "shipping_total": shipping, "shipping_tax": money(shipping * TAX_RATE),
        "cancellation_reason": None,
    }
    recompute_totals(order)
    return order


def _account(p: Platform, order: Doc, method: str, rng: random.Random) -> Doc:
    return {"id": order["id"], "order_id": order["id"], "currency": order["currency"],
            "instruments": [{
                "id": p.ids.uuid(), "payment_method": method,
                "payment_provider": PROVIDERS[method], "payment_wallet": None,
                "payment_origin": "newstore", "currency": order["currency"],
                "metadata": ({"card_brand": "visa", "last4": f"{rng.randint(0, 9999):04d}"}
                             if method == "credit_card" else {})}],
            "transactions": []}


# -- the flow -------------------------------------------------------------------------------

def _last_seq(tx: Tx) -> int:
    return int(tx.conn.execute("SELECT COALESCE(MAX(seq), 0) FROM outbox").fetchone()[0])


def _names_since(tx: Tx, tenant: str, seq: int) -> list[str]:
    rows = tx.conn.execute("SELECT name FROM outbox WHERE tenant=? AND seq>? ORDER BY seq",
                           (tenant, seq)).fetchall()
    return [r[0] for r in rows]


def _psp(p: Platform, tx: Tx, tenant: str, operation: str, account: Doc, amount: float,
         state: Doc) -> Doc:
    """Ask the PSP; the checkout continues when it settles (here, or on its timer)."""
    instrument = account["instruments"][0]
    request = getattr(p.psp, operation)
    return request(tx, tenant, id=p.ids.uuid(), account_id=account["id"],
                   order_id=account["order_id"], instrument_id=instrument["id"],
                   method=instrument["payment_method"], amount=amount,
                   currency=account["currency"], correlation_id=account["order_id"],
                   context={"then": CONTINUATION, "checkout": state})


def place_order(p: Platform, tenant: str, body: Doc, fetch: oms.Fetch | None = None) -> Doc:
    """Check out a cart: ATP for ship items, then the PSP chain that creates the order."""
    kind = body["kind"]
    if kind not in KINDS:
        raise _bad(f"kind must be one of {', '.join(KINDS)}", "kind")
    method = body.get("payment_method") or "credit_card"
    rng = random.Random(p.ids.uuid())
    with p.store.read() as tx:
        store = _store_location(tx, tenant, body.get("store_id"))
        customer = _customer(tx, tenant, body.get("customer_email"), rng)
        lines = _lines(tx, tenant, kind, body.get("items"), rng)
        ship_lines = [line for line in lines if line["fulfillment"] == SHIP]
        fc = config.fulfillment_config(tx, tenant)["fulfillment_config"]
        level = _service_level(fc, body.get("service_level")) if ship_lines else IN_STORE_HANDOVER
        ship_to = body.get("ship_to") or (customer or {}).get("address")
        if ship_lines and not ship_to:
            raise _bad("ship items need a ship_to address (the customer has none)", "ship_to")
        if ship_lines and method == "cash" and not config.associate_app_config(tx, tenant)[
                "capabilities"].get("cash_for_endless_aisle_orders_enabled"):
            raise Conflict("cash is not enabled for endless-aisle orders (Associate App "
                           "capabilities.cash_for_endless_aisle_orders_enabled)",
                           error_code="cash_not_enabled_for_endless_aisle",
                           extra={"field": "payment_method"})
        hook = config.availability_webhook(tx, tenant) if ship_lines else None
        locations = _route_nodes(fc, level) if ship_lines else []
        known = {loc for loc in locations if tx.get(tenant, E.LOCATION, loc) is not None}
        product_ids = list(dict.fromkeys(line["product"]["id"] for line in ship_lines))
        atp = stock_atp(tx, tenant, product_ids, locations, known) \
            if ship_lines and hook is None else None
    if hook is not None:  # outside any transaction: the OMS may be slow
        atp = ask_webhook(p, tenant, hook, product_ids, locations, known, fetch)
    if atp is not None:
        short = allocate(ship_lines, atp, locations)
        if short:
            raise Conflict("Products not available: "
                           + "; ".join(f"{s['product_id']}: {s['detail']}" for s in short),
                           error_code="products_not_available",
                           extra={"unavailable": short, "atp_source": atp.source})
    with p.store.tx() as tx:
        seq = _last_seq(tx)
        now = p.clock.now()
        order = build_order(p, tx, tenant, kind, store, customer, lines, level, ship_to, now)
        account = _account(p, order, method, rng)
        E.save(tx, tenant, E.PAYMENT_ACCOUNT, account)
        op = _psp(p, tx, tenant, "authorize", account, order["grand_total"],
                  {"kind": kind, "step": "authorize", "order": order})
        names = _names_since(tx, tenant, seq)
        created = tx.get(tenant, E.ORDER, order["id"])
        account_now = tx.get(tenant, E.PAYMENT_ACCOUNT, order["id"])
    failed = op["status"] == "failed" or (account_now and _failed_capture(account_now))
    if failed:
        raise Conflict(f"the payment was declined ({op.get('reason') or 'capture failed'}); "
                       "no order was created", error_code="payment_declined",
                       extra={"payment_account_id": order["id"], "events": names})
    return {"order_id": order["id"], "external_id": order["external_id"],
            "payment_account_id": order["id"], "kind": kind,
            "status": _checkout_status(created),
            "payment_status": payment_status(account_now) if account_now else "pending",
            "atp_source": atp.source if atp is not None else None, "events": names}


def _failed_capture(account: Doc) -> bool:
    return bool(account.get("checkout_failed"))


def _checkout_status(order: Doc | None) -> str:
    if order is None:
        return "awaiting_payment"
    return "partially_complete" if order["status"] == "partially_complete" else "complete"


def _create(p: Platform, tx: Tx, tenant: str, order: Doc) -> Doc:
    """The order exists: order.created, order.opened, then what the checkout settles."""
    now = p.clock.now()
    order.update(created_at=iso(now), updated_at=iso(now))
    kind = order["checkout_kind"]
    for item in order["items"]:
        if item["fulfillment"] == SHIP:
            item["status"] = "captured"  # pre-captured: the external OMS fulfils it
    E.save(tx, tenant, E.ORDER, order)
    events.emit(p, tx, tenant, "order.created", events.order_created(order))
    events.emit(p, tx, tenant, "order.opened", events.order_opened(order))
    for item in order["items"]:
        if item["fulfillment"] == CARRY:  # handed over at the till
            item["status"] = "completed"
    order["status"] = "partially_complete" if kind == "mixed_cart" else "closed"
    E.save(tx, tenant, E.ORDER, order)
    if kind == "cash_and_carry":
        events.emit(p, tx, tenant, "order.completed", events.order_completed(order))
    return order


def continue_checkout(p: Platform, tx: Tx, tenant: str, op: Doc) -> None:
    """The next step of a checkout once the PSP has settled one of its operations."""
    state = op["context"]["checkout"]
    kind, step = state["kind"], state["step"]
    account = tx.get(tenant, E.PAYMENT_ACCOUNT, op["account_id"])
    if account is None:  # reset meanwhile
        return
    if op["status"] != "succeeded":
        if step == "authorize":  # the cart is abandoned: no order, no payment
            tx.delete(tenant, E.PAYMENT_ACCOUNT, account["id"])
        elif step == "pre_capture":  # release the authorization; no order
            add_transaction(account, random.Random(op["id"]), op["instrument_id"], "void",
                            op["amount"], p.clock.now(), correlation_id=op["correlation_id"])
            account["checkout_failed"] = "capture_declined"
            E.save(tx, tenant, E.PAYMENT_ACCOUNT, account)
        return  # a failed capture after hand-over leaves the payment authorized
    if step == "authorize":
        order = state["order"]
        if kind == "cash_and_carry":
            _create(p, tx, tenant, order)
            _psp(p, tx, tenant, "capture", account, op["amount"],
                 {"kind": kind, "step": "capture", "order_id": order["id"]})
        else:
            _psp(p, tx, tenant, "capture", account, op["amount"],
                 {"kind": kind, "step": "pre_capture", "order": order})
    elif step == "pre_capture":
        _create(p, tx, tenant, state["order"])


psp_bridge.CONTINUATIONS[CONTINUATION] = continue_checkout
