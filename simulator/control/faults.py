"""/_sim/faults: inject, read and remove faults per system and operation."""

from __future__ import annotations

from typing import Any

from simulator.control.common import tenant as control_tenant
from simulator.web import platform


def list_faults(tenant: str | None = None) -> dict[str, Any]:
    """The tenant's faults, oldest first."""
    return {"faults": platform().faults.list(control_tenant(tenant))}


def create_fault(body: dict[str, Any], tenant: str | None = None) -> tuple[dict[str, Any], int]:
    """Arm a fault and answer it with its id."""
    t = control_tenant(body.get("tenant") or tenant)
    return platform().faults.create(t, body), 201


def get_fault(fault_id: str, tenant: str | None = None) -> dict[str, Any]:
    """One fault with its fired count."""
    return platform().faults.get(control_tenant(tenant), fault_id)


def delete_fault(fault_id: str, tenant: str | None = None) -> tuple[None, int]:
    """Remove one fault."""
    platform().faults.delete(control_tenant(tenant), fault_id)
    return "", 204


def delete_faults(tenant: str | None = None) -> tuple[None, int]:
    """Remove every fault of the tenant."""
    platform().faults.clear(control_tenant(tenant))
    return "", 204
