"""/_sim/reset and /_sim/seed: a tenant back to its generated world, or to a new one."""

from __future__ import annotations

from typing import Any

from simulator.control.common import tenant as control_tenant
from simulator.platform.tenants import reset_tenant, world_key, world_seed
from simulator.web import platform


def reset(body: dict[str, Any] | None = None, tenant: str | None = None) -> dict[str, Any]:
    """Regenerate the tenant's world from its current seed."""
    t = control_tenant((body or {}).get("tenant") or tenant)
    p = platform()
    with p.store.read() as tx:
        seed, key = world_seed(tx, t, p.settings.seed), world_key(tx, t)
    return _regenerate(t, seed, key or None)


def seed(body: dict[str, Any], tenant: str | None = None) -> dict[str, Any]:
    """Regenerate the tenant's world from a new seed, kept for later resets."""
    t = control_tenant(body.get("tenant") or tenant)
    return _regenerate(t, body["seed"], body.get("key"))


def _regenerate(t: str, seed_value: int, key: str | None = None) -> dict[str, Any]:
    p = platform()
    counts = reset_tenant(p.store, t, seed_value, p.settings.world, p.clock, key)
    return {"tenant": t, "seed": seed_value, "counts": counts}
