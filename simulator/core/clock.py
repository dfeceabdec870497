"""The one source of time: real, scaled (n times faster) or manual (moved by hand)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class Clock:
    """Simulated UTC time; every timestamp, expiry and transition reads it."""

    def __init__(self, mode: str = "real", scale: float = 1.0, start: datetime | None = None):
        self._lock = threading.Lock()
        self._mode = "real"
        self._scale = 1.0
        self._anchor_real = time.time()
        self._anchor_sim = (start or datetime.now(UTC)).timestamp()
        self._listeners: list[Callable[[], None]] = []
        self.set_mode(mode, scale)

    def listen(self, callback: Callable[[], None]) -> None:
        """Call back after every jump or change of pace, so waiters can recompute deadlines."""
        self._listeners.append(callback)

    def _changed(self) -> None:
        for callback in list(self._listeners):
            callback()

    def sleep_seconds(self, simulated: float) -> float | None:
        """Real seconds until `simulated` seconds pass; None when only advance() moves time."""
        if self._mode == "manual":
            return None
        return max(0.0, simulated) / (self._scale if self._mode == "scaled" else 1.0)

    @property
    def mode(self) -> str:
        """real, scaled or manual."""
        return self._mode

    @property
    def scale(self) -> float:
        """How many simulated seconds pass per real second in scaled mode."""
        return self._scale

    def timestamp(self) -> float:
        """Seconds since the epoch, simulated."""
        with self._lock:
            return self._timestamp_locked()

    def _timestamp_locked(self) -> float:
        if self._mode == "manual":
            return self._anchor_sim
        elapsed = time.time() - self._anchor_real
        return self._anchor_sim + elapsed * (self._scale if self._mode == "scaled" else 1.0)

    def now(self) -> datetime:
        """The simulated time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.timestamp(), UTC)

    def set_mode(self, mode: str, scale: float = 1.0) -> None:
        """Switch mode without a jump in simulated time."""
        if mode not in {"real", "scaled", "manual"}:
            raise ValueError(f"clock mode must be real, scaled or manual, got {mode!r}")
        if scale <= 0:
            raise ValueError("clock scale must be positive")
        with self._lock:
            current = self._timestamp_locked()
            self._mode = mode
            self._scale = scale if mode == "scaled" else 1.0
            self._anchor_real = time.time()
            self._anchor_sim = current
        self._changed()

    def advance(self, seconds: float) -> datetime:
        """Move simulated time forward (any mode); never backwards."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._anchor_sim += seconds
            moved = datetime.fromtimestamp(self._timestamp_locked(), UTC)
        self._changed()
        return moved

    def advance_to(self, moment: datetime) -> datetime:
        """Move simulated time forward to a moment; a stopped clock lands on it exactly (a
        difference of floats could land a microsecond short and show the millisecond before)."""
        target = moment.timestamp()
        with self._lock:
            current = self._timestamp_locked()
            if target < current:
                raise ValueError("the clock only moves forward")
            if self._mode == "manual":
                self._anchor_sim = target
            else:
                self._anchor_sim += target - current
            moved = datetime.fromtimestamp(self._timestamp_locked(), UTC)
        self._changed()
        return moved


def iso(dt: datetime) -> str:
    """ISO 8601 UTC with milliseconds and a Z, as NewStore's events carry."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_iso(value: str) -> datetime:
    """Parse an ISO 8601 timestamp; a naive one is taken as UTC."""
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def days_ago(now: datetime, days: float) -> datetime:
    """A moment some days before now."""
    return now - timedelta(days=days)
