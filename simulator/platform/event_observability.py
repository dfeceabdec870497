"""NewStore's event observability API: published events, their delivery state, retries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from simulator.core.clock import iso
from simulator.core.errors import NotFound, ValidationFailed
from simulator.eventstream import deliveries
from simulator.platform.context import Platform

_SCAN = 1000  # rows read per step when a filter can only be applied after reading


def _instant(value: str | None, field: str) -> str | None:
    """A query time as the outbox stores it (UTC, milliseconds, Z), so text compares work."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed(f"{field} must be an ISO 8601 date-time, got {value!r}",
                               field=field) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return iso(parsed.astimezone(UTC))


def status_of(delivery: dict[str, Any]) -> str:
    """success: acknowledged; failure: dead-lettered or last attempt failed; else pending."""
    if delivery["status"] == "delivered":
        return "success"
    if delivery["status"] == "dead" or delivery["attempts"] > 0:
        return "failure"
    return "pending"


def _view(delivery: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": delivery["event_id"], "name": delivery["event_name"],
        "published_at": delivery["published_at"],
        "domain_entity_type": delivery["domain_entity_type"],
        "domain_entity_id": delivery["domain_entity_id"],
        "integration_id": delivery["integration_id"], "status": status_of(delivery),
        "attempts": delivery["attempts"], "last_status_code": delivery["last_status_code"],
        "last_error": delivery["last_error"],
        "first_attempt_at": delivery["first_attempt_at"],
        "acknowledged_at": delivery["acknowledged_at"],
    }


def published_events(p: Platform, tenant: str, *, start: str | None = None,
                     end: str | None = None, event_name: str | None = None,
                     integration_id: str | None = None, status: str | None = None,
                     entity_id: str | None = None, entity_type: str | None = None,
                     limit: int = 100) -> list[dict[str, Any]]:
    """One entry per (event, integration), newest event first, filtered as NewStore does."""
    if status not in (None, "success", "failure"):
        raise ValidationFailed("status must be success or failure", field="status")
    start, end = _instant(start, "from"), _instant(end, "to")
    statuses = {None: (), "success": ["delivered"],
                "failure": ["dead", "pending", "held"]}[status]
    found: list[dict[str, Any]] = []
    offset = 0
    with p.store.read() as tx:
        while len(found) < limit:
            rows = deliveries.find(tx, tenant, integration_id=integration_id,
                                   statuses=statuses, event_name=event_name,
                                   entity_type=entity_type, entity_id=entity_id,
                                   published_from=start, published_to=end, limit=_SCAN,
                                   offset=offset)
            for row in rows:
                view = _view(row)
                if status is None or view["status"] == status:
                    found.append(view)
            if len(rows) < _SCAN:
                break
            offset += _SCAN
    return found[:limit]


def retry_event(p: Platform, tenant: str, event_id: str,
                integration_id: str | None = None) -> int:
    """Queue an event's deliveries (all, or the one to an integration) from attempt one."""
    now_ts = p.clock.timestamp()
    with p.store.tx() as tx:
        if deliveries.event_row(tx, tenant, event_id) is None:
            raise NotFound(f"no event {event_id!r} in tenant {tenant!r}",
                           error_code="resource_not_found")
        rows = deliveries.find(tx, tenant, event_id=event_id, integration_id=integration_id,
                               limit=1000)
        if integration_id is not None and not rows:
            raise NotFound(f"event {event_id!r} was not published to integration "
                           f"{integration_id!r}", error_code="resource_not_found",
                           field="integration_id")
        return sum(deliveries.redeliver(tx, tenant, now_ts, delivery_id=row["delivery_id"],
                                        dead_only=False) for row in rows)
