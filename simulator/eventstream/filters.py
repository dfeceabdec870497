"""Which events an integration receives: its filter conditions and its time window."""

from __future__ import annotations

from typing import Any


def entity_type_of(name: str) -> str:
    """The domain entity an event is about: the part of its name before the first dot."""
    return name.split(".", 1)[0]


def _name_matches(patterns: list[str], name: str) -> bool:
    for pattern in patterns:
        if pattern == name or pattern == "*":
            return True
        if pattern.endswith(".*") and name.startswith(pattern[:-1]):
            return True
    return False


def matches(integration: dict[str, Any], name: str) -> bool:
    """Empty filters take everything; both given, an event must pass both."""
    conditions = integration.get("filter_conditions") or {}
    events = conditions.get("event_filter") or []
    entities = conditions.get("entity_filter") or []
    if events and not _name_matches(events, name):
        return False
    return not entities or entity_type_of(name) in entities


def in_window(integration: dict[str, Any], published_at: str) -> bool:
    """starts_at <= published_at (<= ends_at); ISO strings in UTC with Z compare as text."""
    starts = integration.get("starts_at")
    ends = integration.get("ends_at")
    if starts and published_at < starts:
        return False
    return not (ends and published_at > ends)
