"""ERP lookup handlers: the static maps an ERP integration keeps, from the tenant's world."""

from __future__ import annotations

from typing import Any

from simulator.erp import records
from simulator.web import platform, tenant


def _lookup(name: str) -> dict[str, Any]:
    return {"lookup": name, "entries": records.lookup(platform().store, tenant(), name)}


def get_channels() -> dict[str, Any]:
    """NewStore channel type to ERP channel."""
    return _lookup("channels")


def get_locations() -> dict[str, Any]:
    """NewStore location to ERP location, subsidiary and walk-in customer."""
    return _lookup("locations")


def get_payment_items() -> dict[str, Any]:
    """NewStore payment method to the ERP's payment item."""
    return _lookup("payment_items")


def get_shipping_methods() -> dict[str, Any]:
    """NewStore service level to ERP ship method."""
    return _lookup("shipping_methods")
