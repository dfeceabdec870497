"""/_sim/eventstream: every delivery, attempt, dead letter and latency figure; redelivery."""

from __future__ import annotations

from typing import Any

from simulator.control.common import tenant as control_tenant
from simulator.core.errors import NotFound
from simulator.eventstream import deliveries
from simulator.web import platform


def list_deliveries(tenant: str | None = None, integration_id: str | None = None,
                    status: str | None = None, event_id: str | None = None,
                    event_name: str | None = None, limit: int = 100,
                    offset: int = 0) -> dict[str, Any]:
    """Deliveries joined with their events, newest event first."""
    t = control_tenant(tenant)
    with platform().store.read() as tx:
        found = deliveries.find(tx, t, integration_id=integration_id,
                                statuses=[status] if status else (), event_id=event_id,
                                event_name=event_name, limit=limit, offset=offset)
    return {"deliveries": found}


def list_attempts(tenant: str | None = None, event_id: str | None = None,
                  integration_id: str | None = None,
                  delivery_id: int | None = None) -> dict[str, Any]:
    """Attempt records, oldest first."""
    t = control_tenant(tenant)
    with platform().store.read() as tx:
        found = deliveries.attempts(tx, t, delivery_id=delivery_id, event_id=event_id,
                                    integration_id=integration_id)
    return {"attempts": found}


def list_dead_letters(tenant: str | None = None,
                      integration_id: str | None = None) -> dict[str, Any]:
    """Deliveries that exhausted their retry schedule."""
    t = control_tenant(tenant)
    with platform().store.read() as tx:
        found = deliveries.find(tx, t, integration_id=integration_id, statuses=["dead"],
                                limit=1000)
    return {"dead_letters": found}


def redeliver_dead_letters(body: dict[str, Any] | None = None,
                           tenant: str | None = None) -> dict[str, Any]:
    """Every dead letter (of one integration, or all) again from attempt one."""
    t = control_tenant(tenant)
    p = platform()
    with p.store.tx() as tx:
        n = deliveries.redeliver(tx, t, p.clock.timestamp(),
                                 integration_id=(body or {}).get("integration_id"))
    return {"redelivered": n}


def redeliver_one(delivery_id: int, tenant: str | None = None) -> dict[str, Any]:
    """One delivery again from attempt one, whatever its status."""
    t = control_tenant(tenant)
    p = platform()
    with p.store.tx() as tx:
        if not deliveries.find(tx, t, delivery_id=delivery_id, limit=1):
            raise NotFound(f"no delivery {delivery_id} in tenant {t!r}",
                           error_code="resource_not_found")
        n = deliveries.redeliver(tx, t, p.clock.timestamp(), delivery_id=delivery_id,
                                 dead_only=False)
    return {"redelivered": n}


def latency(tenant: str | None = None, integration_id: str | None = None) -> dict[str, Any]:
    """Publication to first attempt and to acknowledgement, per integration."""
    t = control_tenant(tenant)
    with platform().store.read() as tx:
        return {"integrations": deliveries.latency(tx, t, integration_id)}
