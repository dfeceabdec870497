"""The event payload contracts (openapi/events/*.json), loaded once, with validators."""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

EVENTS_DIR = Path(__file__).resolve().parent.parent.parent / "openapi" / "events"
ENVELOPE = "envelope"

_lock = threading.Lock()
_cache: dict[str, tuple[dict[str, Any], Draft202012Validator]] | None = None


def _load() -> dict[str, tuple[dict[str, Any], Draft202012Validator]]:
    global _cache
    with _lock:
        if _cache is None:
            loaded = {}
            for path in sorted(EVENTS_DIR.glob("*.json")):
                doc = json.loads(path.read_text())
                Draft202012Validator.check_schema(doc)
                loaded[path.name[:-len(".json")]] = (doc, Draft202012Validator(doc))
            _cache = loaded
        return _cache


def names() -> list[str]:
    """Every event name with a payload schema, sorted (the envelope is not an event)."""
    return sorted(name for name in _load() if name != ENVELOPE)


def _entry(name: str) -> tuple[dict[str, Any], Draft202012Validator]:
    entry = _load().get(name)
    if entry is None or name == ENVELOPE:
        raise ValueError(f"unknown event name {name!r}; known events: {', '.join(names())}")
    return entry


def schema(name: str) -> dict[str, Any]:
    """A copy of the payload schema of one event."""
    return copy.deepcopy(_entry(name)[0])


def _errors(validator: Draft202012Validator, instance: Any) -> list[str]:
    found = sorted(validator.iter_errors(instance), key=lambda e: (e.json_path, e.message))
    return [f"{e.json_path}: {e.message}" for e in found]


def validate(name: str, payload: Any) -> list[str]:
    """Violations of an event's payload schema as "<json path>: <message>"; empty when valid."""
    return _errors(_entry(name)[1], payload)


def validate_envelope(body: Any) -> list[str]:
    """Violations of the delivered envelope {tenant, name, published_at, payload}."""
    return _errors(_load()[ENVELOPE][1], body)
