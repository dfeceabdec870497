"""Retry profiles: named schedules loaded from retry_profiles.yaml, or a custom one."""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

DEFAULT_PROFILE = "realistic"


@dataclass(frozen=True)
class RetryProfile:
    """Waits before each retry, and how much each may be jittered."""

    name: str
    delays: tuple[float, ...]
    jitter: float = 0.0

    @property
    def max_attempts(self) -> int:
        """The first attempt plus one per delay."""
        return len(self.delays) + 1

    def delay_after(self, attempt: int, rng: random.Random) -> float | None:
        """Seconds to wait after failed attempt number `attempt` (1-based); None: give up."""
        if attempt > len(self.delays):
            return None
        base = self.delays[attempt - 1]
        return max(0.0, base * (1 + rng.uniform(-self.jitter, self.jitter)))


@cache
def named() -> dict[str, RetryProfile]:
    """The built-in profiles, keyed by name."""
    raw = yaml.safe_load((Path(__file__).parent / "retry_profiles.yaml").read_text())
    return {name: RetryProfile(name, tuple(float(d) for d in spec["delays"]),
                               float(spec.get("jitter", 0)))
            for name, spec in raw.items()}


def resolve(spec: Any, default: str = DEFAULT_PROFILE) -> RetryProfile:
    """A profile from a name, a {delays, jitter} mapping, or None for the default."""
    if spec is None:
        spec = default
    if isinstance(spec, str):
        try:
            return named()[spec]
        except KeyError:
            raise ValueError(f"unknown retry profile {spec!r}; known: "
                             f"{', '.join(sorted(named()))}") from None
    delays = tuple(float(d) for d in spec.get("delays", ()))
    if any(d < 0 for d in delays):
        raise ValueError("retry delays must not be negative")
    return RetryProfile("custom", delays, float(spec.get("jitter", 0)))
