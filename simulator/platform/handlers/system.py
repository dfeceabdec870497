"""Health: the readiness probe, and the benchmarks' trivial baseline."""

from __future__ import annotations

from typing import Any

from simulator import __version__
from simulator.web import platform


def health() -> dict[str, Any]:
    """Ready once the store is open and the start-up tenants exist; touches no state."""
    return {"status": "ok", "version": __version__, "tenant": platform().settings.tenant}
