"""Fulfillment request REST: read one, and the location's answers to it."""

from __future__ import annotations

from typing import Any

from simulator.platform import fulfillment as domain
from simulator.web import platform, tenant


def get_fulfillment_request(fulfillment_request_id: str) -> dict[str, Any]:
    """GET /v0/d/fulfillment_requests/{id}."""
    return domain.get_fulfillment_request(platform(), tenant(), fulfillment_request_id)


def acknowledge(fulfillment_request_id: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """POST .../acknowledgement: the body is {} and ignored."""
    return domain.acknowledge(platform(), tenant(), fulfillment_request_id)


def reject(fulfillment_request_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST .../rejection: reject every open item."""
    return domain.reject(platform(), tenant(), fulfillment_request_id, body["rejection_reason"],
                         body.get("missing_product_ids") or [])


def reject_items(fulfillment_request_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST .../reject_items: reject some units."""
    return domain.reject_items(platform(), tenant(), fulfillment_request_id,
                               body["missing_items"])


def cancel_items(fulfillment_request_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST .../canceled_items: cancel some units."""
    return domain.cancel_items(platform(), tenant(), fulfillment_request_id,
                               body["product_ids"], body.get("reason"))


def ship(fulfillment_request_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST .../shipment: units shipped with carrier and tracking code."""
    return domain.ship(platform(), tenant(), fulfillment_request_id, body["line_items"])
