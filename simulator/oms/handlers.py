"""The mock OMS under /oms: NewStore's webhooks (openapi/external-oms.yaml) answered from the
simulator's world; thin handlers over simulator/oms/mock.py and the platform's state."""

from __future__ import annotations

from typing import Any

from connexion.lifecycle import ConnexionRequest

from simulator import web
from simulator.core.errors import NotFound
from simulator.oms import mock
from simulator.platform import config, external_oms, orders, reroute
from simulator.platform import entities as E
from simulator.platform.catalog import stock_quantity
from simulator.platform.context import Platform

Doc = dict[str, Any]


def api_key_info(apikey: str, request: ConnexionRequest) -> dict[str, Any]:
    """Authorization must be the api_key of one of the tenant's configured OMS webhooks."""
    p: Platform = request.scope[web.SCOPE_KEY]
    tenant = p.require_tenant(request.query_params.get("tenant")
                              or request.scope[web.TENANT_KEY])
    with p.store.read() as tx:
        hooks = [config.availability_webhook(tx, tenant), external_oms.order_webhook(tx, tenant)]
    mock.check_key(apikey, [h["api_key"] for h in hooks if h])
    return {"sub": "oms", "tenant": tenant}


def _tenant(given: str | None) -> str:
    return web.platform().require_tenant(given) if given else web.tenant()


def availability(body: Doc, tenant: str | None = None) -> Doc:
    """POST /oms/availabilities: ATP = the platform's stock on hand."""
    p, t = web.platform(), _tenant(tenant)
    with p.store.read() as tx:
        known = {loc for loc in body["fulfillment_locations"]
                 if tx.get(t, E.LOCATION, loc) is not None}
        return mock.availabilities(body, lambda loc, pid: stock_quantity(tx, t, loc, pid), known)


def purchase_history(consumer_email: str | None = None, consumer_token: str | None = None,
                     tenant: str | None = None) -> Doc:
    """GET /oms/orders: the customer's orders in the world, at most 100, newest first."""
    email = mock.consumer_email(consumer_email, consumer_token)
    return {"orders": external_oms.local_history(web.platform(), _tenant(tenant), email)}


def order_details(id: str, tenant: str | None = None) -> Doc:
    """GET /oms/orders/{id}: the world's order with that order number."""
    try:
        return orders.sales_order(web.platform(), _tenant(tenant), id, "external")
    except NotFound:
        raise NotFound(f"the mock OMS knows no order {id!r}") from None


def event_stream_info(token: str) -> dict[str, Any]:
    """The mock OMS takes its Event Stream from any integration api_key."""
    return {"sub": "event-stream"}


def receive_event(body: Doc) -> Doc:
    """POST /oms/events: the Event Stream; cancelled store orders are re-routed."""
    p = web.platform()
    return reroute.handle_event(p, p.require_tenant(body["tenant"]), body)
