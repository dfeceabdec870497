"""/_sim/actions/place-order: an associate checks out a cart in the Associate App."""

from __future__ import annotations

from typing import Any

from simulator.control.common import tenant as control_tenant
from simulator.platform import checkout
from simulator.web import platform


def place_order(body: dict[str, Any], tenant: str | None = None) -> tuple[dict[str, Any], int]:
    """Run the checkout flow of the body's kind; the order and the events it published."""
    t = control_tenant(body.get("tenant") or tenant)
    return checkout.place_order(platform(), t, body), 201
