"""Payment account endpoint (the account id is the order id)."""

from __future__ import annotations

from typing import Any

from simulator.platform import payments
from simulator.web import platform, tenant


def get_account(id: str) -> dict[str, Any]:
    """GET /v0/c/payments/accounts/{id}: balance, transactions and instruments."""
    return payments.get_account(platform(), tenant(), id)
