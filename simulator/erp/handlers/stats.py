"""ERP counters: what was created and which duplicates were turned away."""

from __future__ import annotations

from typing import Any

from simulator.erp import records
from simulator.web import platform, tenant


def get_stats() -> dict[str, Any]:
    """Per record type: created and duplicates_rejected."""
    return records.stats(platform().store, tenant())
