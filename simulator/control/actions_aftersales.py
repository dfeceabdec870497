"""/_sim/actions/return, appease, exchange: what an associate does after a sale."""

from __future__ import annotations

from typing import Any

from simulator.control.common import tenant as control_tenant
from simulator.platform import aftersales
from simulator.web import platform


def return_items(body: dict[str, Any], tenant: str | None = None) -> tuple[dict[str, Any], int]:
    """A referenced or unreferenced in-store return; 201 with its ids and events."""
    t = control_tenant(body.get("tenant") or tenant)
    return aftersales.return_items(platform(), t, body), 201


def appease(body: dict[str, Any], tenant: str | None = None) -> tuple[dict[str, Any], int]:
    """An appeasement refund; 201 with the refund id and events."""
    t = control_tenant(body.get("tenant") or tenant)
    return aftersales.appease(platform(), t, body), 201


def exchange(body: dict[str, Any], tenant: str | None = None) -> tuple[dict[str, Any], int]:
    """A return and a new exchange order; 201 with both ids and the events."""
    t = control_tenant(body.get("tenant") or tenant)
    return aftersales.exchange(platform(), t, body), 201
