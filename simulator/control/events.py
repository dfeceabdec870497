"""POST /_sim/events: publish any event on demand."""

from __future__ import annotations

from typing import Any

from simulator.control.common import tenant as control_tenant
from simulator.platform.event_control import emit_events
from simulator.web import platform


def emit(body: dict[str, Any], tenant: str | None = None) -> tuple[dict[str, Any], int]:
    """Publish the event(s) and answer their ids and publication time."""
    t = control_tenant(body.get("tenant") or tenant)
    published = emit_events(platform(), t, body["name"], payload=body.get("payload"),
                            sets=body.get("set"), count=body.get("count", 1))
    return {"count": len(published),
            "events": [{"id": e.id, "name": e.name, "published_at": e.published_at}
                       for e in published]}, 201
