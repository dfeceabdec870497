"""/_sim/clock: read the simulated time, switch real/scaled/manual, advance it."""

from __future__ import annotations

from typing import Any

from simulator.platform import timekeeping
from simulator.web import platform


def get_clock() -> dict[str, Any]:
    """The simulated now, mode and scale."""
    return timekeeping.describe(platform().clock)


def set_clock(body: dict[str, Any]) -> dict[str, Any]:
    """Switch the mode (no jump in simulated time)."""
    return timekeeping.set_clock(platform().clock, body["mode"], body.get("scale"))


def advance(body: dict[str, Any]) -> dict[str, Any]:
    """Move time forward; whatever waits on the clock is woken."""
    return timekeeping.advance_clock(platform().clock, body.get("seconds"), body.get("to"))
