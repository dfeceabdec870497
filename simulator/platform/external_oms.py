"""Orders from an external OMS: the order webhook configuration, order details for orders the
platform does not know, and a customer's purchase history (at most the 100 newest orders,
newest first, cut by the platform). Guesses are in docs/behaviour.md ("External OMS")."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from simulator.core.errors import NotFound, SimError, ValidationFailed
from simulator.core.store import Store, Tx
from simulator.oms import client as oms
from simulator.oms.contract import newest_first
from simulator.platform import config, orders
from simulator.platform import entities as E
from simulator.platform.context import Platform

Doc = dict[str, Any]

ORDER_WEBHOOK = "order_webhook"
ORDER_TIMEOUT_DEFAULT = 10  # seconds, when the configuration gives none


class OmsFailed(SimError):
    """The external OMS failed or broke the contract: the platform answers 502."""

    status = 502
    title = "Bad Gateway"
    error_code = "external_oms_failed"


# -- configuration ---------------------------------------------------------------------------

def order_webhook(tx: Tx, tenant: str) -> Doc | None:
    """The configured order webhook (url, api_key, timeout), or None."""
    return config._load(tx, tenant, ORDER_WEBHOOK)


def get_order_webhook(store: Store, tenant: str) -> Doc:
    """The order webhook configuration, or 404 when none is configured."""
    with store.read() as tx:
        data = order_webhook(tx, tenant)
    if data is None:
        raise NotFound("no external OMS order webhook is configured")
    return data


def set_order_webhook(store: Store, tenant: str, body: Doc, now: str) -> Doc:
    """Create or replace the order webhook, with the availability webhook's rules."""
    url, api_key, timeout = config.webhook_rules(body, ORDER_TIMEOUT_DEFAULT)
    data = {"url": url.rstrip("/"), "api_key": api_key, "timeout": timeout,
            "updated_at": now}
    with store.tx() as tx:
        config._store(tx, tenant, ORDER_WEBHOOK, data)
    return data


def delete_order_webhook(store: Store, tenant: str) -> None:
    """Disable the order webhook; 404 when none is configured."""
    with store.tx() as tx:
        if not tx.delete(tenant, E.CONFIG, ORDER_WEBHOOK):
            raise NotFound("no external OMS order webhook is configured")


# -- the calls -------------------------------------------------------------------------------

def _failed(result: oms.Result, what: str) -> SimError:
    """The problem for an OMS call that cannot be used (404 stays a 404)."""
    if result.status == 404:
        return NotFound(f"{what} not found (the external OMS answered 404)")
    detail = f"{what}: {result.failure}"
    if any(".payment_history" in v for v in result.violations):
        detail += (" (an OMS with payment methods other than gift_card, credit_card or cash "
                   "omits payment_history, as NewStore documents)")
    return OmsFailed(detail, extra={"violations": result.violations,
                                    "oms_status": result.status})


def sales_order(p: Platform, tenant: str, id: str, id_type: str = "internal",
                accept: str | None = None, fetch: oms.Fetch | None = None) -> Doc:
    """GET /v0/orders/{id}: the platform's order, else (id_type=external, order webhook
    configured) the OMS's Request order details answer, as the OMS gave it."""
    try:
        return orders.sales_order(p, tenant, id, id_type, accept=accept)
    except NotFound:
        if id_type != "external":
            raise
        with p.store.read() as tx:
            hook = order_webhook(tx, tenant)
        if hook is None:
            raise
    result = oms.call(p, tenant, "order_details", "GET",
                      oms.join(hook["url"], f"/orders/{quote(id, safe='')}"), hook["api_key"],
                      float(hook["timeout"]), fetch=fetch, label="the order details webhook")
    if not result.ok:
        raise _failed(result, f"order {id!r}")
    return result.body


def local_history(p: Platform, tenant: str, email: str) -> list[Doc]:
    """The platform's own orders of a customer email as order models, newest 100 first."""
    with p.store.read() as tx:
        numbers = [o["external_id"] for o in tx.query(tenant, E.ORDER, email=email)]
    return newest_first([orders.sales_order(p, tenant, n, "external") for n in numbers])


def purchase_history(p: Platform, tenant: str, consumer_email: str | None,
                     consumer_token: str | None, fetch: oms.Fetch | None = None) -> Doc:
    """A customer's orders: the OMS's when the order webhook is configured, else the
    platform's own; at most the 100 newest, newest first."""
    if bool(consumer_email) == bool(consumer_token):
        raise ValidationFailed("give exactly one of consumer_email and consumer_token",
                               field="consumer_email")
    with p.store.read() as tx:
        hook = order_webhook(tx, tenant)
    if hook is None:
        if not consumer_email:
            raise ValidationFailed("consumer_token needs the external OMS order webhook "
                                   "(the OMS detokenizes)", field="consumer_token")
        return {"orders": local_history(p, tenant, consumer_email)}
    query = {"consumer_email": consumer_email} if consumer_email else \
        {"consumer_token": consumer_token}
    result = oms.call(p, tenant, "purchase_history", "GET",
                      oms.join(hook["url"], "/orders", query), hook["api_key"],
                      float(hook["timeout"]), fetch=fetch, label="the purchase history webhook")
    if not result.ok:
        raise _failed(result, "the purchase history")
    return {"orders": newest_first(result.body["orders"])}
