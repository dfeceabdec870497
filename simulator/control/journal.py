"""/_sim/journal: every request the simulator received and sent, filterable, with bodies."""

from __future__ import annotations

from typing import Any

from simulator.control.common import tenant as control_tenant
from simulator.core import journal
from simulator.core.clock import parse_iso
from simulator.core.errors import ValidationFailed
from simulator.web import platform


def list_entries(tenant: str | None = None, direction: str | None = None,
                 system: str | None = None, method: str | None = None,
                 path_contains: str | None = None, status: int | None = None,
                 since: str | None = None, until: str | None = None, limit: int = 100,
                 offset: int = 0, with_bodies: bool = False) -> dict[str, Any]:
    """The tenant's entries matching the filters, newest first."""
    t = control_tenant(tenant)
    p = platform()
    p.journal.flush()  # what was received before this call is in the answer
    with p.store.read() as tx:
        entries = journal.query(tx, tenant=t, direction=direction, system=system,
                                method=method, path_contains=path_contains, status=status,
                                since=_moment("since", since), until=_moment("until", until),
                                limit=limit, offset=offset, with_bodies=with_bodies)
    return {"entries": entries}


def clear(tenant: str | None = None) -> dict[str, Any]:
    """Forget the tenant's journal."""
    t = control_tenant(tenant)
    p = platform()
    p.journal.flush()
    with p.store.tx() as tx:
        return {"deleted": journal.clear(tx, t)}


def _moment(name: str, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_iso(value).timestamp()
    except (ValueError, OverflowError):
        raise ValidationFailed(f"{name} must be an ISO 8601 date-time, got {value!r}",
                               field=name, status=422) from None
