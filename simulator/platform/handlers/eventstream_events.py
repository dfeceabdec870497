"""NewStore's event observability API: GET published events, POST a retry."""

from __future__ import annotations

from typing import Any

from simulator.platform import event_observability as obs
from simulator.web import platform, tenant


def list_events(limit: int = 100, event_name: str | None = None,
                integration_id: str | None = None, status: str | None = None,
                domain_entity_id: str | None = None, domain_entity_type: str | None = None,
                **query: Any) -> list[dict[str, Any]]:
    """Published events with their delivery state per integration."""
    return obs.published_events(platform(), tenant(), start=query.get("from"),
                                end=query.get("to"), event_name=event_name,
                                integration_id=integration_id, status=status,
                                entity_id=domain_entity_id, entity_type=domain_entity_type,
                                limit=limit)


def retry_event(event_id: str, body: dict[str, Any] | None = None) -> tuple[dict[str, Any], int]:
    """Queue the event's deliveries again."""
    n = obs.retry_event(platform(), tenant(), event_id, (body or {}).get("integration_id"))
    return {"retried": n}, 202
