"""Order endpoints: injection, the sales-order model, customer orders, external id lookup."""

from __future__ import annotations

from typing import Any

from simulator.platform import external_oms, injection, orders
from simulator.web import header, platform, tenant


def fulfill_order(body: dict[str, Any]) -> dict[str, Any]:
    """POST /v0/d/fulfill_order: inject an order (idempotent on external_id)."""
    return injection.inject_order(platform(), tenant(), body)


def get_order(id: str, id_type: str = "internal") -> dict[str, Any]:
    """GET /v0/orders/{id}: version 2 of the media type renders placed_at with a Z; an
    unknown external id is asked of the external OMS when its order webhook is configured."""
    return external_oms.sales_order(platform(), tenant(), id, id_type,
                                    accept=header("accept"))


def get_customer_order(id: str) -> dict[str, Any]:
    """GET /v0/c/customer_orders/{id}: the legacy consumer view of an order."""
    return orders.customer_order(platform(), tenant(), id)


def get_external_order(external_id: str) -> dict[str, Any]:
    """GET /v0/d/external_orders/{external_id}: resolve an order number."""
    return orders.external_order(platform(), tenant(), external_id)
