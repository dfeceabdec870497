"""Events on demand: what `POST /_sim/events` and `newstore-sim emit` publish."""

from __future__ import annotations

import copy
from typing import Any

from simulator.core.errors import ValidationFailed
from simulator.eventstream import outbox, schemas
from simulator.platform import events
from simulator.platform.context import Platform

MAX_COUNT = 10000


def emit_events(p: Platform, tenant: str, name: str, *, payload: dict[str, Any] | None = None,
                sets: dict[str, Any] | None = None, count: int = 1) -> list[outbox.Event]:
    """Publish `count` copies of one event through the outbox, in one transaction.

    A given payload goes out unchecked (teams send broken payloads on purpose); without one,
    a payload is generated from the tenant's world. `sets` overwrite dotted paths either way.
    """
    known = schemas.names()
    if name not in known:
        raise ValidationFailed(f"unknown event name {name!r}; known events: {', '.join(known)}",
                               error_code="unknown_event", field="name", status=422)
    if not 1 <= count <= MAX_COUNT:
        raise ValidationFailed(f"count must be between 1 and {MAX_COUNT}", field="count")
    body = copy.deepcopy(payload) if payload is not None else events.sample_payload(p, tenant, name)
    for path, value in (sets or {}).items():
        events.set_path(body, path, value)
    ids = [p.ids.uuid() for _ in range(count)]
    with p.store.tx() as tx:
        return outbox.publish_many(tx, tenant, [(name, body)] * count, event_ids=ids,
                                   published_at=p.clock.now())
