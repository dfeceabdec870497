"""/_sim/actions/pick, hand-over and cancel-items: what store associates and customer service
do in NewStore's apps, driven by a tester."""

from __future__ import annotations

from typing import Any

from simulator.control.common import tenant as control_tenant
from simulator.platform import store_fulfillment
from simulator.web import platform

Doc = dict[str, Any]


def pick(body: Doc, tenant: str | None = None) -> tuple[Doc, int]:
    """The associate picks a fulfillment request: ok, mispick or mispack."""
    t = control_tenant(body.get("tenant") or tenant)
    return store_fulfillment.pick(platform(), t, body["fulfillment_request_id"],
                                  body["outcome"], body.get("items")), 201


def hand_over(body: Doc, tenant: str | None = None) -> tuple[Doc, int]:
    """The picked items go to the carrier or, for BOPIS, to the customer."""
    t = control_tenant(body.get("tenant") or tenant)
    return store_fulfillment.hand_over(platform(), t, body["fulfillment_request_id"]), 201


def cancel_items(body: Doc, tenant: str | None = None) -> tuple[Doc, int]:
    """Open items of an order are cancelled with a reason."""
    t = control_tenant(body.get("tenant") or tenant)
    return store_fulfillment.cancel_items(platform(), t, body["order_id"], body["reason"],
                                          body.get("items")), 201
