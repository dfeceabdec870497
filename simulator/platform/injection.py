"""Order injection (POST /v0/d/fulfill_order): rules, idempotency and the order it creates."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from simulator.core.clock import iso, parse_iso
from simulator.core.errors import ValidationFailed
from simulator.core.store import Tx
from simulator.core.world import IN_STORE_HANDOVER, money, recompute_totals
from simulator.platform import config, events, fulfillment
from simulator.platform import entities as E
from simulator.platform.context import Platform

Doc = dict[str, Any]

# Item lines per order above which injection is refused outright. The tenant's order
# injection configuration adds big-order limits below this: above its soft limit the order is
# put on hold, above its hard limit it is cancelled.
MAX_ITEMS_PER_ORDER = 500

ADDRESS_KEYS = ("first_name", "last_name", "address_line_1", "address_line_2", "city", "state",
                "zip_code", "country", "phone", "salutation", "title", "suffix")


def canonical_hash(body: Doc) -> str:
    """A hash of the request that ignores key order and 10 vs 10.0."""
    def norm(value: Any) -> Any:
        if isinstance(value, bool) or value is None or isinstance(value, str):
            return value
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, dict):
            return {k: norm(v) for k, v in value.items()}
        if isinstance(value, list):
            return [norm(v) for v in value]
        return str(value)
    text = json.dumps(norm(body), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def big_order_limits(tx: Tx, tenant: str) -> tuple[int | None, int | None]:
    """(soft, hard) item limits of the tenant's order injection configuration."""
    limits = config.order_injection_config(tx, tenant).get("big_sales_order") or {}
    return limits.get("soft_limit_for_big_orders"), limits.get("hard_limit_for_big_orders")


def inject_order(p: Platform, tenant: str, body: Doc) -> Doc:
    """Create the order (or answer the earlier answer for the same payload)."""
    digest = canonical_hash(body)
    external_id = body["external_id"]
    with p.store.tx() as tx:
        previous = tx.get(tenant, E.INJECTION, external_id)
        if previous is not None:
            _refuse_used_number(tx, tenant, previous, digest)
            if previous["hash"] != digest:
                raise ValidationFailed(
                    f"order {external_id!r} was already injected with different data",
                    error_code="same_order_injection_with_different_data",
                    field="external_id")
            return previous["response"]
        if tx.query(tenant, E.ORDER, external_id=external_id):
            raise ValidationFailed(f"an order with external id {external_id!r} already exists",
                                   error_code="external_id_already_exists", field="external_id")
        _validate(tx, tenant, body)
        order, account = _build(p, tx, tenant, body)
        response = {"id": order["id"], "external_id": external_id,
                    "items": [{"external_item_id": i["external_item_id"], "id": i["id"],
                               "product_id": i["product_id"]} for i in order["items"]]}
        E.save(tx, tenant, E.ORDER, order)
        E.save(tx, tenant, E.PAYMENT_ACCOUNT, account)
        E.save(tx, tenant, E.INJECTION, {"id": external_id, "hash": digest,
                                         "order_id": order["id"], "response": response,
                                         "created_at": order["created_at"],
                                         "status_at_injection": order["status"],
                                         "body": body})  # the OMS re-routes from it
        events.order_injected(p, tx, tenant, order)
        if order["status"] == "open":
            fulfillment.route_external(p, tx, tenant, order)
    return response


def _refuse_used_number(tx: Tx, tenant: str, previous: Doc, digest: str) -> None:
    """Order numbers are never reused: once its order was cancelled after injection (or is
    cancelled and the payload differs), the external id is refused; re-route under a new one."""
    order = tx.get(tenant, E.ORDER, previous["order_id"])
    if order is None or order["status"] != "cancelled":
        return
    if previous.get("status_at_injection") == "cancelled" and previous["hash"] == digest:
        return  # cancelled by the injection itself: a retry gets the same answer
    raise ValidationFailed(
        f"order number {previous['id']!r} was used by order {order['id']!r}, which is "
        "cancelled; order numbers cannot be reused: inject the re-routed order under a new "
        "external_id", error_code="external_id_already_exists", field="external_id",
        extra={"order_id": order["id"]})


# -- rules ---------------------------------------------------------------------------

def _cents_ok(value: float) -> bool:
    try:
        return Decimal(str(value)).as_tuple().exponent >= -2  # type: ignore[operator]
    except (InvalidOperation, TypeError):
        return False


def _validate(tx: Tx, tenant: str, body: Doc) -> None:
    """The documented domain rules beyond the JSON schema."""
    if body.get("placed_at"):
        try:
            parse_iso(body["placed_at"])
        except ValueError:
            raise ValidationFailed(f"placed_at {body['placed_at']!r} is not an RFC 3339 time",
                                   field="placed_at") from None
    shipments = body["shipments"]
    items = [item for s in shipments for item in s["items"]]
    for n, shipment in enumerate(shipments):
        if not shipment["items"]:
            raise ValidationFailed(f"shipment {n} has no items", error_code="invalid_shipments",
                                   field=f"shipments[{n}].items")
        option = shipment["shipping_option"]
        if option.get("service_level_identifier") == IN_STORE_HANDOVER and len(shipments) > 1:
            raise ValidationFailed(
                "an IN_STORE_HANDOVER order must have exactly one shipment",
                error_code="invalid_shipments", field=f"shipments[{n}].shipping_option")
        routing = option.get("routing_strategy") or {}
        if routing.get("strategy") in ("prerouted", "external") \
                and not routing.get("fulfillment_node_id"):
            raise ValidationFailed(
                f"routing strategy {routing['strategy']!r} needs a fulfillment_node_id",
                error_code="missing_fulfillment_node_id",
                field=f"shipments[{n}].shipping_option.routing_strategy.fulfillment_node_id")
        for key in ("price", "tax"):
            if not _cents_ok(option[key]):
                raise ValidationFailed(
                    f"shipping {key} {option[key]} has more than 2 decimals",
                    error_code="invalid_price_decimals",
                    field=f"shipments[{n}].shipping_option.{key}")
    limit = MAX_ITEMS_PER_ORDER
    if len(items) > limit:
        raise ValidationFailed(
            f"the order has {len(items)} items; at most {limit} are allowed",
            error_code="maximum_allowed_number_of_items_exceeded", field="shipments")
    by_external: dict[str, list[Doc]] = {}
    for item in items:
        by_external.setdefault(item["external_item_id"], []).append(item)
    for item in items:
        parent_ref = item.get("addon_parent_external_item_id")
        if not parent_ref:
            continue
        if len(by_external[item["external_item_id"]]) > 1:
            raise ValidationFailed(
                f"add-on item {item['external_item_id']!r} shares its external_item_id",
                error_code="addon_duplicate_external_item_id", field="external_item_id")
        parents = by_external.get(parent_ref, [])
        if parent_ref == item["external_item_id"] or not parents \
                or any(p.get("addon_parent_external_item_id") for p in parents):
            raise ValidationFailed(
                f"add-on item {item['external_item_id']!r} names no valid parent item "
                f"{parent_ref!r}", error_code="addon_invalid_parent_item",
                field="addon_parent_external_item_id")
    for item in items:
        price = item["price"]
        for key in ("item_price", "item_list_price"):
            if not _cents_ok(price[key]):
                raise ValidationFailed(
                    f"{key} {price[key]} of item {item['external_item_id']!r} has more than "
                    "2 decimals", error_code="invalid_price_decimals", field=f"price.{key}")
        discounts = sum(d["price_adjustment"] for d in price.get("item_discount_info") or []) \
            + sum(d["price_adjustment"] for d in price.get("item_order_discount_info") or [])
        if money(discounts) > price["item_price"]:
            raise ValidationFailed(
                f"discounts of item {item['external_item_id']!r} ({money(discounts)}) exceed "
                f"its item_price ({price['item_price']})",
                error_code="discount_exceeds_item_price", field="price")
    missing = sorted(pid for pid in {i["product_id"] for i in items}
                     if tx.get(tenant, E.PRODUCT, pid) is None)
    if missing:
        raise ValidationFailed(f"products not found in the catalog: {', '.join(missing)}",
                               error_code="product_not_found", field="product_id",
                               extra={"missing_product_ids": missing})


# -- the order document ------------------------------------------------------------

def _address(raw: Doc | None, address_type: str) -> Doc | None:
    if not raw:
        return None
    address = {k: raw.get(k) for k in ADDRESS_KEYS}
    address["address_line_2"] = address["address_line_2"] or ""
    address["country"] = str(raw["country"]).upper()
    address["address_type"] = address_type
    return address


def _when(value: str | None, default: datetime) -> datetime:
    if not value:
        return default
    try:
        return parse_iso(value)
    except ValueError:
        return default


def _discounts(order_items: list[tuple[Doc, Doc]], shipments: list[Doc]) -> list[Doc]:
    """Order-level discount documents, one per discount_ref and level, amounts summed."""
    found: dict[tuple[str, str], Doc] = {}

    def add(info: Doc, level: str) -> None:
        key = (level, info["discount_ref"])
        doc = found.setdefault(key, {
            "coupon_code": info.get("coupon_code"), "discount_ref": info["discount_ref"],
            "type": info["type"], "original_value": info["original_value"], "level": level,
            "description": info.get("description"), "price_adjustment": 0.0})
        doc["price_adjustment"] = money(doc["price_adjustment"] + info["price_adjustment"])

    for _, raw in order_items:
        for info in raw["price"].get("item_discount_info") or []:
            add(info, "item")
        for info in raw["price"].get("item_order_discount_info") or []:
            add(info, "order")
    for shipment in shipments:
        for info in shipment["shipping_option"].get("discount_info") or []:
            add(info, "shipping")
    return list(found.values())


def _build(p: Platform, tx: Tx, tenant: str, body: Doc) -> tuple[Doc, Doc]:
    """The order and payment account documents of an injected order."""
    now = p.clock.now()
    placed = _when(body.get("placed_at"), now)
    products = {pid: tx.get(tenant, E.PRODUCT, pid) or {} for pid in
                {i["product_id"] for s in body["shipments"] for i in s["items"]}}
    order_id = p.ids.uuid()
    price_included = body.get("price_method") == "tax_included"
    store_id = body.get("store_id")
    fulfilled = bool(body.get("is_fulfilled"))
    items: list[Doc] = []
    pairs: list[tuple[Doc, Doc]] = []
    shipments: list[Doc] = []
    cancel = False
    for n, shipment in enumerate(body["shipments"]):
        option = shipment["shipping_option"]
        routing = dict(option.get("routing_strategy") or {"strategy": "default"})
        service_level = option.get("service_level_identifier")
        node = routing.get("fulfillment_node_id")
        if service_level == IN_STORE_HANDOVER and not node:
            node = store_id
        if routing["strategy"] == "external" and tx.get(tenant, E.LOCATION, node) is None:
            cancel = True
        shipping_discount = sum(d["price_adjustment"] for d in option.get("discount_info") or [])
        shipment_doc = {
            "id": p.ids.uuid(), "index": n, "service_level_identifier": service_level,
            "shipping_offer_token": option.get("shipping_offer_token"),
            "price": money(option["price"]), "tax": money(option["tax"]),
            "discount": money(shipping_discount), "routing_strategy": routing,
            "fulfillment_location_id": node, "item_ids": []}
        for raw in shipment["items"]:
            price = raw["price"]
            product = products[raw["product_id"]]
            tax = money(sum(t["amount"] for t in price["item_tax_lines"]))
            item_discounts = money(sum(d["price_adjustment"]
                                       for d in price.get("item_discount_info") or []))
            order_discounts = money(sum(d["price_adjustment"]
                                        for d in price.get("item_order_discount_info") or []))
            item = {
                "id": p.ids.uuid(),
                "external_item_id": raw["external_item_id"],
                "item_type": "product",
                "product_id": raw["product_id"],
                "product_name": product.get("title"),
                "pricebook_id": price.get("pricebook") or product.get("pricebook_id"),
                "pricebook_price": money(price["item_price"] - (tax if price_included else 0)),
                "list_price": money(price["item_list_price"]),
                "item_discounts": item_discounts,
                "order_discounts": order_discounts,
                "tax": tax,
                "tax_provider_details": [
                    {"name": t["name"], "amount": money(t["amount"]), "rate": t["rate"],
                     "country_code": t.get("country_code")} for t in price["item_tax_lines"]],
                "quantity": 1,
                "status": "completed" if fulfilled else "pending",
                "extended_attributes": list(raw.get("extended_attributes") or []),
                "external_identifiers": dict(product.get("external_identifiers") or {}),
                "shipping_service_level": service_level,
                "shipping_offer_token": option.get("shipping_offer_token"),
                "fulfillment_location_id": node,
                "routing_strategy": routing["strategy"],
                "shipment_id": shipment_doc["id"],
                "is_preorder": False,
                "gift_wrapping": bool(raw.get("gift_wrapping")),
                "group_ref": price.get("group_ref"),
                "addon_parent_external_item_id": raw.get("addon_parent_external_item_id"),
                "addon_parent_item_id": None,
                "carrier": None,
                "tracking_code": None,
                "shipped_at": None,
                "rejection_reason": None,
                "cancellation_reason": None,
            }
            items.append(item)
            pairs.append((item, raw))
            shipment_doc["item_ids"].append(item["id"])
        shipments.append(shipment_doc)
    first_id = {}
    for item in items:
        first_id.setdefault(item["external_item_id"], item["id"])
    for item in items:
        if item["addon_parent_external_item_id"]:
            item["addon_parent_item_id"] = first_id[item["addon_parent_external_item_id"]]
    levels = {s["service_level_identifier"] for s in shipments}
    fulfillment_type = ("multiple" if len(levels) > 1 else
                        "in_store_purchase" if levels == {IN_STORE_HANDOVER} else
                        "in_store_pickup" if levels == {fulfillment.IN_STORE_PICKUP} else
                        "traditional")
    customer_email = body.get("customer_email")
    customers = tx.query(tenant, E.CUSTOMER, email=customer_email) if customer_email else []
    addresses = [a for a in (_address(body.get("billing_address"), "billing"),
                             _address(body.get("shipping_address"), "shipping")) if a]
    channel_type = body["channel_type"]
    order: Doc = {
        "id": order_id,
        "tenant": tenant,
        "external_id": body["external_id"],
        "created_at": iso(now),
        "placed_at": iso(placed),
        "updated_at": iso(now),
        "channel_type": channel_type,
        "channel": store_id if channel_type == "store" and store_id else body["channel_name"],
        "channel_name": body["channel_name"],
        "demand_location_id": store_id if channel_type == "store" else None,
        "associate_id": body.get("associate_id"),
        "associate_email": None,
        "customer_id": customers[0]["id"] if customers else None,
        "external_customer_id": body.get("external_customer_id"),
        "customer_email": customer_email,
        "customer_name": body.get("customer_name"),
        "customer_language": body.get("customer_language"),
        "is_exchange": False,
        "exchanges": [],
        "is_historical": bool(body.get("is_historical")),
        "is_offline": bool(body.get("is_offline")),
        "is_preconfirmed": bool(body.get("is_preconfirmed")),
        "is_fulfilled": fulfilled,
        "origin": "injection",
        "price_method": body.get("price_method") or "tax_excluded",
        "currency": body["currency"].upper(),
        "shop": body["shop"],
        "shop_locale": body["shop_locale"],
        "tax_strategy": "external",
        "tax_exempt": False,
        "status": "closed" if fulfilled else "open",
        "fulfillment_type": fulfillment_type,
        "extended_attributes": list(body.get("extended_attributes") or []),
        "notification_blacklist": list(body.get("notification_blacklist") or []),
        "ip_address": body.get("ip_address"),
        "addresses": addresses,
        "discounts": _discounts(pairs, body["shipments"]),
        "items": items,
        "shipments": shipments,
        "shipping_service_level": shipments[0]["service_level_identifier"],
        "shipping_total": money(sum(s["price"] - s["discount"] for s in shipments)),
        "shipping_tax": money(sum(s["tax"] for s in shipments)),
        "cancellation_reason": None,
    }
    recompute_totals(order)
    account = _account(p, order, body.get("payments") or [], placed)
    soft, hard = big_order_limits(tx, tenant)
    if cancel:
        _cancel(p, order, account, now, "unknown_fulfillment_node")
    elif hard and len(items) > hard:
        _cancel(p, order, account, now, "big_order_hard_limit_exceeded")
    elif soft and len(items) > soft and not fulfilled:
        order["status"] = "on_hold"
        for item in items:
            item["status"] = "on_hold"
    return order, account


def _transaction(p: Platform, account: Doc, instrument_id: str, kind: str, amount: float,
                 at: datetime, correlation_id: str, metadata: Doc | None = None) -> None:
    account["transactions"].append({
        "id": p.ids.uuid(), "instrument_id": instrument_id, "transaction_type": kind,
        "amount": money(amount), "currency": account["currency"],
        "correlation_id": correlation_id, "created_at": iso(at), "metadata": metadata or {}})


def _account(p: Platform, order: Doc, payments: list[Doc], placed: datetime) -> Doc:
    """The payment account of the order, one instrument per injected payment."""
    account: Doc = {"id": order["id"], "order_id": order["id"], "currency": order["currency"],
                    "instruments": [], "transactions": []}
    for payment in payments:
        instrument_id = p.ids.uuid()
        metadata = dict(payment.get("metadata") or {})
        account["instruments"].append({
            "id": instrument_id, "payment_method": payment["method"],
            "payment_provider": payment["processor"], "payment_wallet": payment.get("wallet"),
            "payment_origin": "external", "currency": order["currency"], "metadata": metadata})
        at = _when(payment["processed_at"], placed)
        ref = payment["correlation_ref"]
        _transaction(p, account, instrument_id, "authorize", payment["amount"], at, ref, metadata)
        if payment["type"] == "captured":
            _transaction(p, account, instrument_id, "capture", payment["amount"], at, ref,
                         metadata)
    return account


def _cancel(p: Platform, order: Doc, account: Doc, now: datetime, reason: str) -> None:
    """Cancel at injection (unknown external node, big order): void what is not captured."""
    for item in order["items"]:
        item["status"] = "cancelled"
        item["cancellation_reason"] = reason
    order["status"] = "cancelled"
    order["cancellation_reason"] = reason
    for instrument in account["instruments"]:
        if any(t["instrument_id"] == instrument["id"] and t["transaction_type"] == "capture"
               for t in account["transactions"]):
            continue
        authorized = sum(t["amount"] for t in account["transactions"]
                         if t["instrument_id"] == instrument["id"]
                         and t["transaction_type"] == "authorize")
        _transaction(p, account, instrument["id"], "void", authorized, now, order["id"])
