"""Refunds REST: /v0/d/orders/{order_id}/refunds."""

from __future__ import annotations

from typing import Any

from simulator.platform import refunds as domain
from simulator.web import platform, tenant


def list_refunds(order_id: str) -> dict[str, Any]:
    """GET: the order's refunds (returns and appeasements), oldest first."""
    return {"refunds": domain.list_refunds(platform(), tenant(), order_id)}


def create_refund(order_id: str, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """POST: an appeasement refund; 201 with the refund."""
    return domain.create_appeasement(platform(), tenant(), order_id, body), 201
