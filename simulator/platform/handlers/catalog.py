"""Availability import and the legacy stores API."""

from __future__ import annotations

from typing import Any

from simulator.core.clock import iso
from simulator.platform import catalog
from simulator.web import platform, tenant

Doc = dict[str, Any]


def import_availability(body: Doc) -> Doc:
    """POST /v0/d/import/availability (and the /availabilities alias)."""
    p = platform()
    return catalog.import_availability(p.store, tenant(), body, import_id=p.ids.uuid(),
                                       now=iso(p.clock.now()))


def list_stores() -> Doc:
    """GET /_/v0/dontuse/stores."""
    return {"stores": catalog.list_stores(platform().store, tenant())}


def get_store(store_id: str) -> Doc:
    """GET /_/v0/dontuse/stores/{store_id}."""
    return catalog.get_store(platform().store, tenant(), store_id)


import_availabilities = import_availability
