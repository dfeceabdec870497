"""The control plane's view of the one clock: read it, switch its mode, move it forward."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from simulator.core.clock import Clock, iso, parse_iso
from simulator.core.errors import ValidationFailed

MAX_ADVANCE = timedelta(days=3650)  # further jumps would push timestamps toward year 9999


def _bad(detail: str, field: str) -> ValidationFailed:
    """A 422 naming the field that is wrong."""
    return ValidationFailed(detail, field=field, status=422)


def describe(clock: Clock) -> dict[str, Any]:
    """Simulated now (ISO, ms, Z), mode and scale."""
    return {"now": iso(clock.now()), "mode": clock.mode, "scale": clock.scale}


def set_clock(clock: Clock, mode: str, scale: float | None = None) -> dict[str, Any]:
    """Switch mode; a scale is required for scaled and meaningless (refused) otherwise."""
    if mode not in {"real", "scaled", "manual"}:
        raise _bad(f"mode must be real, scaled or manual, got {mode!r}", "mode")
    if mode == "scaled":
        if scale is None:
            raise _bad("scaled mode needs a scale (simulated seconds per real second), "
                       "e.g. 60", "scale")
        if not (math.isfinite(scale) and scale > 0):
            raise _bad("scale must be a positive number", "scale")
    elif scale is not None:
        raise _bad(f"scale applies only to mode scaled, not {mode}", "scale")
    clock.set_mode(mode, scale if scale is not None else 1.0)
    return describe(clock)


def advance_clock(clock: Clock, seconds: float | None = None,
                  to: str | None = None) -> dict[str, Any]:
    """Move simulated time forward by `seconds` or to the moment `to`; never backwards."""
    if (seconds is None) == (to is None):
        raise _bad("give exactly one of seconds and to", "seconds")
    if seconds is not None:
        if seconds > MAX_ADVANCE.total_seconds():  # before float(): a huge int overflows it
            raise _bad("seconds may be at most 10 years (315360000)", "seconds")
        if not (math.isfinite(seconds) and seconds > 0):
            raise _bad("seconds must be a positive number; the clock only moves forward",
                       "seconds")
        clock.advance(seconds)
        return describe(clock)
    assert to is not None
    try:
        target = parse_iso(to)
    except (ValueError, OverflowError):
        raise _bad(f"to must be an ISO 8601 date-time, got {to!r}", "to") from None
    now = clock.now()
    if target <= now:
        raise _bad(f"to ({to}) is not after the simulated now ({iso(now)}); the clock only "
                   "moves forward", "to")
    if target - now > MAX_ADVANCE:
        raise _bad("to may be at most 10 years ahead", "to")
    clock.advance_to(target)
    return describe(clock)
