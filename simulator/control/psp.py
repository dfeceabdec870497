"""/_sim/psp: the payment provider's delays and failure rates, and its operations."""

from __future__ import annotations

from typing import Any

from simulator.control.common import tenant as control_tenant
from simulator.web import platform


def get_config(tenant: str | None = None) -> dict[str, Any]:
    """The effective settings of every payment method."""
    t = control_tenant(tenant)
    p = platform()
    with p.store.read() as tx:
        return p.psp.config(tx, t)


def put_config(body: dict[str, Any], tenant: str | None = None) -> dict[str, Any]:
    """Merge a partial per-method change; the configuration after it."""
    t = control_tenant(tenant)
    p = platform()
    with p.store.tx() as tx:
        return p.psp.update_config(tx, t, body)


def list_operations(tenant: str | None = None, status: str | None = None,
                    account_id: str | None = None, order_id: str | None = None,
                    limit: int = 100) -> dict[str, Any]:
    """Deferred and failed operations, newest first."""
    t = control_tenant(tenant)
    p = platform()
    with p.store.read() as tx:
        return {"operations": p.psp.operations(tx, t, status=status, account_id=account_id,
                                               order_id=order_id, limit=limit)}
