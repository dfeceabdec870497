"""Tenant configuration documents: external OMS, ATP webhook, order injection, fulfillment,
payment and Associate App settings. Each lives in the store as kind CONFIG, id = its name."""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import urlsplit

from simulator.core.clock import iso
from simulator.core.errors import Conflict, NotFound, ValidationFailed
from simulator.core.store import Store, Tx
from simulator.core.world import CARRIERS, IN_STORE_HANDOVER, SERVICE_LEVELS
from simulator.platform import entities as E

Doc = dict[str, Any]

EXTERNAL_OMS = "external_oms"
AVAILABILITY_WEBHOOK = "availability_webhook"
USES_EXTERNAL_ATP = "uses_external_atp"
ORDER_INJECTION = "order_injection"
FULFILLMENT = "fulfillment_config"
PAYMENT_OPTIONS = "payment_options"
PAYMENT_ACCOUNT = "payment_account"
ASSOCIATE_APP = "associate_app"

REFUND_OPTIONS = ("gift_card", "e_gift_card", "credit_card", "original", "external")
WEBHOOK_TIMEOUT = (5, 60)
WEBHOOK_API_KEY_MIN = 20
EXTERNAL_IDENTIFIERS = ("product_id",)

DEFAULT_ORDER_INJECTION: Doc = {
    "big_sales_order": {"hard_limit_for_big_orders": None, "soft_limit_for_big_orders": None},
    "skip_soft_routing_on_injection": False,
}
DEFAULT_PAYMENT_OPTIONS: Doc = {"refund_options": ["original"], "store_mapping": {}}
DEFAULT_PAYMENT_ACCOUNT: Doc = {
    "use_charge_api": False,
    "available_strategies": {"ordered": ["credit_card", "gift_card", "cash"]},
}
DEFAULT_ASSOCIATE_APP: Doc = {
    "use_new_om_ui": False,
    "capabilities": {"cash_for_endless_aisle_orders_enabled": False},
}


# -- storage ----------------------------------------------------------------------------

def _load(tx: Tx, tenant: str, name: str) -> Doc | None:
    doc = tx.get(tenant, E.CONFIG, name)
    return doc["data"] if doc else None


def _store(tx: Tx, tenant: str, name: str, data: Doc) -> None:
    E.save(tx, tenant, E.CONFIG, {"id": name, "data": data})


def _flag(tx: Tx, tenant: str, name: str, key: str) -> bool:
    """A boolean configuration: off until someone turns it on."""
    data = _load(tx, tenant, name)
    return bool(data and data[key])


def _set_flag(store: Store, tenant: str, name: str, key: str, value: bool, now: str) -> Doc:
    _require_bool(value, key)
    with store.tx() as tx:
        _store(tx, tenant, name, {key: value, "updated_at": now})
    return {key: value}


# -- external OMS -----------------------------------------------------------------------

def external_oms_enabled(tx: Tx, tenant: str) -> bool:
    """Whether NewStore runs as secondary OMS (off until enabled)."""
    return _flag(tx, tenant, EXTERNAL_OMS, "enabled")


def set_external_oms(store: Store, tenant: str, enabled: bool, now: str) -> Doc:
    """Enable or disable the external OMS configuration."""
    return _set_flag(store, tenant, EXTERNAL_OMS, "enabled", enabled, now)


# -- availability (ATP) webhook ---------------------------------------------------------

def availability_webhook(tx: Tx, tenant: str) -> Doc | None:
    """The configured ATP webhook (url, api_key, external_identifier, timeout), or None."""
    return _load(tx, tenant, AVAILABILITY_WEBHOOK)


def get_availability_webhook(store: Store, tenant: str) -> Doc:
    """The ATP webhook configuration or 404 when none is configured."""
    with store.read() as tx:
        data = availability_webhook(tx, tenant)
    if data is None:
        raise NotFound("no availability webhook is configured")
    return data


# NewStore requires https; the simulator also takes http to this machine, so the mock OMS and
# an OMS under development can be configured through the API
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def webhook_rules(body: Doc, default_timeout: int | None = None) -> tuple[str, str, int]:
    """url (https), api_key (long enough) and timeout (in range) of an OMS webhook, as
    NewStore documents them for the availability webhook; ValidationFailed names the field."""
    url = body.get("url")
    if not isinstance(url, str):
        raise ValidationFailed("url is required", field="url")
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        raise ValidationFailed(f"url is not a URL: {url!r}", field="url") from None
    local = parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS
    if (parts.scheme != "https" and not local) or not parts.netloc:
        raise ValidationFailed(f"url must be an https URL (or http on this machine: "
                               f"localhost, 127.0.0.1), got {url!r}", field="url")
    api_key = body.get("api_key")
    if not isinstance(api_key, str) or len(api_key) < WEBHOOK_API_KEY_MIN:
        raise ValidationFailed(
            f"api_key must be at least {WEBHOOK_API_KEY_MIN} characters long", field="api_key")
    timeout = body.get("timeout", default_timeout)
    low, high = WEBHOOK_TIMEOUT
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not low <= timeout <= high:
        raise ValidationFailed(f"timeout must be an integer from {low} to {high} seconds",
                               field="timeout")
    return url, api_key, timeout


def set_availability_webhook(store: Store, tenant: str, body: Doc, now: str) -> Doc:
    """Create or replace the ATP webhook after checking NewStore's documented rules."""
    url, api_key, timeout = webhook_rules(body)
    ident = body.get("external_identifier")
    if ident not in EXTERNAL_IDENTIFIERS:
        raise ValidationFailed(
            f"external_identifier {ident!r} is not supported; only 'product_id' is",
            field="external_identifier")
    data = {"url": url, "api_key": api_key, "external_identifier": ident, "timeout": timeout,
            "updated_at": now}
    with store.tx() as tx:
        _store(tx, tenant, AVAILABILITY_WEBHOOK, data)
    return data


def delete_availability_webhook(store: Store, tenant: str) -> None:
    """Disable the ATP webhook; 404 when none is configured."""
    with store.tx() as tx:
        if not tx.delete(tenant, E.CONFIG, AVAILABILITY_WEBHOOK):
            raise NotFound("no availability webhook is configured")


def uses_external_atp(tx: Tx, tenant: str) -> bool:
    """Whether routing asks the external OMS for ATP (off until enabled)."""
    return _flag(tx, tenant, USES_EXTERNAL_ATP, "value")


def set_uses_external_atp(store: Store, tenant: str, value: bool, now: str) -> Doc:
    """Turn requesting external ATP on or off."""
    return _set_flag(store, tenant, USES_EXTERNAL_ATP, "value", value, now)


# -- order injection --------------------------------------------------------------------

def order_injection_config(tx: Tx, tenant: str) -> Doc:
    """The order injection settings in force (defaults when never configured)."""
    data = _load(tx, tenant, ORDER_INJECTION)
    return copy.deepcopy(data["value"] if data else DEFAULT_ORDER_INJECTION)


def get_order_injection(store: Store, tenant: str) -> Doc:
    """The versioned document, or 404 not_found before the first write."""
    with store.read() as tx:
        data = _load(tx, tenant, ORDER_INJECTION)
    if data is None:
        raise NotFound("order injection configuration not found")
    return data


def replace_order_injection(store: Store, tenant: str, value: Doc, version: int, now: str,
                            by: str | None) -> Doc:
    """Replace the configuration; version must be 1 to create, else the current version."""
    _check_order_injection(value)
    with store.tx() as tx:
        current = _load(tx, tenant, ORDER_INJECTION)
        expected = current["version"] if current else 1
        _check_version(version, expected)
        merged = _deep_merge(copy.deepcopy(DEFAULT_ORDER_INJECTION), value)
        data = _versioned(merged, (current["version"] + 1) if current else 1, now, by)
        _store(tx, tenant, ORDER_INJECTION, data)
    return data


def update_order_injection(store: Store, tenant: str, changes: Doc, version: int, now: str,
                           by: str | None) -> Doc:
    """Merge changes into the configuration; version must be the current version."""
    with store.tx() as tx:
        current = _load(tx, tenant, ORDER_INJECTION)
        if current is None:
            raise NotFound("order injection configuration not found; create it with POST")
        _check_version(version, current["version"])
        merged = _deep_merge(copy.deepcopy(current["value"]), changes)
        _check_order_injection(merged)
        data = _versioned(merged, current["version"] + 1, now, by)
        _store(tx, tenant, ORDER_INJECTION, data)
    return data


def _versioned(value: Doc, version: int, now: str, by: str | None) -> Doc:
    data: Doc = {"value": value, "version": version, "updated_at": now}
    if by:
        data["updated_by"] = by
    return data


def _check_version(given: int, expected: int) -> None:
    if given != expected:
        raise Conflict(f"version {given} does not match the current version {expected}",
                       error_code="conflict_version", field="version",
                       extra={"current_version": expected})


def _check_order_injection(value: Doc) -> None:
    limits = value.get("big_sales_order") or {}
    soft = limits.get("soft_limit_for_big_orders")
    hard = limits.get("hard_limit_for_big_orders")
    if soft is not None and hard is not None and soft > hard:
        raise ValidationFailed(
            f"soft_limit_for_big_orders ({soft}) must not exceed hard_limit_for_big_orders "
            f"({hard})", field="big_sales_order.soft_limit_for_big_orders")


# -- fulfillment config -----------------------------------------------------------------

def default_fulfillment_config(locations: list[Doc]) -> Doc:
    """A routing config over the world: DCs ship GROUND/EXPRESS/PRIORITY, stores hand over."""
    dcs = [loc["id"] for loc in locations if loc["type"] == "distribution_center"]
    stores = [loc["id"] for loc in locations if loc["type"] == "store"]
    shippers = dcs or stores
    rates: Doc = {}
    levels: Doc = {}
    fulfilled_by: Doc = {}
    prices = {"GROUND": 0.0, "EXPRESS": 9.95, "PRIORITY": 19.95}
    times = {"GROUND": "3-5 business days", "EXPRESS": "2-3 business days",
             "PRIORITY": "1-2 business days"}
    for sl in SERVICE_LEVELS:
        rate = f"{CARRIERS[sl]}_{sl}"
        rates[rate] = {"service_level": sl, "shipping_carrier_name": CARRIERS[sl],
                       "shipping_type": "traditional_carrier", "return_provider_rate": "",
                       "use_as_customer_facing_cost": False}
        levels[sl] = _service_level(sl.capitalize(), times[sl], prices[sl])
        fulfilled_by[sl] = [{"fulfillment_node_id": n, "provider_rate": rate} for n in shippers]
    rates[IN_STORE_HANDOVER] = {
        "service_level": IN_STORE_HANDOVER, "shipping_carrier_name": "in_store",
        "shipping_type": "in_store_handover", "return_provider_rate": "",
        "use_as_customer_facing_cost": False}
    levels[IN_STORE_HANDOVER] = _service_level("In-store handover", "immediately", 0.0)
    fulfilled_by[IN_STORE_HANDOVER] = [
        {"fulfillment_node_id": n, "provider_rate": IN_STORE_HANDOVER} for n in stores]
    priority = [*SERVICE_LEVELS, IN_STORE_HANDOVER]
    return {"fulfillment_config": {
        "provider_rates": rates,
        "routes": [{"destination_region": {"countries": ["US"], "zip_codes": ["*"]},
                    "fulfilled_by": fulfilled_by}],
        "service_levels": levels,
        "sl_levels_priority": priority,
        "provider_rates_priority": {"*": {"*": {
            sl: [f"{CARRIERS[sl]}_{sl}"] for sl in SERVICE_LEVELS} | {
            IN_STORE_HANDOVER: [IN_STORE_HANDOVER]}}},
    }}


def _service_level(name: str, delivery: str, price: float) -> Doc:
    return {"display_name": name, "delivery_time": delivery,
            "delivery_time_after_cutoff_hour": "", "price": price, "currency_code": "USD",
            "remorse_period": 0, "tax_code": ""}


def fulfillment_config(tx: Tx, tenant: str) -> Doc:
    """The tenant's fulfillment config document (the generated default until replaced)."""
    data = _load(tx, tenant, FULFILLMENT)
    if data is not None:
        return data
    return default_fulfillment_config(tx.query(tenant, E.LOCATION, ascending=True))


def get_fulfillment_config(store: Store, tenant: str) -> Doc:
    """The fulfillment config document."""
    with store.read() as tx:
        return fulfillment_config(tx, tenant)


def set_fulfillment_config(store: Store, tenant: str, body: Doc) -> Doc:
    """Replace the fulfillment config after checking service levels and provider rates."""
    check_fulfillment_config(body)
    with store.tx() as tx:
        _store(tx, tenant, FULFILLMENT, body)
    return body


def check_fulfillment_config(body: Doc) -> None:
    """NewStore's routing rules: every used service level in every route and the priority
    list; every provider rate a route names is defined."""
    cfg = body["fulfillment_config"]
    routes = cfg["routes"]
    rates = cfg.get("provider_rates") or {}
    priority = cfg.get("sl_levels_priority") or []
    used: list[str] = list(cfg.get("service_levels") or {})
    for route in routes:
        used += [sl for sl in route["fulfilled_by"] if sl not in used]
    for sl in used:
        for n, route in enumerate(routes):
            if sl not in route["fulfilled_by"]:
                raise ValidationFailed(
                    f"service level {sl!r} is used but missing from routes[{n}].fulfilled_by",
                    error_code="missing_service_level", field=f"routes[{n}].fulfilled_by",
                    extra={"service_level": sl})
        if sl not in priority:
            raise ValidationFailed(
                f"service level {sl!r} is used but missing from sl_levels_priority",
                error_code="missing_service_level", field="sl_levels_priority",
                extra={"service_level": sl})
    for n, route in enumerate(routes):
        for sl, nodes in route["fulfilled_by"].items():
            for node in nodes:
                if node["provider_rate"] not in rates:
                    raise ValidationFailed(
                        f"provider_rate {node['provider_rate']!r} in routes[{n}].fulfilled_by."
                        f"{sl} is not defined in provider_rates",
                        error_code="undefined_provider_rate",
                        field=f"routes[{n}].fulfilled_by.{sl}",
                        extra={"provider_rate": node["provider_rate"]})


# -- payment configuration --------------------------------------------------------------

def payment_options(tx: Tx, tenant: str) -> Doc:
    """Refund options in force (global list and per-store overrides)."""
    return copy.deepcopy(_load(tx, tenant, PAYMENT_OPTIONS) or DEFAULT_PAYMENT_OPTIONS)


def refund_options_for(tx: Tx, tenant: str, store_id: str | None) -> list[str]:
    """The refund options a store offers: its own mapping, else the global list."""
    opts = payment_options(tx, tenant)
    mapped = opts.get("store_mapping", {}).get(store_id or "")
    return list(mapped["refund_options"] if mapped else opts["refund_options"])


def get_payment_options(store: Store, tenant: str) -> Doc:
    """The payment options document."""
    with store.read() as tx:
        return payment_options(tx, tenant)


def set_payment_options(store: Store, tenant: str, body: Doc) -> Doc:
    """Replace the payment options; every refund option must be a known one."""
    _check_refund_options(body["refund_options"], "refund_options")
    mapping = body.get("store_mapping") or {}
    for store_id, entry in mapping.items():
        _check_refund_options(entry["refund_options"], f"store_mapping.{store_id}.refund_options")
    data = {"refund_options": list(body["refund_options"]), "store_mapping": mapping}
    with store.tx() as tx:
        _store(tx, tenant, PAYMENT_OPTIONS, data)
    return data


def _check_refund_options(options: list[str], field: str) -> None:
    for option in options:
        if option not in REFUND_OPTIONS:
            raise ValidationFailed(
                f"unknown refund option {option!r} in {field}; known: {', '.join(REFUND_OPTIONS)}",
                error_code="unknown_refund_option", field=field, extra={"refund_option": option})


def payment_account_config(tx: Tx, tenant: str) -> Doc:
    """Payment account settings in force, including use_charge_api."""
    return copy.deepcopy(_load(tx, tenant, PAYMENT_ACCOUNT) or DEFAULT_PAYMENT_ACCOUNT)


def use_charge_api(tx: Tx, tenant: str) -> bool:
    """Whether payments go through the charge API (needed for external OMS endless aisle)."""
    return bool(payment_account_config(tx, tenant).get("use_charge_api"))


def get_payment_account_config(store: Store, tenant: str) -> Doc:
    """The payment account configuration document."""
    with store.read() as tx:
        return payment_account_config(tx, tenant)


def set_payment_account_config(store: Store, tenant: str, body: Doc) -> Doc:
    """Replace the payment account configuration; missing keys take their defaults."""
    data = copy.deepcopy(DEFAULT_PAYMENT_ACCOUNT)
    data.update(copy.deepcopy(body))
    with store.tx() as tx:
        _store(tx, tenant, PAYMENT_ACCOUNT, data)
    return data


# -- Associate App ----------------------------------------------------------------------

def associate_app_config(tx: Tx, tenant: str) -> Doc:
    """The Associate App configuration in force."""
    return copy.deepcopy(_load(tx, tenant, ASSOCIATE_APP) or DEFAULT_ASSOCIATE_APP)


def get_associate_app_config(store: Store, tenant: str) -> Doc:
    """The Associate App configuration document."""
    with store.read() as tx:
        return associate_app_config(tx, tenant)


def replace_associate_app_config(store: Store, tenant: str, body: Doc) -> Doc:
    """Replace the whole document (the documented keys keep their defaults when absent)."""
    data = _deep_merge(copy.deepcopy(DEFAULT_ASSOCIATE_APP), body)
    with store.tx() as tx:
        _store(tx, tenant, ASSOCIATE_APP, data)
    return data


def update_associate_app_config(store: Store, tenant: str, changes: Doc) -> Doc:
    """Merge changes into the document, keeping every key not named."""
    with store.tx() as tx:
        data = _deep_merge(associate_app_config(tx, tenant), changes)
        _store(tx, tenant, ASSOCIATE_APP, data)
    return data


# -- helpers ----------------------------------------------------------------------------

def _deep_merge(base: Doc, changes: Doc) -> Doc:
    """Merge nested objects key by key; other values (lists too) are replaced."""
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _require_bool(value: Any, field: str) -> None:
    if not isinstance(value, bool):
        raise ValidationFailed(f"{field} must be a boolean", field=field)


def stamp(now: Any) -> str:
    """The platform clock's time as NewStore renders it."""
    return iso(now)
