"""Event Stream configuration API: /api/v1/org/integrations/eventstream."""

from __future__ import annotations

from typing import Any

from simulator.eventstream import integrations as I
from simulator.web import platform, tenant

Doc = dict[str, Any]


def list_integrations() -> Doc:
    """GET /api/v1/org/integrations/eventstream."""
    t = tenant()
    with platform().store.read() as tx:
        return {"integrations": I.list_integrations(tx, t)}


def register_integration(body: Doc) -> tuple[Doc, int]:
    """POST /api/v1/org/integrations/eventstream."""
    p, t = platform(), tenant()
    with p.store.tx() as tx:
        return I.register(tx, t, body, p.clock.now()), 201


def get_integration(id: str) -> Doc:
    """GET /api/v1/org/integrations/eventstream/{id}."""
    t = tenant()
    with platform().store.read() as tx:
        return I.get(tx, t, id)


def update_integration(id: str, body: Doc) -> Doc:
    """PATCH /api/v1/org/integrations/eventstream/{id}."""
    p, t = platform(), tenant()
    with p.store.tx() as tx:
        return I.patch(tx, t, id, body, p.clock.now())


def delete_integration(id: str) -> tuple[str, int]:
    """DELETE /api/v1/org/integrations/eventstream/{id}."""
    t = tenant()
    with platform().store.tx() as tx:
        I.delete(tx, t, id)
    return "", 204


def start_integration(id: str, body: Doc | None = None) -> Doc:
    """POST /api/v1/org/integrations/eventstream/{id}/_start (body `{}` or none)."""
    p, t = platform(), tenant()
    with p.store.tx() as tx:
        return I.start(tx, t, id, p.clock.now())


def stop_integration(id: str, body: Doc | None = None) -> Doc:
    """POST /api/v1/org/integrations/eventstream/{id}/_stop (body `{}` or none)."""
    p, t = platform(), tenant()
    with p.store.tx() as tx:
        return I.stop(tx, t, id, p.clock.now())
