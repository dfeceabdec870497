"""Returns REST: /v0/d/orders/{order_id}/returns[/{return_id}]."""

from __future__ import annotations

from typing import Any

from simulator.platform import returns as domain
from simulator.web import platform, tenant


def list_returns(order_id: str) -> dict[str, Any]:
    """GET: the order's returns, oldest first."""
    return {"returns": domain.list_returns(platform(), tenant(), order_id)}


def get_return(order_id: str, return_id: str) -> dict[str, Any]:
    """GET: one return of the order."""
    return domain.get_return(platform(), tenant(), order_id, return_id)


def create_return(order_id: str, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """POST: process a return of order items; 201 with the return."""
    return domain.create_return(platform(), tenant(), order_id, body), 201
