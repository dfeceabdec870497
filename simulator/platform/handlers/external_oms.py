"""External OMS endpoints: the order webhook configuration and a customer's purchase history."""

from __future__ import annotations

from typing import Any

from simulator.platform import config as C
from simulator.platform import external_oms
from simulator.web import platform, tenant

Doc = dict[str, Any]


def get_order_webhook() -> Doc:
    """GET /v0/config/sales_order/order_webhook."""
    return external_oms.get_order_webhook(platform().store, tenant())


def set_order_webhook(body: Doc) -> Doc:
    """PUT /v0/config/sales_order/order_webhook."""
    return external_oms.set_order_webhook(platform().store, tenant(), body,
                                          C.stamp(platform().clock.now()))


def delete_order_webhook() -> tuple[str, int]:
    """DELETE /v0/config/sales_order/order_webhook."""
    external_oms.delete_order_webhook(platform().store, tenant())
    return "", 204


def purchase_history(consumer_email: str | None = None,
                     consumer_token: str | None = None) -> Doc:
    """GET /v0/c/customer_orders: at most the 100 newest orders, newest first."""
    return external_oms.purchase_history(platform(), tenant(), consumer_email, consumer_token)
